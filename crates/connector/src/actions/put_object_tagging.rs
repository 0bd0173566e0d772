//! `putObjectTagging`: replace an object's tags (Camel's and NiFi's "tag object",
//! object_store's `put_tags`).

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::client::Connector;
use crate::error::{Error, Missing, Result};
use crate::fields::Tags;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(
    feature = "cli",
    command(after_help = "Example:\n  s3-connector --embedded ./data put-object-tagging reports 2026/q1.pdf \\\n      --tag stage=approved --tag owner=finance\nTo remove every tag: delete-object-tagging.")
)]
// At least one --tag: without, the command would silently remove every tag (JSON must say
// `"tags": {}` to do that, which is a choice, not an omission).
#[cfg_attr(feature = "cli", command(mut_arg("tag", |a| a.required(true))))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutObjectTaggingRequest {
    /// The bucket's name.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The object's new tags, replacing all it had (at most 10; `{}` removes them all).
    #[cfg_attr(feature = "cli", command(flatten))]
    pub tags: Tags,
    /// A version of the object (on a bucket with versioning); default: the current one.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutObjectTaggingResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The version tagged, when the store says.
    pub version_id: Option<String>,
    /// How many tags the object has now.
    pub tag_count: usize,
}

impl ActionRequest for PutObjectTaggingRequest {
    const NAME: &'static str = "putObjectTagging";
    const LABEL: &'static str = "Set object tags";
    type Result = PutObjectTaggingResult;

    /// Checks bucket, key and S3's rules for tags.
    fn validate(&self) -> Result<()> {
        validate::object_version(&self.bucket, &self.key, self.version_id.as_deref())?;
        validate::tags("tags", &self.tags)
    }

    /// # Behavior
    /// Replaces the whole tag set in one request; the object's content and ETag stay. A
    /// missing object is `NoSuchKey`; a store without tagging answers `NotSupported`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<PutObjectTaggingResult> {
        use aws_sdk_s3::types::{Tag, Tagging};
        self.validate()?;
        conn.require_tagging(&self.bucket).await?;
        let what = format!("PutObjectTagging s3://{}/{}", self.bucket, self.key);
        let set = self
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid_input("tags", e))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(set))
            .build()
            .map_err(|e| Error::invalid_input("tags", e))?;
        let out = conn
            .client()
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &what, Missing::Key))?;
        Ok(PutObjectTaggingResult {
            version_id: out.version_id().map(str::to_string).or(self.version_id),
            tag_count: self.tags.len(),
            bucket: self.bucket,
            key: self.key,
        })
    }
}
