//! `deleteObjectTagging`: remove every tag of an object.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::client::Connector;
use crate::error::{Error, Missing, Result};
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(
    feature = "cli",
    command(after_help = "Example:\n  s3-connector --embedded ./data delete-object-tagging reports 2026/q1.pdf")
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteObjectTaggingRequest {
    /// The bucket's name.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// A version of the object (on a bucket with versioning); default: the current one.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteObjectTaggingResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The version untagged, when the store says.
    pub version_id: Option<String>,
}

impl ActionRequest for DeleteObjectTaggingRequest {
    const NAME: &'static str = "deleteObjectTagging";
    const LABEL: &'static str = "Remove object tags";
    type Result = DeleteObjectTaggingResult;

    /// Checks bucket and key.
    fn validate(&self) -> Result<()> {
        validate::object_version(&self.bucket, &self.key, self.version_id.as_deref())
    }

    /// # Behavior
    /// An object without tags succeeds too; a missing object is `NoSuchKey`; a store without
    /// tagging answers `NotSupported`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<DeleteObjectTaggingResult> {
        self.validate()?;
        conn.require_tagging(&self.bucket).await?;
        let out = conn
            .client()
            .delete_object_tagging()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .send()
            .await
            .map_err(|e| {
                Error::from_sdk(
                    e,
                    &format!("DeleteObjectTagging s3://{}/{}", self.bucket, self.key),
                    Missing::Key,
                )
            })?;
        Ok(DeleteObjectTaggingResult {
            version_id: out.version_id().map(str::to_string).or(self.version_id),
            bucket: self.bucket,
            key: self.key,
        })
    }
}
