//! `createBucket`: create a bucket in the connector's region (or a given one).

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::error::{Error, Missing, Result};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data create-bucket reports"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBucketRequest {
    /// The new bucket's name.
    pub bucket: String,
    /// Region to create it in; defaults to the connector's region.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long = "bucket-region", id = "bucket_region"))]
    pub region: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBucketResult {
    /// The bucket created.
    pub bucket: String,
    /// Where the store says it lives, if it says.
    pub location: Option<String>,
}

impl ActionRequest for CreateBucketRequest {
    const NAME: &'static str = "createBucket";
    const LABEL: &'static str = "Create bucket";
    type Result = CreateBucketResult;

    /// Checks the bucket name against AWS's rules.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)
    }

    /// # Behavior
    /// Outside `us-east-1` the region goes in a location constraint, as S3 requires.
    /// A name already taken (by anyone, including you) is `BucketAlreadyExists`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<CreateBucketResult> {
        self.validate()?;
        let region = self.region.clone().unwrap_or_else(|| conn.region().to_string());
        let mut req = conn.client().create_bucket().bucket(&self.bucket);
        // us-east-1 is the default and rejects an explicit constraint; custom stores usually
        // ignore it, but some refuse unknown constraints, so send it only to AWS.
        if region != "us-east-1" && (!conn.settings().is_custom_endpoint() || self.region.is_some()) {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &format!("CreateBucket {}", self.bucket), Missing::Bucket))?;
        Ok(CreateBucketResult {
            bucket: self.bucket,
            location: out.location().map(str::to_string),
        })
    }
}
