//! `local`: documents as files in a directory.
//!
//! Each document is two files named by its id (a UUID): `ID` holds the content, `ID.json` the
//! metadata and SHA-256. Both are written to a temporary file and renamed into place, content
//! first, so a document is visible only once it is whole; a failed create leaves nothing.
//! Ids are validated as canonical UUIDs before they touch a path, so no reference can reach
//! outside the directory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::documents::store::{
    check_document_id, check_expiry, check_hash, check_reference, hex, id_in_use, parse_expiry, DocumentReader,
    DocumentStore, Record, VerifyingReader,
};
use crate::documents::{CamundaReference, DocumentMetadata};
use crate::error::{Error, ErrorCode, Result};

/// The local directory document store.
pub struct LocalStore {
    id: String,
    dir: PathBuf,
}

impl LocalStore {
    /// A store in `dir` (created if missing) with the id `local`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        Self::with_id("local", dir)
    }

    /// A store in `dir` with another id.
    pub fn with_id(id: impl Into<String>, dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::local_io("create the document directory", &dir, &e))?;
        Ok(LocalStore { id: id.into(), dir })
    }

    /// The directory documents are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn content_path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn temp(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&self.dir)
            .map_err(|e| Error::local_io("create a temporary file in", &self.dir, &e))
    }
}

#[async_trait::async_trait]
impl DocumentStore for LocalStore {
    fn store_id(&self) -> &str {
        &self.id
    }

    async fn create_with_id(
        &self,
        document_id: &str,
        mut content: DocumentReader,
        mut metadata: DocumentMetadata,
    ) -> Result<CamundaReference> {
        parse_expiry(metadata.expires_at.as_deref())?;
        check_document_id(document_id)?;
        let document_id = document_id.to_string();
        if self.content_path(&document_id).exists() || self.record_path(&document_id).exists() {
            return Err(id_in_use(&document_id));
        }
        let temp = self.temp()?;
        let temp_path = temp.path().to_path_buf();
        let mut file = tokio::fs::File::from_std(temp.reopen().map_err(|e| Error::local_io("open", &temp_path, &e))?);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = content
                .read(&mut buf)
                .await
                .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot read the document content: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .await
                .map_err(|e| Error::local_io("write", &temp_path, &e))?;
            size += n as u64;
        }
        file.flush()
            .await
            .map_err(|e| Error::local_io("write", &temp_path, &e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::local_io("sync", &temp_path, &e))?;
        drop(file);
        // No clobbering: two creates racing for one chosen id must not replace each other.
        temp.persist_noclobber(self.content_path(&document_id))
            .map_err(|e| match e.error.kind() {
                std::io::ErrorKind::AlreadyExists => id_in_use(&document_id),
                _ => Error::local_io("store", &self.content_path(&document_id), &e.error),
            })?;

        let sha256 = hex(&hasher.finalize());
        metadata.size = Some(size);
        let record = Record {
            sha256: sha256.clone(),
            metadata: metadata.clone(),
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot encode document metadata: {e}")))?;
        let meta_temp = self.temp()?;
        let written = std::fs::write(meta_temp.path(), json)
            .map_err(|e| Error::local_io("write", meta_temp.path(), &e))
            .and_then(|()| {
                meta_temp
                    .persist(self.record_path(&document_id))
                    .map(|_| ())
                    .map_err(|e| Error::local_io("store", &self.record_path(&document_id), &e.error))
            });
        if let Err(e) = written {
            // Without its record the content is invisible; remove it rather than leave litter.
            let _ = std::fs::remove_file(self.content_path(&document_id));
            return Err(e);
        }
        Ok(CamundaReference {
            store_id: self.id.clone(),
            document_id,
            content_hash: Some(sha256),
            metadata,
        })
    }

    async fn open(&self, reference: &CamundaReference) -> Result<(DocumentMetadata, DocumentReader)> {
        check_reference(reference, &self.id)?;
        let id = &reference.document_id;
        let record_path = self.record_path(id);
        let text = match tokio::fs::read(&record_path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorCode::NoSuchKey,
                    format!("document {id} does not exist"),
                ))
            }
            Err(e) => return Err(Error::local_io("read", &record_path, &e)),
        };
        let record: Record = serde_json::from_slice(&text).map_err(|e| {
            Error::new(
                ErrorCode::ServiceError,
                format!("document {id}: its metadata file is damaged: {e}"),
            )
        })?;
        check_expiry(id, &record.metadata)?;
        check_hash(reference, &record.sha256)?;
        let path = self.content_path(id);
        let file = tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::new(ErrorCode::NoSuchKey, format!("document {id} does not exist")),
            _ => Error::local_io("open", &path, &e),
        })?;
        let reader = VerifyingReader::new(
            tokio::io::BufReader::with_capacity(256 * 1024, file),
            record.sha256,
            id.clone(),
        );
        Ok((record.metadata, Box::new(reader)))
    }

    async fn delete(&self, document_id: &str) -> Result<()> {
        check_document_id(document_id)?;
        // The record goes first: without it the document is already invisible.
        for path in [self.record_path(document_id), self.content_path(document_id)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::local_io("delete", &path, &e)),
            }
        }
        Ok(())
    }
}
