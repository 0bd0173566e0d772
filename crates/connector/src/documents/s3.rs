//! `s3`: documents as objects in a bucket, under a prefix, through this crate's own S3 core.
//!
//! Like the local store, each document is two objects named by its id: `PREFIX/ID` holds the
//! content, `PREFIX/ID.json` the metadata and SHA-256. The content is uploaded first (one PUT,
//! or a multipart upload that is aborted on failure), the record second, so a document is
//! visible only once whole. Several services can share one bucket: nothing is kept in memory
//! between calls.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::client::Connector;
use crate::documents::external::stream_reader;
use crate::documents::store::{
    check_document_id, check_expiry, check_hash, check_reference, hex, id_in_use, parse_expiry, DocumentReader,
    DocumentStore, Record, VerifyingReader,
};
use crate::documents::{CamundaReference, DocumentMetadata};
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::transfer::{open_object, upload, NoProgress, ObjectRef, UploadSource, UploadTarget};
use crate::validate;

/// Records larger than this are not ours: refuse rather than read them into memory.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The S3 document store.
pub struct S3Store {
    id: String,
    conn: Connector,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// A store in `bucket` under `prefix` (e.g. `documents/`), with the id `s3`.
    pub fn new(conn: Connector, bucket: impl Into<String>, prefix: impl Into<String>) -> Result<Self> {
        Self::with_id("s3", conn, bucket, prefix)
    }

    /// The same, with another store id.
    pub fn with_id(
        id: impl Into<String>,
        conn: Connector,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Result<Self> {
        let (bucket, prefix) = (bucket.into(), prefix.into());
        validate::bucket("documents.bucket", &bucket)?;
        validate::prefix("documents.prefix", &prefix)?;
        Ok(S3Store {
            id: id.into(),
            conn,
            bucket,
            prefix,
        })
    }

    fn content_key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    fn record_key(&self, id: &str) -> String {
        format!("{}{id}.json", self.prefix)
    }

    async fn delete_key(&self, key: &str) -> Result<()> {
        self.conn
            .client()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &format!("DeleteObject s3://{}/{key}", self.bucket), Missing::Bucket))?;
        Ok(())
    }
}

/// Hashes what passes through, for the upload path; the digest is read after the upload.
struct HashingReader {
    inner: DocumentReader,
    hasher: Arc<Mutex<Sha256>>,
}

impl AsyncRead for HashingReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let me = &mut *self;
        let res = Pin::new(&mut me.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            if let Ok(mut h) = me.hasher.lock() {
                h.update(&buf.filled()[before..]);
            }
        }
        res
    }
}

#[async_trait::async_trait]
impl DocumentStore for S3Store {
    fn store_id(&self) -> &str {
        &self.id
    }

    async fn create_with_id(
        &self,
        document_id: &str,
        content: DocumentReader,
        mut metadata: DocumentMetadata,
    ) -> Result<CamundaReference> {
        parse_expiry(metadata.expires_at.as_deref())?;
        check_document_id(document_id)?;
        let document_id = document_id.to_string();
        // A check, not a guard: two creates racing for one chosen id can both pass it (S3's
        // conditional writes are not offered by every store). Generated ids never collide.
        let exists = self
            .conn
            .client()
            .head_object()
            .bucket(&self.bucket)
            .key(self.record_key(&document_id))
            .send()
            .await;
        if exists.is_ok() {
            return Err(id_in_use(&document_id));
        }
        let content_key = self.content_key(&document_id);
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let reader = HashingReader {
            inner: content,
            hasher: hasher.clone(),
        };
        let content_type = metadata
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let target = UploadTarget {
            bucket: &self.bucket,
            key: &content_key,
            content_type: &content_type,
            metadata: &BTreeMap::new(),
            tags: &BTreeMap::new(),
            headers: &Default::default(),
            storage_class: None,
            encryption: None,
            customer_key: None,
        };
        let uploaded = upload(&self.conn, &target, UploadSource::Reader(Box::new(reader)), &NoProgress).await?;
        let sha256 = {
            let h = hasher
                .lock()
                .map_err(|_| Error::new(ErrorCode::ServiceError, "document hashing failed"))?
                .clone();
            hex(&h.finalize())
        };
        metadata.size = Some(uploaded.size);
        let record = Record {
            sha256: sha256.clone(),
            metadata: metadata.clone(),
        };
        let json = serde_json::to_vec(&record)
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot encode document metadata: {e}")))?;
        let record_key = self.record_key(&document_id);
        let record_target = UploadTarget {
            bucket: &self.bucket,
            key: &record_key,
            content_type: "application/json",
            metadata: &BTreeMap::new(),
            tags: &BTreeMap::new(),
            headers: &Default::default(),
            storage_class: None,
            encryption: None,
            customer_key: None,
        };
        if let Err(e) = upload(
            &self.conn,
            &record_target,
            UploadSource::Bytes(json.into()),
            &NoProgress,
        )
        .await
        {
            // Without its record the content is invisible; remove it rather than leave litter.
            let _ = self.delete_key(&content_key).await;
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
        let record_key = self.record_key(id);
        let record = open_object(&self.conn, &ObjectRef::new(&self.bucket, &record_key), None)
            .await
            .map_err(|e| {
                if e.code == ErrorCode::NoSuchKey {
                    Error::new(ErrorCode::NoSuchKey, format!("document {id} does not exist"))
                } else {
                    e
                }
            })?;
        let mut text = Vec::new();
        stream_reader(record.body)
            .take(MAX_RECORD_BYTES as u64 + 1)
            .read_to_end(&mut text)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorCode::Network,
                    format!("document {id}: cannot read its record: {e}"),
                )
            })?;
        if text.len() > MAX_RECORD_BYTES {
            return Err(Error::new(
                ErrorCode::ServiceError,
                format!("document {id}: its record is not one of ours"),
            ));
        }
        let record: Record = serde_json::from_slice(&text).map_err(|e| {
            Error::new(
                ErrorCode::ServiceError,
                format!("document {id}: its record is damaged: {e}"),
            )
        })?;
        check_expiry(id, &record.metadata)?;
        check_hash(reference, &record.sha256)?;
        // The content resumes where a connection breaks, pinned to its ETag, and is hashed as it
        // streams.
        let content = open_object(&self.conn, &ObjectRef::new(&self.bucket, self.content_key(id)), None).await?;
        let reader = VerifyingReader::new(stream_reader(content.body), record.sha256, id.clone());
        Ok((record.metadata, Box::new(reader)))
    }

    async fn delete(&self, document_id: &str) -> Result<()> {
        check_document_id(document_id)?;
        // The record goes first: without it the document is already invisible.
        self.delete_key(&self.record_key(document_id)).await?;
        self.delete_key(&self.content_key(document_id)).await
    }
}
