//! `copyObject`: copy an object to another bucket and/or key (Mendix "Copy Object").


use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::actions::head_object::head;
use crate::transfer::ObjectRef;
use crate::fields::{Metadata, Tags};
use crate::error::{Error, ErrorCode, Result};
use crate::transfer::{copy, ObjectHeaders, Replace};
use crate::client::Connector;
use crate::config::Secret;
use crate::encryption::{customer_key, validate_stored_as, CustomerKey, Encryption};
use crate::stored::Asked;
use crate::validate;

/// Request. The destination defaults to the source's bucket and key; at least one must differ.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data copy-object reports 2026/q1.pdf \\\n      --to-bucket archive"))]
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
    /// Storage class of the copy, e.g. `STANDARD_IA`; default: the source's. With the source's
    /// own bucket and key, changes the class in place. A store that does not keep it answers
    /// `NotSupported` (docs/stores.md).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub storage_class: Option<String>,
    /// Server-side encryption: `{"algorithm": "AES256"}` (SSE-S3), or `aws:kms` with an
    /// optional `kmsKeyId`, `kmsContext` and `bucketKey`; default: the destination bucket's (the source's is not
    /// carried over, as in S3). A store that does not keep it answers `NotSupported` (docs/stores.md).
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub encryption: Option<Encryption>,
    /// SSE-C: encrypt the copy with this key of yours, base64 of 256 bits (every read must give it
    /// again). Refused over a plain-http endpoint unless the operator allows it. On the CLI
    /// prefer the environment variable to the flag: flags show in `ps`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    #[cfg_attr(feature = "cli", arg(long = "sse-c-key", value_name = "BASE64", env = "S3_CONNECTOR_SSE_C_KEY", hide_env_values = true, value_parser = crate::encryption::secret_arg))]
    pub sse_customer_key: Option<Secret>,
    /// The source's version (see `listObjectVersions`); default: the current one.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
    /// SSE-C: the key the source was written with, base64 of 256 bits.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    #[cfg_attr(feature = "cli", arg(long = "source-sse-c-key", value_name = "BASE64", env = "S3_CONNECTOR_SOURCE_SSE_C_KEY", hide_env_values = true, value_parser = crate::encryption::secret_arg))]
    pub copy_source_sse_customer_key: Option<Secret>,
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
        validate_stored_as(
            self.storage_class.as_deref(),
            self.encryption.as_ref(),
            self.sse_customer_key.as_ref(),
        )?;
        validate::version_id("versionId", self.version_id.as_deref())?;
        if let Some(k) = &self.copy_source_sse_customer_key {
            CustomerKey::parse("copySourceSseCustomerKey", k)?;
        }
        let same = self.destination() == (self.bucket.as_str(), self.key.as_str());
        let changes = self.metadata.is_some()
            || self.content_type.is_some()
            || !self.headers().is_empty()
            || self.storage_class.is_some()
            || self.encryption.is_some()
            || self.sse_customer_key.is_some()
            || self.version_id.is_some();
        if same && !changes {
            return Err(Error::invalid_input(
                "destinationKey",
                "the destination equals the source; give another destinationBucket or destinationKey, or a change (metadata, contentType, headers, storageClass; to change only the tags, use putObjectTagging)",
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
        let source_ref = ObjectRef::checked(
            conn.settings(),
            (&self.bucket, &self.key, self.version_id.as_deref()),
            "copySourceSseCustomerKey",
            self.copy_source_sse_customer_key.as_ref(),
        )?;
        let dest_key_ck = customer_key(conn.settings(), "sseCustomerKey", self.sse_customer_key.as_ref())?;
        let source = head(conn, &source_ref).await?;
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
            storage_class: self.storage_class.as_deref(),
            encryption: self.encryption.as_ref(),
            customer_key: dest_key_ck.as_ref(),
        };
        let asked = Asked {
            storage_class: replace.storage_class,
            encryption: replace.encryption,
            customer_key: replace.customer_key,
        };
        asked.refuse_if_known_unkept(conn, dest_bucket)?;
        let mut from = source.as_copy_source();
        from.version_id = self.version_id.as_deref();
        from.customer_key = source_ref.customer_key.as_ref();
        let copied = copy(conn, &from, dest_bucket, dest_key, replace).await?;
        asked.confirm(conn, dest_bucket, dest_key).await?;
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
