//! `copyObject`: copy an object to another bucket and/or key (Mendix "Copy Object").


use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::actions::head_object::head;
use crate::fields::{Metadata, Tags};
use crate::error::{Error, ErrorCode, Result};
use crate::transfer::{copy, ObjectHeaders, Replace};
use crate::client::Connector;
use crate::validate;

/// Request. The destination defaults to the source's bucket and key; at least one must differ.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data copy-object reports 2026/q1.pdf --to-bucket archive"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyObjectRequest {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Destination bucket; default: the source bucket.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long = "to-bucket", visible_alias = "destination-bucket"))]
    pub destination_bucket: Option<String>,
    /// Destination key; default: the source key.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long = "to-key", visible_alias = "destination-key"))]
    pub destination_key: Option<String>,
    /// Copy only if the source still has this ETag (optimistic concurrency).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub if_match: Option<String>,
    /// Replace the user metadata (default: keep the source's).
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub metadata: Option<Metadata>,
    /// Replace the tags (S3's tagging directive REPLACE; `{}` removes them). Default: keep
    /// the source's.
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub tags: Option<Tags>,
    /// Replace the content type (default: keep the source's).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_type: Option<String>,
    /// `Cache-Control` to give the copy (default: the source's), e.g. `max-age=3600`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub cache_control: Option<String>,
    /// `Content-Disposition` to give the copy (default: the source's), e.g. `attachment; filename="q1.pdf"`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_disposition: Option<String>,
    /// `Content-Encoding` to give the copy (default: the source's), e.g. `gzip` (the content is stored as given).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_encoding: Option<String>,
    /// `Expires` to give the copy (default: the source's), RFC 3339, e.g. `2026-12-31T23:59:59Z`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub expires: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyObjectResult {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Destination bucket.
    pub destination_bucket: String,
    /// Destination key.
    pub destination_key: String,
    /// Bytes copied.
    pub size: u64,
    /// The copy's ETag, without quotes.
    pub etag: Option<String>,
    /// Whether multipart copy was used (objects over the copy threshold, 5 GiB by default).
    pub multipart: bool,
}

impl CopyObjectRequest {
    /// The standard headers the request gives.
    pub fn headers(&self) -> ObjectHeaders {
        ObjectHeaders {
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            content_encoding: self.content_encoding.clone(),
            expires: self.expires.clone(),
        }
    }
    /// The destination bucket and key after defaults.
    pub fn destination(&self) -> (&str, &str) {
        (
            self.destination_bucket.as_deref().unwrap_or(&self.bucket),
            self.destination_key.as_deref().unwrap_or(&self.key),
        )
    }
}

impl ActionRequest for CopyObjectRequest {
    const NAME: &'static str = "copyObject";
    const LABEL: &'static str = "Copy object";
    type Result = CopyObjectResult;

    /// Checks both ends, and that they differ unless metadata is being replaced.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)?;
        if let Some(b) = &self.destination_bucket {
            validate::bucket("destinationBucket", b)?;
        }
        if let Some(k) = &self.destination_key {
            validate::key("destinationKey", k)?;
        }
        if let Some(m) = &self.metadata {
            validate::metadata("metadata", m)?;
        }
        if let Some(t) = &self.tags {
            validate::tags("tags", t)?;
        }
        validate::object_headers(&self.headers())?;
        let same = self.destination() == (self.bucket.as_str(), self.key.as_str());
        if same && self.metadata.is_none() && self.content_type.is_none() && self.headers().is_empty() {
            return Err(Error::invalid_input(
                "destinationKey",
                "the destination equals the source; give another destinationBucket or destinationKey (to change only the tags, use putObjectTagging)",
            ));
        }
        Ok(())
    }

    /// # Behavior
    /// Reads the source's size and ETag, then copies on the condition that the source still
    /// has that ETag, so the copy is of one version even if the source is being rewritten.
    /// Up to the copy threshold (5 GiB, S3's CopyObject limit) one CopyObject; above it a
    /// multipart copy with bounded concurrency, aborted on any failure.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<CopyObjectResult> {
        self.validate()?;
        if self.tags.is_some() {
            conn.require_tagging(self.destination().0).await?;
        }
        let source = head(conn, &self.bucket, &self.key).await?;
        if let Some(expected) = &self.if_match {
            if source.etag.as_deref() != Some(expected.trim_matches('"')) {
                return Err(Error::new(
                    ErrorCode::PreconditionFailed,
                    format!(
                        "s3://{}/{} has ETag {:?}, not {expected:?}; it changed since you read it",
                        self.bucket,
                        self.key,
                        source.etag.as_deref().unwrap_or("")
                    ),
                ));
            }
        }
        let (dest_bucket, dest_key) = self.destination();
        let headers = self.headers();
        let replace = Replace {
            metadata: self.metadata.as_deref(),
            content_type: self.content_type.as_deref(),
            headers: Some(&headers),
            tags: self.tags.as_deref(),
        };
        let copied = copy(conn, &source.as_copy_source(), dest_bucket, dest_key, replace).await?;
        Ok(CopyObjectResult {
            destination_bucket: dest_bucket.to_string(),
            destination_key: dest_key.to_string(),
            bucket: self.bucket,
            key: self.key,
            size: source.size,
            etag: copied.etag,
            multipart: copied.multipart,
        })
    }
}
