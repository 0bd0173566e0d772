//! The document store trait, and the checks every store shares.
//!
//! A store keeps document content with its metadata and hands out [`CamundaReference`]s. Every
//! store records content type, size, file name, expiry and custom properties; hashes content
//! with SHA-256 (lowercase hex); refuses a read whose reference carries another hash; treats
//! an expired document as gone; and streams content in both directions.

use std::pin::Pin;
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use crate::documents::{CamundaReference, DocumentMetadata};
use crate::error::{Error, ErrorCode, Result};

/// A stream of document content.
pub type DocumentReader = Box<dyn AsyncRead + Send + Unpin>;

/// A place that stores documents: in memory, a local directory, an S3 bucket, a Camunda cluster.
#[async_trait::async_trait]
pub trait DocumentStore: Send + Sync {
    /// The store's id, written into every reference it creates (`storeId`).
    fn store_id(&self) -> &str;

    /// Stores `content` with `metadata` (its `size` is ignored and measured instead).
    ///
    /// # Behavior
    /// Returns a reference with a fresh document id, the SHA-256 of the content and the
    /// metadata including the measured size. Content is streamed; a failed create leaves no
    /// document behind. A malformed `expiresAt` is `InvalidInput`.
    async fn create(&self, content: DocumentReader, metadata: DocumentMetadata) -> Result<CamundaReference> {
        self.create_with_id(&new_document_id(), content, metadata).await
    }

    /// Stores `content` under an id the caller chose, as Camunda's
    /// `POST /v2/documents?documentId=` does.
    ///
    /// # Behavior
    /// As [`create`](Self::create), with `document_id` as the id. It must be a canonical UUID
    /// (`InvalidInput` otherwise); an id already in use is `PreconditionFailed`, and the
    /// document already there is left as it was.
    async fn create_with_id(
        &self,
        document_id: &str,
        content: DocumentReader,
        metadata: DocumentMetadata,
    ) -> Result<CamundaReference>;

    /// Opens a document for reading.
    ///
    /// # Behavior
    /// A reference for another store, or a malformed id, is `InvalidInput`; a missing or expired
    /// document is `NoSuchKey`; a reference whose `contentHash` differs from the stored one is
    /// `PreconditionFailed`. The returned reader re-hashes the content as it streams and fails
    /// at the end if the bytes no longer match (corruption at rest).
    async fn open(&self, reference: &CamundaReference) -> Result<(DocumentMetadata, DocumentReader)>;

    /// Deletes a document. Deleting a missing document succeeds.
    async fn delete(&self, document_id: &str) -> Result<()>;
}

/// Checks that a reference is for `store_id`.
pub fn check_store(reference: &CamundaReference, store_id: &str) -> Result<()> {
    if reference.store_id != store_id {
        return Err(Error::invalid_input(
            "storeId",
            format!(
                "the document is in store {:?}, but this is store {store_id:?}; configure that store",
                reference.store_id
            ),
        ));
    }
    Ok(())
}

/// What a store keeps beside each document's content: its SHA-256 and metadata.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    pub sha256: String,
    pub metadata: DocumentMetadata,
}

/// The checks every store that makes its own ids runs before opening: the reference is for
/// this store, and its id is one the store could have made.
pub fn check_reference(reference: &CamundaReference, store_id: &str) -> Result<()> {
    check_store(reference, store_id)?;
    check_document_id(&reference.document_id)
}

/// A new document id: a random UUID.
pub fn new_document_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Checks a document id is one a store could have made: a canonical lowercase UUID. This is
/// what keeps ids from naming paths outside a local store's directory.
pub fn check_document_id(id: &str) -> Result<()> {
    match uuid::Uuid::parse_str(id) {
        Ok(u) if u.hyphenated().to_string() == id => Ok(()),
        _ => Err(Error::invalid_input(
            "documentId",
            format!("{id:?} is not a document id (a UUID such as 41d2a87f-f39c-4ddd-a116-18d2091cc695)"),
        )),
    }
}

