//! `listPrefixes`: the common prefixes ("folders") of a bucket (Mendix "List Prefix").

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::actions::ListObjectsRequest;
use crate::listing::Pager;
use crate::error::{Error, Result};
use crate::client::Connector;
use crate::validate;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data list-prefixes reports --prefix 2026/"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListPrefixesRequest {
    /// Bucket.
    pub bucket: String,
    /// The parent prefix to look under, e.g. `reports/2024/`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub prefix: Option<String>,
    /// Delimiter; default `/`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub delimiter: Option<String>,
}

/// One prefix (the Mendix `Prefix` entity).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Prefix {
    /// The prefix, ending with the delimiter.
    pub prefix: String,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPrefixesResult {
    /// Bucket.
    pub bucket: String,
    /// Every common prefix, in key order, across all pages.
    pub prefixes: Vec<Prefix>,
}

impl ActionRequest for ListPrefixesRequest {
    const NAME: &'static str = "listPrefixes";
    const LABEL: &'static str = "List folders";
    const ITEMS: &'static [&'static str] = &["prefixes"];
    type Result = ListPrefixesResult;

    /// Checks bucket, prefix and delimiter.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::prefix("prefix", self.prefix.as_deref().unwrap_or(""))?;
        if self.delimiter.as_deref() == Some("") {
            return Err(Error::invalid_input(
                "delimiter",
                "must not be empty; leave it out for '/'",
            ));
        }
        Ok(())
    }

    /// # Behavior
    /// Pages through the whole listing (past 1000 keys) and returns only the prefixes.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<ListPrefixesResult> {
        self.validate()?;
        let mut prefixes = Vec::new();
        let what = format!("ListObjectsV2 {}", self.bucket);
        // Each page is a listObjects call of its own (up to its default cap of keys).
        let mut pager = Pager::new(None, usize::MAX);
        while let Some((token, _room)) = pager.next() {
            let page = ListObjectsRequest {
                bucket: self.bucket.clone(),
                prefix: self.prefix.clone(),
                delimiter: Some(self.delimiter.clone().unwrap_or_else(|| "/".to_string())),
                start_after: None,
                max_keys: None,
                continuation_token: token,
            }
            .execute(conn, Streams::default())
            .await?;
            let added = page.common_prefixes.len();
            prefixes.extend(page.common_prefixes.into_iter().map(|prefix| Prefix { prefix }));
            pager.got(added, page.next_continuation_token, &what)?;
        }
        Ok(ListPrefixesResult {
            bucket: self.bucket,
            prefixes,
        })
    }

    /// One line per entry, as columns.
    fn human(result: &ListPrefixesResult) -> Human {
        Human {
            lines: result.prefixes.iter().map(|p| p.prefix.clone()).collect(),
            hint: None,
        }
    }
}
