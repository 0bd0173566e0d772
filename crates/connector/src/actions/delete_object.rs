//! `deleteObject`: delete one object (Mendix "Delete Object").

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, Missing, Result};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data delete-object reports 2026/q1.pdf"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Delete this version for good (see `listObjectVersions`). Without it, a versioned bucket
    /// keeps the object's versions and adds a delete marker.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteObjectResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The version deleted, or the delete marker made (versioned buckets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Whether the delete made, or removed, a delete marker (versioned buckets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker: Option<bool>,
}

impl ActionRequest for DeleteObjectRequest {
    const NAME: &'static str = "deleteObject";
    const LABEL: &'static str = "Delete object";
    const NOT_FOR_JOBS: Option<&'static str> = Some("Camunda's own `deleteObject` operation has this name in jobs, with Camunda's fields and result");
    type Result = DeleteObjectResult;

    /// Checks bucket and key.
    fn validate(&self) -> Result<()> {
        validate::object_version(&self.bucket, &self.key, self.version_id.as_deref())
    }

    /// # Behavior
    /// Deleting a missing key succeeds, with the same result (S3 semantics; idempotent).
    /// A missing bucket is `NoSuchBucket`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<DeleteObjectResult> {
        self.validate()?;
        let out = conn
            .client()
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .send()
            .await
            .map_err(|e| {
                Error::from_sdk(
                    e,
                    &format!("DeleteObject s3://{}/{}", self.bucket, self.key),
                    Missing::Bucket,
                )
            })?;
        Ok(DeleteObjectResult {
            bucket: self.bucket,
            key: self.key,
            version_id: out.version_id().map(str::to_string),
            // Some stores (rclone) say `false` on unversioned buckets: only a marker is news.
            delete_marker: out.delete_marker().filter(|m| *m),
        })
    }
}
