//! `putObject`: upload a file, a stream or inline text (Mendix "Put Object").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::fields::{Metadata, Tags};
use crate::error::{Error, Result};
use crate::s3::{content_type_for, unquote};
use crate::config::Secret;
use crate::encryption::{customer_key, validate_stored_as, Encryption};
use crate::stored::Asked;
use crate::transfer::{upload, ObjectHeaders, UploadSource, UploadTarget};
use crate::client::Connector;
use crate::validate;

/// Request. Give at most one of `file` and `content`; with neither, the caller's input stream
/// is uploaded.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Examples:\n  s3-connector --embedded ./data put-object reports 2026/q1.pdf ./q1.pdf\n  tar c dir | s3-connector --embedded ./data put-object backups dir.tar -\n  s3-connector --embedded ./data put-object notes hello.txt \\\n      --content 'hello' --metadata owner=ops"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// A local file to upload. Absent or `-` (and no `content`): the caller's input stream (stdin).
    /// On the command line it is required unless `--content` is given: stdin only on an explicit `-`,
    /// so that a forgotten argument is a usage error, not a silent read of the terminal.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[cfg_attr(feature = "cli", arg(required_unless_present = "content"))]
    pub file: Option<PathBuf>,
    /// Inline text content (UTF-8), for small objects.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, conflicts_with = "file"))]
    pub content: Option<String>,
    /// Content type; default guessed from the key, else `application/octet-stream`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`).
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub metadata: Metadata,
    /// Tags to give the object (at most 10).
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub tags: Tags,
    /// `Cache-Control` to store, e.g. `max-age=3600`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub cache_control: Option<String>,
    /// `Content-Disposition` to store, e.g. `attachment; filename="q1.pdf"`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_disposition: Option<String>,
    /// `Content-Encoding` to store, e.g. `gzip` (the content is stored as given).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_encoding: Option<String>,
    /// `Expires` to store, RFC 3339, e.g. `2026-12-31T23:59:59Z`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub expires: Option<String>,
    /// Storage class, e.g. `STANDARD_IA` or `GLACIER_IR`; default: the bucket's (`STANDARD`).
    /// A store that does not keep it answers `NotSupported` (docs/stores.md).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub storage_class: Option<String>,
    /// Server-side encryption: `{"algorithm": "AES256"}` (SSE-S3), or `aws:kms` with an
    /// optional `kmsKeyId`, `kmsContext` and `bucketKey`; default: the bucket's. A store that
    /// does not keep it answers `NotSupported` (docs/stores.md).
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub encryption: Option<Encryption>,
    /// SSE-C: encrypt with this key of yours, base64 of 256 bits (every read must give it
    /// again). Refused over a plain-http endpoint unless the operator allows it. On the CLI
    /// prefer the environment variable to the flag: flags show in `ps`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    #[cfg_attr(feature = "cli", arg(long = "sse-c-key", value_name = "BASE64", env = "S3_CONNECTOR_SSE_C_KEY", hide_env_values = true, value_parser = crate::encryption::secret_arg))]
    pub sse_customer_key: Option<Secret>,
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
    /// The storage class asked for, as the store confirmed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

impl PutObjectRequest {
    /// The standard headers the request gives.
    pub fn headers(&self) -> ObjectHeaders {
        ObjectHeaders {
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            content_encoding: self.content_encoding.clone(),
            expires: self.expires.clone(),
        }
    }
    /// The file to upload, if any: `file`, unless it is absent or `-` (the caller's stream).
    pub fn source_file(&self) -> Option<&std::path::Path> {
        self.file.as_deref().filter(|f| f.as_os_str() != "-")
    }
}

impl ActionRequest for PutObjectRequest {
    const NAME: &'static str = "putObject";
    const LABEL: &'static str = "Upload object";
    const NOT_FOR_JOBS: Option<&'static str> = Some("its `file` would read files on the worker's machine at a process modeller's choice; jobs upload documents (`uploadObject`)");
    type Result = PutObjectResult;

    /// Checks bucket, key, metadata and the choice of source.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)?;
        validate::metadata("metadata", &self.metadata)?;
        validate::tags("tags", &self.tags)?;
        validate::object_headers(&self.headers())?;
        validate_stored_as(
            self.storage_class.as_deref(),
            self.encryption.as_ref(),
            self.sse_customer_key.as_ref(),
        )?;
        if self.source_file().is_some() && self.content.is_some() {
            return Err(Error::invalid_input("content", "give either file or content, not both"));
        }
        if let Some(f) = self.source_file() {
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
    async fn execute(self, conn: &Connector, streams: Streams) -> Result<PutObjectResult> {
        self.validate()?;
        let content_type = content_type_for(self.content_type.as_deref(), &self.key);
        let source = match (self.source_file().map(|f| f.to_path_buf()), self.content.clone(), streams.input) {
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
        let headers = self.headers();
        let ck = customer_key(conn.settings(), "sseCustomerKey", self.sse_customer_key.as_ref())?;
        let target = UploadTarget {
            bucket: &self.bucket,
            key: &self.key,
            content_type: &content_type,
            metadata: &self.metadata,
            tags: &self.tags,
            headers: &headers,
            storage_class: self.storage_class.as_deref(),
            encryption: self.encryption.as_ref(),
            customer_key: ck.as_ref(),
        };
        let asked = Asked {
            storage_class: target.storage_class,
            encryption: target.encryption,
            customer_key: target.customer_key,
        };
        if !self.tags.is_empty() {
            conn.require_tagging(&self.bucket).await?;
        }
        asked.refuse_if_known_unkept(conn, &self.bucket)?;
        let up = upload(conn, &target, source, streams.progress.as_ref()).await?;
        asked.confirm(conn, &self.bucket, &self.key).await?;
        Ok(PutObjectResult {
            bucket: self.bucket,
            key: self.key,
            size: up.size,
            etag: unquote(up.etag.as_deref()),
            content_type,
            parts: up.parts,
            storage_class: self.storage_class,
        })
    }
}
