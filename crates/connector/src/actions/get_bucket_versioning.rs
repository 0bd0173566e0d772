//! `getBucketVersioning`: whether a bucket keeps the versions of its objects.

use aws_sdk_s3::types::BucketVersioningStatus;
use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::client::Connector;
use crate::error::{Error, Missing, Result};
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector get-bucket-versioning reports"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetBucketVersioningRequest {
    /// Bucket.
    pub bucket: String,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetBucketVersioningResult {
    /// Bucket.
    pub bucket: String,
    /// `Enabled`, `Suspended`, or `Disabled` for a bucket that never had versioning on (S3
    /// then answers no status at all).
    pub status: String,
}

impl ActionRequest for GetBucketVersioningRequest {
    const NAME: &'static str = "getBucketVersioning";
    const LABEL: &'static str = "Get bucket versioning";
    type Result = GetBucketVersioningResult;

    /// Checks the bucket name.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)
    }

    /// # Behavior
    /// One GetBucketVersioning. A store without versioning answers `NotSupported`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<GetBucketVersioningResult> {
        self.validate()?;
        let status = versioning_of(conn, &self.bucket).await?;
        Ok(GetBucketVersioningResult {
            bucket: self.bucket,
            status: status_name(status.as_ref()),
        })
    }
}

/// A bucket's versioning status, as the store states it: `None` for a bucket that never had
/// versioning on. Shared with `putBucketVersioning`, which confirms what it set.
pub(crate) async fn versioning_of(conn: &Connector, bucket: &str) -> Result<Option<BucketVersioningStatus>> {
    let out = conn
        .client()
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| Error::from_sdk(e, &format!("GetBucketVersioning {bucket}"), Missing::Bucket))?;
    Ok(out.status().cloned())
}

/// The status as the actions report it: S3's, or `Disabled` when it states none.
pub(crate) fn status_name(status: Option<&BucketVersioningStatus>) -> String {
    status.map(|s| s.as_str().to_string()).unwrap_or_else(|| "Disabled".into())
}
