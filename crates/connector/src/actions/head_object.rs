//! `headObject`: an object's size, content type, ETag, last modified and user metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::s3::{rfc3339, unquote};
use crate::transfer::{CopySource, ObjectHeaders};
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
        }
    }
}

impl ActionRequest for HeadObjectRequest {
    const NAME: &'static str = "headObject";
    const LABEL: &'static str = "Get object metadata";
    type Result = HeadObjectResult;

    /// Checks bucket and key.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)
    }

    /// # Behavior
    /// A missing key is `NoSuchKey`, a missing bucket `NoSuchBucket`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<HeadObjectResult> {
        self.validate()?;
        head(conn, &self.bucket, &self.key).await
    }
}

/// HeadObject, shared with copy and move.
pub(crate) async fn head(conn: &Connector, bucket: &str, key: &str) -> Result<HeadObjectResult> {
    let out = match conn.client().head_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) => {
            let err = Error::from_sdk(e, &format!("HeadObject s3://{bucket}/{key}"), Missing::Key);
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
