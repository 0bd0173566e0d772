//! `putObject`: upload a file, a stream or inline text (Mendix "Put Object").

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::actions::{content_type_for, unquote, Streams};
use crate::error::{Error, Result};
use crate::transfer::{upload, UploadSource, UploadTarget};
use crate::{validate, Connector};

/// Request. Give at most one of `file` and `content`; with neither, the caller's input stream
/// is uploaded.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// A local file to upload.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub file: Option<PathBuf>,
    /// Inline text content (UTF-8), for small objects.
    #[serde(default)]
    pub content: Option<String>,
    /// Content type; default guessed from the key, else `application/octet-stream`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutObjectResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Bytes stored.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: Option<String>,
    /// The content type stored.
    pub content_type: String,
    /// Parts used; 0 for a single PUT.
    pub parts: u32,
}

impl PutObjectRequest {
    /// Checks bucket, key, metadata and the choice of source.
    pub fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)?;
        validate::metadata("metadata", &self.metadata)?;
        if self.file.is_some() && self.content.is_some() {
            return Err(Error::invalid_input("content", "give either file or content, not both"));
        }
        if let Some(f) = &self.file {
            if !f.is_file() {
                return Err(Error::invalid_input(
                    "file",
                    format!("{} does not exist or is not a regular file", f.display()),
                ));
            }
        }
        Ok(())
    }

    /// # Behavior
    /// Creates or overwrites the object. Up to the multipart threshold it is one PUT, which S3
    /// applies atomically. Above it, a multipart upload with bounded concurrency; on any
    /// failure the upload is aborted, so no half-written object and no orphaned parts remain,
    /// and an existing object under the key is left as it was.
    pub async fn execute(self, conn: &Connector, streams: Streams) -> Result<PutObjectResult> {
        self.validate()?;
        let content_type = content_type_for(self.content_type.as_deref(), &self.key);
        let source = match (self.file.clone(), self.content.clone(), streams.input) {
            (Some(path), _, _) => UploadSource::File(path),
            (None, Some(text), _) => UploadSource::Bytes(text.into_bytes().into()),
            (None, None, Some(reader)) => UploadSource::Reader(reader),
            (None, None, None) => {
                return Err(Error::invalid_input(
                    "file",
                    "is required here: give a file to upload, or inline text as content",
                ))
            }
        };
        let target = UploadTarget {
            bucket: &self.bucket,
            key: &self.key,
            content_type: &content_type,
            metadata: &self.metadata,
        };
        let up = upload(conn, &target, source, streams.progress.as_ref()).await?;
        Ok(PutObjectResult {
            bucket: self.bucket,
            key: self.key,
            size: up.size,
            etag: unquote(up.etag.as_deref()),
            content_type,
            parts: up.parts,
        })
    }
}
