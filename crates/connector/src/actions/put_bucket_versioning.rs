//! `putBucketVersioning`: turn the versioning of a bucket on, or suspend it.

use serde::{Deserialize, Serialize};

use crate::actions::get_bucket_versioning::{status_name, versioning_of};
use crate::actions::{ActionRequest, Streams};
use crate::client::Connector;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::validate;

/// What to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum VersioningStatus {
    /// Keep every version of every object from now on.
    Enabled,
    /// Stop keeping new versions (those kept stay). A bucket's versioning cannot be turned
    /// off again once on: S3 only suspends it.
    Suspended,
}

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector put-bucket-versioning reports Enabled"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutBucketVersioningRequest {
    /// Bucket.
    pub bucket: String,
    /// `Enabled` or `Suspended`.
    #[cfg_attr(feature = "openapi", schema(inline))]
    #[cfg_attr(feature = "cli", arg(value_enum, ignore_case = true))]
    pub status: VersioningStatus,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutBucketVersioningResult {
    /// Bucket.
    pub bucket: String,
    /// The status the store now reports.
    pub status: String,
}

impl ActionRequest for PutBucketVersioningRequest {
    const NAME: &'static str = "putBucketVersioning";
    const LABEL: &'static str = "Set bucket versioning";
    type Result = PutBucketVersioningResult;

    /// Checks the bucket name.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)
    }

    /// # Behavior
    /// PutBucketVersioning, then GetBucketVersioning to confirm: a store that answers the
    /// first with 200 and keeps no versions is `NotSupported`, never a silent no-op.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<PutBucketVersioningResult> {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.validate()?;
        let wanted = match self.status {
            VersioningStatus::Enabled => BucketVersioningStatus::Enabled,
            VersioningStatus::Suspended => BucketVersioningStatus::Suspended,
        };
        conn.client()
            .put_bucket_versioning()
            .bucket(&self.bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(wanted.clone()).build())
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &format!("PutBucketVersioning {}", self.bucket), Missing::Bucket))?;
        let now = versioning_of(conn, &self.bucket).await?;
        match &now {
            Some(s) if *s == wanted => {}
            // Suspending a bucket that never had versioning leaves it without a status.
            None if wanted == BucketVersioningStatus::Suspended => {}
            other => {
                return Err(Error::new(
                    ErrorCode::NotSupported,
                    format!(
                        "the store accepted versioning {} for bucket {} but reports {}: it does not keep versions (see docs/stores.md)",
                        wanted.as_str(),
                        self.bucket,
                        other.as_ref().map(|s| s.as_str()).unwrap_or("no status")
                    ),
                ))
            }
        }
        Ok(PutBucketVersioningResult {
            status: status_name(now.as_ref()),
            bucket: self.bucket,
        })
    }
}
