//! `listObjectVersions`: the versions and delete markers of a bucket's objects, paged for the
//! caller.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::client::Connector;
use crate::error::{Error, Missing, Result};
use crate::listing::{listed_name, Pager};
use crate::s3::{rfc3339, unquote};
use crate::validate;

/// Default cap on entries (versions plus delete markers) returned by one call.
pub const DEFAULT_MAX_VERSIONS: u32 = 100_000;

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector list-object-versions reports --prefix 2026/q1.pdf"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListObjectVersionsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only keys starting with this.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub prefix: Option<String>,
    /// Most entries (versions plus delete markers) to return in all, across pages (default
    /// 100,000).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub max_keys: Option<u32>,
    /// Resume from a previous result's `nextKeyMarker`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub key_marker: Option<String>,
    /// Resume from a previous result's `nextVersionIdMarker` (with `keyMarker`).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id_marker: Option<String>,
}

/// One version of an object.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectVersion {
    /// Key.
    pub key: String,
    /// The version's id (`null` for an object written before versioning was on).
    pub version_id: String,
    /// Whether it is the current version.
    pub is_latest: bool,
    /// Size in bytes.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: Option<String>,
    /// Last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
}

/// A delete marker: the key reads as deleted while it is the current version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMarker {
    /// Key.
    pub key: String,
    /// The marker's version id (delete it to bring the previous version back).
    pub version_id: String,
    /// Whether it is the current version.
    pub is_latest: bool,
    /// When the key was deleted, RFC 3339.
    pub last_modified: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListObjectVersionsResult {
    /// Bucket.
    pub bucket: String,
    /// The versions, by key, newest first within a key.
    pub versions: Vec<ObjectVersion>,
    /// The delete markers, in the same order.
    pub delete_markers: Vec<DeleteMarker>,
    /// Whether more entries remain past `maxKeys`.
    pub is_truncated: bool,
    /// Pass as `keyMarker` to get the rest.
    pub next_key_marker: Option<String>,
    /// Pass as `versionIdMarker` to get the rest.
    pub next_version_id_marker: Option<String>,
}

impl ActionRequest for ListObjectVersionsRequest {
    const NAME: &'static str = "listObjectVersions";
    const LABEL: &'static str = "List object versions";
    const ITEMS: &'static [&'static str] = &["versions", "deleteMarkers"];
    type Result = ListObjectVersionsResult;

    /// Checks bucket, prefix, markers and the limit.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::prefix("prefix", self.prefix.as_deref().unwrap_or(""))?;
        validate::prefix("keyMarker", self.key_marker.as_deref().unwrap_or(""))?;
        validate::version_id("versionIdMarker", self.version_id_marker.as_deref())?;
        if self.version_id_marker.is_some() && self.key_marker.is_none() {
            return Err(Error::invalid_input("versionIdMarker", "goes with keyMarker"));
        }
        if self.max_keys == Some(0) {
            return Err(Error::invalid_input("maxKeys", "must be at least 1"));
        }
        Ok(())
    }

    /// # Behavior
    /// Sends ListObjectVersions pages of up to 1000 entries until `maxKeys` entries are
    /// gathered or the listing ends. When it stops early, `isTruncated` is true and the two
    /// `next` markers resume exactly where it stopped. A store without versioning lists each
    /// object once, with version id `null`.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<ListObjectVersionsResult> {
        self.validate()?;
        let max = self.max_keys.unwrap_or(DEFAULT_MAX_VERSIONS) as usize;
        let what = format!("ListObjectVersions {}", self.bucket);
        let mut versions = Vec::new();
        let mut delete_markers = Vec::new();
        let first = self.key_marker.clone().map(|k| (k, self.version_id_marker.clone()));
        let mut pager = Pager::new(first, max);
        while let Some((marker, room)) = pager.next() {
            let (key_marker, version_marker) = marker.unzip();
            let out = conn
                .client()
                .list_object_versions()
                .bucket(&self.bucket)
                .set_prefix(self.prefix.clone())
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker.flatten())
                .max_keys(room as i32)
                .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                .send()
                .await
                .map_err(|e| Error::from_sdk(e, &what, Missing::Bucket))?;
            let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
            let before = versions.len() + delete_markers.len();
            for v in out.versions() {
                versions.push(ObjectVersion {
                    key: listed_name(v.key().unwrap_or_default(), encoded),
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    is_latest: v.is_latest().unwrap_or(false),
                    size: v.size().unwrap_or(0).max(0) as u64,
                    etag: unquote(v.e_tag()),
                    last_modified: v.last_modified().and_then(rfc3339),
                    storage_class: v.storage_class().map(|s| s.as_str().to_string()),
                });
            }
            for m in out.delete_markers() {
                delete_markers.push(DeleteMarker {
                    key: listed_name(m.key().unwrap_or_default(), encoded),
                    version_id: m.version_id().unwrap_or("null").to_string(),
                    is_latest: m.is_latest().unwrap_or(false),
                    last_modified: m.last_modified().and_then(rfc3339),
                });
            }
            // The key marker comes encoded like the keys, and goes back as the key it is.
            let next_key = out.next_key_marker().map(|k| listed_name(k, encoded));
            let next_version = out.next_version_id_marker().map(str::to_string);
            let next = next_key
                .filter(|_| out.is_truncated() == Some(true))
                .map(|k| (k, next_version));
            pager.got(versions.len() + delete_markers.len() - before, next, &what)?;
        }
        let (next_key_marker, next_version_id_marker) = match pager.resume() {
            Some((k, v)) => (Some(k), v),
            None => (None, None),
        };
        Ok(ListObjectVersionsResult {
            bucket: self.bucket,
            versions,
            delete_markers,
            is_truncated: next_key_marker.is_some(),
            next_key_marker,
            next_version_id_marker,
        })
    }

    /// One line per version or delete marker.
    fn human(result: &ListObjectVersionsResult) -> Human {
        let versions = result.versions.iter().map(|v| {
            format!(
                "{:>25} {:>12} {:<36} {}{}",
                v.last_modified.as_deref().unwrap_or("-"),
                v.size,
                v.version_id,
                v.key,
                if v.is_latest { " (latest)" } else { "" }
            )
        });
        let markers = result.delete_markers.iter().map(|m| {
            format!(
                "{:>25} {:>12} {:<36} {}{}",
                m.last_modified.as_deref().unwrap_or("-"),
                "DELETED",
                m.version_id,
                m.key,
                if m.is_latest { " (latest)" } else { "" }
            )
        });
        Human {
            lines: versions.chain(markers).collect(),
            hint: result.next_key_marker.as_ref().map(|k| {
                format!(
                    "(more: pass --key-marker {k}{})",
                    result
                        .next_version_id_marker
                        .as_ref()
                        .map(|v| format!(" --version-id-marker {v}"))
                        .unwrap_or_default()
                )
            }),
        }
    }
}
