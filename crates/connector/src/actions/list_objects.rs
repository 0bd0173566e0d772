//! `listObjects`: the objects of a bucket (Mendix "List Object"), paged for the caller.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::error::{Error, Missing, Result};
use crate::listing::{listed_name, Pager};
use crate::s3::{rfc3339, unquote};
use crate::client::Connector;
use crate::validate;

/// Default cap on keys returned by one call; past it the result carries a continuation token.
pub const DEFAULT_MAX_KEYS: u32 = 100_000;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data list-objects reports --prefix 2026/ \\\n      --delimiter /"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListObjectsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only keys starting with this.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub prefix: Option<String>,
    /// Group keys by this delimiter (usually `/`); grouped keys come back in `commonPrefixes`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub delimiter: Option<String>,
    /// Only keys after this one (lexicographically).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub start_after: Option<String>,
    /// Most keys to return in all, across pages (default 100,000).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub max_keys: Option<u32>,
    /// Resume a listing from a previous result's `nextContinuationToken`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub continuation_token: Option<String>,
}

/// One object (the Mendix `S3Object` entity).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// Its bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// ETag, without quotes.
    pub etag: Option<String>,
    /// Storage class, e.g. `STANDARD`.
    pub storage_class: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListObjectsResult {
    /// Bucket.
    pub bucket: String,
    /// The objects, in key order.
    pub objects: Vec<S3Object>,
    /// Prefixes grouped by the delimiter.
    pub common_prefixes: Vec<String>,
    /// Whether more keys remain past `maxKeys`.
    pub is_truncated: bool,
    /// Pass as `continuationToken` to get the rest.
    pub next_continuation_token: Option<String>,
}

impl ActionRequest for ListObjectsRequest {
    const NAME: &'static str = "listObjects";
    const LABEL: &'static str = "List objects";
    const ITEMS: &'static [&'static str] = &["objects", "commonPrefixes"];
    type Result = ListObjectsResult;

    /// Checks bucket, prefix and limits.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::prefix("prefix", self.prefix.as_deref().unwrap_or(""))?;
        validate::prefix("startAfter", self.start_after.as_deref().unwrap_or(""))?;
        if self.max_keys == Some(0) {
            return Err(Error::invalid_input("maxKeys", "must be at least 1"));
        }
        if self.delimiter.as_deref() == Some("") {
            return Err(Error::invalid_input(
                "delimiter",
                "must not be empty; leave it out to list flat",
            ));
        }
        Ok(())
    }

    /// # Behavior
    /// Sends ListObjectsV2 pages of up to 1000 keys until `maxKeys` keys (objects plus common
    /// prefixes) are gathered or the listing ends. When it stops early, `isTruncated` is true
    /// and `nextContinuationToken` resumes exactly where it stopped.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<ListObjectsResult> {
        self.validate()?;
        let max = self.max_keys.unwrap_or(DEFAULT_MAX_KEYS) as usize;
        let what = format!("ListObjectsV2 {}", self.bucket);
        let mut objects = Vec::new();
        let mut common_prefixes = Vec::new();
        let mut pager = Pager::new(self.continuation_token.clone(), max);
        let mut first = true;
        while let Some((token, room)) = pager.next() {
            // StartAfter only applies to the first request; the token carries it after.
            let start_after = if first && token.is_none() {
                self.start_after.clone()
            } else {
                None
            };
            first = false;
            let out = conn
                .client()
                .list_objects_v2()
                .bucket(&self.bucket)
                .set_prefix(self.prefix.clone())
                .set_delimiter(self.delimiter.clone())
                .set_start_after(start_after)
                .set_continuation_token(token)
                .max_keys(room as i32)
                .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                .send()
                .await
                .map_err(|e| Error::from_sdk(e, &what, Missing::Bucket))?;
            let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
            let before = objects.len() + common_prefixes.len();
            for o in out.contents() {
                objects.push(S3Object {
                    bucket: self.bucket.clone(),
                    key: listed_name(o.key().unwrap_or_default(), encoded),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    last_modified: o.last_modified().and_then(rfc3339),
                    etag: unquote(o.e_tag()),
                    storage_class: o.storage_class().map(|s| s.as_str().to_string()),
                });
            }
            common_prefixes.extend(out.common_prefixes().iter().filter_map(|p| p.prefix()).map(|p| listed_name(p, encoded)));
            let next = out
                .next_continuation_token()
                .filter(|_| out.is_truncated() == Some(true))
                .map(str::to_string);
            pager.got(objects.len() + common_prefixes.len() - before, next, &what)?;
        }
        let next = pager.resume();
        Ok(ListObjectsResult {
            bucket: self.bucket,
            objects,
            common_prefixes,
            is_truncated: next.is_some(),
            next_continuation_token: next,
        })
    }

    /// One line per entry, as columns.
    fn human(result: &ListObjectsResult) -> Human {
        let prefixes = result.common_prefixes.iter().map(|p| format!("{:>25} {:>12} {}", "", "PRE", p));
        let objects = result.objects.iter().map(|o| {
            format!(
                "{:>25} {:>12} {}",
                o.last_modified.as_deref().unwrap_or("-"),
                o.size,
                o.key
            )
        });
        Human {
            lines: prefixes.chain(objects).collect(),
            hint: result
                .next_continuation_token
                .as_ref()
                .map(|t| format!("(more keys: pass --continuation-token {t})")),
        }
    }
}
