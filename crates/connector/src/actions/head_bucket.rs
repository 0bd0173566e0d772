//! `headBucket`: check that a bucket exists and the credentials may use it.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, Missing, Result};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data head-bucket reports"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeadBucketRequest {
    /// The bucket to check.
    pub bucket: String,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadBucketResult {
    /// The bucket checked.
    pub bucket: String,
    /// Always true: a missing bucket is the error `NoSuchBucket`.
    pub exists: bool,
    /// The bucket's region, when the store reports it.
    pub region: Option<String>,
}

impl ActionRequest for HeadBucketRequest {
    const NAME: &'static str = "headBucket";
    const LABEL: &'static str = "Check bucket";
    type Result = HeadBucketResult;

    /// Checks the bucket name.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)
    }

    /// # Behavior
    /// A missing bucket is `NoSuchBucket`; one you may not use is `AccessDenied`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<HeadBucketResult> {
        self.validate()?;
        let out = conn
            .client()
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &format!("HeadBucket {}", self.bucket), Missing::Bucket))?;
        Ok(HeadBucketResult {
            bucket: self.bucket,
            exists: true,
            region: out.bucket_region().map(str::to_string),
        })
    }
}
