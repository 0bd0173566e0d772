//! `getObjectTagging`: an object's tags (Camel's and NiFi's "get tags", object_store's
//! `get_tags`).

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::client::Connector;
use crate::error::Result;
use crate::fields::Tags;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(
    feature = "cli",
    command(after_help = "Example:\n  s3-connector --embedded ./data get-object-tagging reports 2026/q1.pdf --json")
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetObjectTaggingRequest {
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
pub struct GetObjectTaggingResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The version the tags are of, when the store says.
    pub version_id: Option<String>,
    /// The tags, by key.
    pub tags: Tags,
}

impl ActionRequest for GetObjectTaggingRequest {
    const NAME: &'static str = "getObjectTagging";
    const LABEL: &'static str = "Get object tags";
    type Result = GetObjectTaggingResult;

    /// Checks bucket and key.
    fn validate(&self) -> Result<()> {
        validate::object_version(&self.bucket, &self.key, self.version_id.as_deref())
    }

    /// # Behavior
    /// A missing object is `NoSuchKey`; a store without tagging answers `NotSupported`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<GetObjectTaggingResult> {
        self.validate()?;
        conn.require_tagging(&self.bucket).await?;
        let (version_id, tags) =
            crate::tagging::read(conn, &self.bucket, &self.key, self.version_id.as_deref()).await?;
        Ok(GetObjectTaggingResult {
            version_id: version_id.or(self.version_id),
            tags,
            bucket: self.bucket,
            key: self.key,
        })
    }

    /// `KEY=VALUE`, one tag a line.
    fn human(result: &GetObjectTaggingResult) -> crate::actions::Human {
        crate::actions::Human {
            lines: result.tags.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            hint: None,
        }
    }
}
