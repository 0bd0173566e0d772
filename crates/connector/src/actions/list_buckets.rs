//! `listBuckets`: every bucket the credentials can see (Mendix "List Bucket").

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::error::{Error, Missing, Result};
use crate::s3::rfc3339;
use crate::client::Connector;

/// Request: no fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data list-buckets --json"))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListBucketsRequest {
    /// Only buckets whose name starts with this.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub prefix: Option<String>,
}

/// One bucket (the Mendix `Bucket` entity).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// When it was created, RFC 3339.
    pub creation_date: Option<String>,
    /// Its region, when the store reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Result: the buckets, in the store's order (by name on S3).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListBucketsResult {
    /// The buckets.
    pub buckets: Vec<Bucket>,
}

impl ActionRequest for ListBucketsRequest {
    const NAME: &'static str = "listBuckets";
    const LABEL: &'static str = "List buckets";
    const ITEMS: &'static [&'static str] = &["buckets"];
    type Result = ListBucketsResult;

    /// Nothing to check but the prefix length.
    fn validate(&self) -> Result<()> {
        crate::validate::prefix("prefix", self.prefix.as_deref().unwrap_or(""))
    }

    /// # Behavior
    /// Pages through ListBuckets until the store says there are no more.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<ListBucketsResult> {
        self.validate()?;
        let mut buckets = Vec::new();
        let mut token: Option<String> = None;
        let mut markers = crate::listing::Markers::new(None);
        loop {
            let out = conn
                .client()
                .list_buckets()
                .set_prefix(self.prefix.clone())
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| Error::from_sdk(e, "ListBuckets", Missing::Bucket))?;
            // Filtered here too: some S3-compatible stores (s3s-fs) ignore the prefix parameter.
            let wanted = |name: &str| self.prefix.as_deref().is_none_or(|p| name.starts_with(p));
            for b in out.buckets().iter().filter(|b| wanted(b.name().unwrap_or_default())) {
                buckets.push(Bucket {
                    name: b.name().unwrap_or_default().to_string(),
                    creation_date: b.creation_date().and_then(rfc3339),
                    region: b.bucket_region().map(str::to_string),
                });
            }
            match out.continuation_token() {
                Some(t) if !t.is_empty() => {
                    markers.follow(t.to_string(), "ListBuckets")?;
                    token = Some(t.to_string());
                }
                _ => break,
            }
        }
        Ok(ListBucketsResult { buckets })
    }

    /// One line per entry, as columns.
    fn human(result: &ListBucketsResult) -> Human {
        let lines = result
            .buckets
            .iter()
            .map(|b| format!("{:<25} {}", b.creation_date.as_deref().unwrap_or("-"), b.name))
            .collect();
        Human { lines, hint: None }
    }
}