/// `PreconditionFailed` when the reference names a hash other than the recorded one.
pub fn check_hash(reference: &CamundaReference, recorded: &str) -> Result<()> {
    match &reference.content_hash {
        Some(h) if !h.eq_ignore_ascii_case(recorded) => Err(Error::new(
            ErrorCode::PreconditionFailed,
            format!(
                "document {}: the reference's contentHash {h} does not match the stored content ({recorded}); the reference is stale or altered",
                reference.document_id
            ),
        )),
        _ => Ok(()),
    }
}

/// Parses `expiresAt`, refusing what is not ISO-8601 / RFC 3339.
pub fn parse_expiry(expires_at: Option<&str>) -> Result<Option<time::OffsetDateTime>> {
    expires_at
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|e| {
                Error::invalid_input(
                    "expiresAt",
                    format!("{s:?} is not an ISO-8601 timestamp like 2026-12-31T23:59:59Z: {e}"),
                )
            })
        })
        .transpose()
}

/// `NoSuchKey` once the document's `expiresAt` has passed.
pub fn check_expiry(document_id: &str, metadata: &DocumentMetadata) -> Result<()> {
    if let Some(at) = parse_expiry(metadata.expires_at.as_deref())? {
        if at <= time::OffsetDateTime::now_utc() {
            return Err(Error::new(
                ErrorCode::NoSuchKey,
                format!(
                    "document {document_id} expired at {}",
                    metadata.expires_at.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

/// The error for a chosen document id that is already in use.
pub fn id_in_use(document_id: &str) -> Error {
    Error::new(
        ErrorCode::PreconditionFailed,
        format!("document {document_id} already exists; choose another id or leave it out"),
    )
}

/// Lowercase hex of a SHA-256 digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Wraps a reader, hashing what passes; at the end, fails with `InvalidData` unless the
/// SHA-256 equals `expected`.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    expected: String,
    document_id: String,
}

impl<R> VerifyingReader<R> {
    /// Verifies `inner` against `expected` (lowercase hex SHA-256).
    pub fn new(inner: R, expected: String, document_id: String) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Sha256::new()),
            expected,
            document_id,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for VerifyingReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let me = &mut *self;
        match Pin::new(&mut me.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    if let Some(h) = me.hasher.as_mut() {
                        h.update(new);
                    }
                } else if let Some(h) = me.hasher.take() {
                    // End of stream: the whole content has been seen.
                    let got = hex(&h.finalize());
                    if got != me.expected {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "document {}: content hash {got} does not match the recorded {}; the stored content is corrupt",
                                me.document_id, me.expected
                            ),
                        )));
                    }
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn ids_must_be_canonical_uuids() {
        assert!(check_document_id(&new_document_id()).is_ok());
        for bad in [
            "../etc/passwd",
            "",
            "x",
            "41D2A87F-F39C-4DDD-A116-18D2091CC695",
            "{41d2a87f-f39c-4ddd-a116-18d2091cc695}",
            "41d2a87ff39c4ddda11618d2091cc695",
        ] {
            assert_eq!(
                check_document_id(bad).map_err(|e| e.code),
                Err(ErrorCode::InvalidInput),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn verifying_reader_fails_at_the_end_on_a_mismatch() {
        let good = hex(&Sha256::digest(b"hello"));
        let mut out = Vec::new();
        let mut r = VerifyingReader::new(&b"hello"[..], good.clone(), "d".into());
        assert!(r.read_to_end(&mut out).await.is_ok());
        assert_eq!(out, b"hello");
        let mut r = VerifyingReader::new(&b"hellO"[..], good, "d".into());
        let err = r.read_to_end(&mut Vec::new()).await.expect_err("mismatch");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn expiry() {
        let past = DocumentMetadata {
            expires_at: Some("2020-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(check_expiry("d", &past).map_err(|e| e.code), Err(ErrorCode::NoSuchKey));
        let future = DocumentMetadata {
            expires_at: Some("2999-01-01T00:00:00+01:00".into()),
            ..Default::default()
        };
        assert!(check_expiry("d", &future).is_ok());
        assert_eq!(
            parse_expiry(Some("tomorrow")).map_err(|e| e.code),
            Err(ErrorCode::InvalidInput)
        );
    }
}
