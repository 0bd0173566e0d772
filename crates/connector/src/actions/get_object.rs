//! `getObject`: download an object (or a byte range) to a file or the caller's stream.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, Result};
use crate::s3::unquote;
use crate::config::Secret;
use crate::encryption::CustomerKey;
use crate::transfer::{download_to_file, download_to_writer, open_object, ObjectRef, OpenedObject};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Examples:\n  s3-connector --embedded ./data get-object reports 2026/q1.pdf q1.pdf\n  s3-connector --embedded ./data get-object reports 2026/q1.csv - \\\n      --range bytes=0-99"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The file to write (atomically). Absent or `-`: the caller's output stream (stdout).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub file: Option<PathBuf>,
    /// A byte range: `bytes=0-99`, `bytes=100-`, `bytes=-100`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub range: Option<String>,
    /// A version of the object (see `listObjectVersions`); default: the current one.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
    /// SSE-C: the key the object was written with, base64 of 256 bits. On the CLI prefer the
    /// environment variable to the flag: flags show in `ps`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    #[cfg_attr(feature = "cli", arg(long = "sse-c-key", value_name = "BASE64", env = "S3_CONNECTOR_SSE_C_KEY", hide_env_values = true, value_parser = crate::encryption::secret_arg))]
    pub sse_customer_key: Option<Secret>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetObjectResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Bytes written.
    pub size: u64,
    /// The whole object's size (differs from `size` for a range).
    pub object_size: Option<u64>,
    /// Content type.
    pub content_type: Option<String>,
    /// ETag, without quotes.
    pub etag: Option<String>,
    /// Last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// The file written, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub file: Option<PathBuf>,
    /// The version read, when the bucket keeps versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

impl GetObjectRequest {
    /// The object this request reads: with its version and SSE-C key, checked.
    fn object(&self, conn: &Connector) -> Result<ObjectRef> {
        ObjectRef::checked(
            conn.settings(),
            (&self.bucket, &self.key, self.version_id.as_deref()),
            "sseCustomerKey",
            self.sse_customer_key.as_ref(),
        )
    }

    /// The file to write, if any: `file`, unless it is absent or `-` (the caller's stream).
    pub fn target(&self) -> Option<&std::path::Path> {
        self.file.as_deref().filter(|f| f.as_os_str() != "-")
    }

    /// Whether the content goes to the caller's stream rather than a file.
    pub fn to_stream(&self) -> bool {
        self.target().is_none()
    }

    /// Opens the object for a caller that streams the body itself (the HTTP API). The result
    /// is complete except that `size` is the length announced by the store; `file` must be
    /// absent.
    ///
    /// # Behavior
    /// Fails before any byte is read when the object, bucket or range does not exist, so the
    /// caller can still answer with an error. A connection that breaks later fails the reader.
    pub async fn open(self, conn: &Connector) -> Result<(GetObjectResult, OpenedObject)> {
        self.validate()?;
        if self.target().is_some() {
            return Err(Error::invalid_input(
                "file",
                "cannot be used here: the content is the response body",
            ));
        }
        let range = self.range.as_deref().map(|r| validate::range("range", r)).transpose()?;
        let obj = self.object(conn)?;
        let opened = open_object(conn, &obj, range).await?;
        let d = &opened.info;
        let result = GetObjectResult {
            bucket: self.bucket,
            key: self.key,
            size: d.size,
            object_size: d.object_size,
            content_type: d.content_type.clone(),
            etag: unquote(d.etag.as_deref()),
            last_modified: d.last_modified.clone(),
            metadata: d.metadata.clone(),
            file: None,
            version_id: d.version_id.clone(),
        };
        Ok((result, opened))
    }
}

impl ActionRequest for GetObjectRequest {
    const NAME: &'static str = "getObject";
    const LABEL: &'static str = "Download object";
    const NOT_FOR_JOBS: Option<&'static str> = Some("its `file` would write files on the worker's machine at a process modeller's choice; jobs download through documents (`downloadObject`)");
    type Result = GetObjectResult;

    /// Checks bucket, key and range.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)?;
        validate::version_id("versionId", self.version_id.as_deref())?;
        if let Some(k) = &self.sse_customer_key {
            CustomerKey::parse("sseCustomerKey", k)?;
        }
        if let Some(r) = &self.range {
            validate::range("range", r)?;
        }
        if let Some(f) = &self.file {
            if f.as_os_str().is_empty() {
                return Err(Error::invalid_input(
                    "file",
                    "must not be empty; leave it out to stream",
                ));
            }
        }
        Ok(())
    }

    /// # Behavior
    /// To a file: atomic. The bytes land in a temporary file beside the target, renamed over
    /// it only when complete; a failure leaves the target as it was. Large objects are fetched
    /// as parallel ranged GETs pinned to the first response's ETag, so an object replaced
    /// mid-download fails with `PreconditionFailed` instead of mixing two versions.
    /// To a stream: one sequential GET.
    async fn execute(self, conn: &Connector, streams: Streams) -> Result<GetObjectResult> {
        self.validate()?;
        let range = self.range.as_deref().map(|r| validate::range("range", r)).transpose()?;
        let progress = streams.progress;
        let file = self.target().map(|f| f.to_path_buf());
        let d = match (file.as_deref(), streams.output) {
            (Some(path), _) => download_to_file(conn, &self.object(conn)?, range, path, progress.as_ref()).await?,
            (None, Some(mut out)) => {
                download_to_writer(conn, &self.object(conn)?, range, &mut out, progress.as_ref()).await?
            }
            (None, None) => {
                return Err(Error::invalid_input(
                    "file",
                    "is required here: give the path to download to",
                ))
            }
        };
        Ok(GetObjectResult {
            bucket: self.bucket,
            key: self.key,
            size: d.size,
            object_size: d.object_size,
            content_type: d.content_type,
            etag: unquote(d.etag.as_deref()),
            last_modified: d.last_modified,
            metadata: d.metadata,
            file,
            version_id: d.version_id,
        })
    }
}
