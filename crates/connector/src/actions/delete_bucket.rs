//! `deleteBucket`: delete an empty bucket.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, Missing, Result};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data delete-bucket reports"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteBucketRequest {
    /// The bucket to delete.
    pub bucket: String,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBucketResult {
    /// The bucket deleted.
    pub bucket: String,
}

impl ActionRequest for DeleteBucketRequest {
    const NAME: &'static str = "deleteBucket";
    const LABEL: &'static str = "Delete bucket";
    type Result = DeleteBucketResult;

    /// Checks the bucket name.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)
    }

    /// # Behavior
    /// A bucket that still holds objects is `BucketNotEmpty` and stays; empty it first with
    /// `deleteObjects` and a prefix. A missing bucket is `NoSuchBucket`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<DeleteBucketResult> {
        self.validate()?;
        conn.client()
            .delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &format!("DeleteBucket {}", self.bucket), Missing::Bucket))?;
        Ok(DeleteBucketResult { bucket: self.bucket })
    }
}
