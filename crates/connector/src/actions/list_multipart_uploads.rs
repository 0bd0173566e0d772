//! `listMultipartUploads`: multipart uploads that were started and never completed or aborted.
//!
//! Such uploads hold parts that the store keeps, and bills, until someone aborts them. They come
//! from clients that crashed or were killed mid-upload, from any tool. This action finds them,
//! by prefix and by age (`olderThan`, like NiFi's age-off); `abortMultipartUploads` removes them.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::error::{Error, Result};
use crate::listing::uploads_in_progress;
use crate::s3::rfc3339;
use crate::client::Connector;
use crate::validate;

/// Default cap on uploads returned by one call.
pub const DEFAULT_MAX_UPLOADS: u32 = 10_000;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Examples:\n  s3-connector --embedded ./data list-multipart-uploads backups\n  s3-connector list-multipart-uploads backups --prefix db/ --older-than 24h"))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListMultipartUploadsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only uploads of keys starting with this.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub prefix: Option<String>,
    /// Only uploads started longer ago than this: `30m`, `24h`, `7d` (or ISO-8601 `P7D`).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, value_name = "AGE"))]
    pub older_than: Option<String>,
    /// Most uploads to return (default 10,000).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub max_uploads: Option<u32>,
}

/// One upload in progress.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MultipartUpload {
    /// The key being uploaded.
    pub key: String,
    /// The upload's id.
    pub upload_id: String,
    /// When it was started, RFC 3339.
    pub initiated: Option<String>,
    /// How long ago it was started, in whole seconds.
    pub age_seconds: Option<u64>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMultipartUploadsResult {
    /// Bucket.
    pub bucket: String,
    /// The uploads, by key, oldest first for one key.
    pub uploads: Vec<MultipartUpload>,
    /// Whether more uploads match than `maxUploads` allowed.
    pub truncated: bool,
}

/// Reads an age: `30m`, `24h`, `7d`, a number of seconds, or an ISO-8601 duration (`P7D`).
pub fn parse_age(field: &str, text: &str) -> Result<std::time::Duration> {
    if text.trim().to_ascii_uppercase().starts_with('P') {
        return crate::config::parse_iso8601_duration(text)
            .ok_or_else(|| Error::invalid_input(field, format!("{text:?} is not an ISO-8601 duration like P7D")));
    }
    crate::config::parse_duration(field, text)
}

impl ActionRequest for ListMultipartUploadsRequest {
    const NAME: &'static str = "listMultipartUploads";
    const LABEL: &'static str = "List unfinished uploads";
    const ITEMS: &'static [&'static str] = &["uploads"];
    type Result = ListMultipartUploadsResult;

    /// Checks the bucket, prefix, age and cap.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        if let Some(p) = &self.prefix {
            validate::prefix("prefix", p)?;
        }
        if let Some(age) = &self.older_than {
            parse_age("olderThan", age)?;
        }
        if self.max_uploads == Some(0) {
            return Err(Error::invalid_input("maxUploads", "must be at least 1"));
        }
        Ok(())
    }

    /// # Behavior
    /// Pages through ListMultipartUploads (1000 per request) and keeps the uploads older than
    /// `olderThan`. Changes nothing.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<ListMultipartUploadsResult> {
        self.validate()?;
        let max = self.max_uploads.unwrap_or(DEFAULT_MAX_UPLOADS) as usize;
        let min_age = self
            .older_than
            .as_deref()
            .map(|a| parse_age("olderThan", a))
            .transpose()?;
        let (uploads, truncated) = list(conn, &self.bucket, self.prefix.as_deref(), min_age, max).await?;
        Ok(ListMultipartUploadsResult {
            bucket: self.bucket,
            uploads,
            truncated,
        })
    }

    /// One line per entry, as columns.
    fn human(result: &ListMultipartUploadsResult) -> Human {
        let lines = result
            .uploads
            .iter()
            .map(|u| {
                format!(
                    "{:<25} {:>10} {}  {}",
                    u.initiated.as_deref().unwrap_or("-"),
                    u.age_seconds.map(|a| format!("{a}s")).unwrap_or_else(|| "-".into()),
                    u.key,
                    u.upload_id
                )
            })
            .collect();
        Human {
            lines,
            hint: result.truncated.then(|| "(more uploads match: raise --max-uploads)".to_string()),
        }
    }
}

/// Lists up to `max` uploads under `prefix` older than `min_age`; the flag says more matched.
pub(crate) async fn list(
    conn: &Connector,
    bucket: &str,
    prefix: Option<&str>,
    min_age: Option<std::time::Duration>,
    max: usize,
) -> Result<(Vec<MultipartUpload>, bool)> {
    let now = std::time::SystemTime::now();
    let mut found = Vec::new();
    let truncated = uploads_in_progress(conn, bucket, prefix, |u| {
        let age = u.started().and_then(|t| now.duration_since(t).ok());
        // A zero age asks for every upload, those whose start is unknown (or ahead of our
        // clock) included. Otherwise an upload whose start is unknown is never old enough:
        // aborting it might cut off a live upload.
        if let Some(min) = min_age.filter(|m| !m.is_zero()) {
            if age.is_none_or(|a| a < min) {
                return true;
            }
        }
        if found.len() == max {
            return false;
        }
        found.push(MultipartUpload {
            initiated: u.initiated.as_ref().and_then(rfc3339),
            age_seconds: age.map(|a| a.as_secs()),
            key: u.key,
            upload_id: u.upload_id,
        });
        true
    })
    .await?;
    Ok((found, truncated))
}
