//! `headObject`: an object's size, content type, ETag, last modified and user metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::s3::{rfc3339, unquote};
use crate::config::Secret;
use crate::encryption::CustomerKey;
use crate::transfer::{CopySource, ObjectHeaders, ObjectRef};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data head-object reports 2026/q1.pdf"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeadObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeadObjectResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type.
    pub content_type: Option<String>,
    /// ETag, without quotes.
    pub etag: Option<String>,
    /// Last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// Storage class, when the store reports one.
    pub storage_class: Option<String>,
    /// Server-side encryption (`AES256`, `aws:kms`, `aws:kms:dsse`), when the store reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<String>,
    /// `AES256` when the object is encrypted with a customer key (SSE-C).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse_customer_algorithm: Option<String>,
    /// The version, when the bucket keeps versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// User metadata (`x-amz-meta-*`), names in lower case.
    pub metadata: BTreeMap<String, String>,
    /// `Cache-Control`, when stored.
    pub cache_control: Option<String>,
    /// `Content-Disposition`, when stored.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`, when stored.
    pub content_encoding: Option<String>,
    /// `Expires`, RFC 3339, when stored.
    pub expires: Option<String>,
}

impl HeadObjectResult {
    /// The object as the source of a copy, pinned to the ETag this HEAD found.
    pub(crate) fn as_copy_source(&self) -> CopySource<'_> {
        CopySource {
            bucket: &self.bucket,
            key: &self.key,
            size: self.size,
            etag: self.etag.as_deref().unwrap_or_default(),
            content_type: self.content_type.as_deref(),
            metadata: &self.metadata,
            headers: ObjectHeaders {
                cache_control: self.cache_control.clone(),
                content_disposition: self.content_disposition.clone(),
                content_encoding: self.content_encoding.clone(),
                expires: self.expires.clone(),
            },
            storage_class: self.storage_class.as_deref(),
            // The caller's to set: a copy names a version only when asked to.
            version_id: None,
            customer_key: None,
        }
    }
}

impl ActionRequest for HeadObjectRequest {
    const NAME: &'static str = "headObject";
    const LABEL: &'static str = "Get object metadata";
    type Result = HeadObjectResult;

    /// Checks bucket and key.
    fn validate(&self) -> Result<()> {
        validate::object_version(&self.bucket, &self.key, self.version_id.as_deref())?;
        if let Some(k) = &self.sse_customer_key {
            CustomerKey::parse("sseCustomerKey", k)?;
        }
        Ok(())
    }

    /// # Behavior
    /// A missing key is `NoSuchKey`, a missing bucket `NoSuchBucket`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<HeadObjectResult> {
        self.validate()?;
        let obj = ObjectRef::checked(
            conn.settings(),
            (&self.bucket, &self.key, self.version_id.as_deref()),
            "sseCustomerKey",
            self.sse_customer_key.as_ref(),
        )?;
        head(conn, &obj).await
    }
}

/// HeadObject, shared with copy and move.
pub(crate) async fn head(conn: &Connector, obj: &ObjectRef) -> Result<HeadObjectResult> {
    let (bucket, key) = (obj.bucket.as_str(), obj.key.as_str());
    let req = conn
        .client()
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(obj.version_id.clone());
    let out = match crate::encryption::with_customer_key!(req, obj.customer_key.as_ref()).send().await {
        Ok(out) => out,
        Err(e) => {
            let err = Error::from_sdk(e, &format!("HeadObject {}", obj.url()), Missing::Key);
            // A HEAD answer has no body, so a bare 404 cannot say whether the bucket or the key
            // is missing. Ask about the bucket, only on this failure path.
            if err.code == ErrorCode::NoSuchKey {
                if let Err(b) = conn.client().head_bucket().bucket(bucket).send().await {
                    let b = Error::from_sdk(b, &format!("HeadObject s3://{bucket}/{key}"), Missing::Bucket);
                    if b.code == ErrorCode::NoSuchBucket {
                        return Err(b);
                    }
                }
            }
            return Err(err);
        }
    };
    Ok(HeadObjectResult {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: out.content_length().unwrap_or(0).max(0) as u64,
        content_type: out.content_type().map(str::to_string),
        etag: unquote(out.e_tag()),
        last_modified: out.last_modified().and_then(rfc3339),
        storage_class: out.storage_class().map(|s| s.as_str().to_string()),
        server_side_encryption: out.server_side_encryption().map(|s| s.as_str().to_string()),
        sse_customer_algorithm: out.sse_customer_algorithm().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        metadata: out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_default(),
        cache_control: out.cache_control().map(str::to_string),
        content_disposition: out.content_disposition().map(str::to_string),
        content_encoding: out.content_encoding().map(str::to_string),
        // The SDK reads Expires as a date when it is one (a store may send anything there).
        #[allow(deprecated)]
        expires: out.expires().and_then(rfc3339),
    })
}
