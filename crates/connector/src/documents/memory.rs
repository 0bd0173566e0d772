//! `in-memory`: documents held in this process, gone when it exits. For tests and single
//! runs; it holds each document's bytes once (reads share them without copying).

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::documents::store::{
    check_document_id, check_expiry, check_hash, check_reference, hex, id_in_use, parse_expiry, DocumentReader,
    DocumentStore, VerifyingReader,
};
use crate::documents::{CamundaReference, DocumentMetadata};
use crate::error::{Error, ErrorCode, Result};

struct Stored {
    content: Bytes,
    metadata: DocumentMetadata,
    sha256: String,
}

/// The in-memory document store.
pub struct MemoryStore {
    id: String,
    documents: Mutex<HashMap<String, Stored>>,
}

impl MemoryStore {
    /// An empty store with the id `in-memory`.
    pub fn new() -> Self {
        Self::with_id("in-memory")
    }

    /// How many documents it holds.
    pub fn len(&self) -> usize {
        self.documents.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Whether it holds no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty store with another store id.
    pub fn with_id(id: impl Into<String>) -> Self {
        MemoryStore {
            id: id.into(),
            documents: Mutex::new(HashMap::new()),
        }
    }

    fn poisoned() -> Error {
        Error::new(
            ErrorCode::ServiceError,
            "the in-memory document store is unusable after a panic",
        )
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl DocumentStore for MemoryStore {
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
        let mut bytes = Vec::new();
        content
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot read the document content: {e}")))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        metadata.size = Some(bytes.len() as u64);
        let document_id = document_id.to_string();
        let stored = Stored {
            content: Bytes::from(bytes),
            metadata: metadata.clone(),
            sha256: sha256.clone(),
        };
        {
            let mut docs = self.documents.lock().map_err(|_| Self::poisoned())?;
            if docs.contains_key(&document_id) {
                return Err(id_in_use(&document_id));
            }
            docs.insert(document_id.clone(), stored);
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
        let (content, metadata, sha256) = {
            let docs = self.documents.lock().map_err(|_| Self::poisoned())?;
            let stored = docs.get(&reference.document_id).ok_or_else(|| {
                Error::new(
                    ErrorCode::NoSuchKey,
                    format!("document {} does not exist", reference.document_id),
                )
            })?;
            (stored.content.clone(), stored.metadata.clone(), stored.sha256.clone())
        };
        check_expiry(&reference.document_id, &metadata)?;
        check_hash(reference, &sha256)?;
        let reader = VerifyingReader::new(std::io::Cursor::new(content), sha256, reference.document_id.clone());
        Ok((metadata, Box::new(reader)))
    }

    async fn delete(&self, document_id: &str) -> Result<()> {
        check_document_id(document_id)?;
        self.documents.lock().map_err(|_| Self::poisoned())?.remove(document_id);
        Ok(())
    }
}
