//! `listBuckets`: every bucket the credentials can see (Mendix "List Bucket").

use serde::{Deserialize, Serialize};

use crate::actions::rfc3339;
use crate::error::{Error, Missing, Result};
use crate::Connector;

/// Request: no fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListBucketsRequest {
    /// Only buckets whose name starts with this.
    #[serde(default)]
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

impl ListBucketsRequest {
    /// Nothing to check but the prefix length.
    pub fn validate(&self) -> Result<()> {
        crate::validate::prefix("prefix", self.prefix.as_deref().unwrap_or(""))
    }

    /// # Behavior
    /// Pages through ListBuckets until the store says there are no more.
    pub async fn execute(self, conn: &Connector) -> Result<ListBucketsResult> {
        self.validate()?;
        let mut buckets = Vec::new();
        let mut token: Option<String> = None;
        let mut markers = super::Markers::new(None);
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
}
