//! `deleteObjects`: delete many keys, or everything under a prefix, in batches of 1000.

use std::collections::HashMap;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use base64::Engine as _;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::client::Connector;
use crate::validate;

/// S3 deletes at most this many keys per DeleteObjects request.
pub const BATCH: usize = 1000;

/// Request: exactly one of `keys` and `prefix`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Examples:\n  s3-connector --embedded ./data delete-objects reports a.txt b.txt\n  s3-connector --embedded ./data delete-objects reports --prefix 2025/"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteObjectsRequest {
    /// Bucket.
    pub bucket: String,
    /// The keys to delete.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// Delete every key starting with this. `""` means every key in the bucket.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, conflicts_with = "keys"))]
    pub prefix: Option<String>,
}

/// What happened to one key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyOutcome {
    /// The key.
    pub key: String,
    /// Whether it is gone (a key that never existed counts as deleted).
    pub deleted: bool,
    /// Our error code, when it was not deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// The store's message, when it was not deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteObjectsResult {
    /// Bucket.
    pub bucket: String,
    /// How many keys are gone.
    pub deleted: usize,
    /// How many keys could not be deleted.
    pub failed: usize,
    /// Per key, in request (or listing) order.
    pub results: Vec<KeyOutcome>,
}

impl ActionRequest for DeleteObjectsRequest {
    const NAME: &'static str = "deleteObjects";
    const LABEL: &'static str = "Delete objects";
    const ITEMS: &'static [&'static str] = &["results"];
    type Result = DeleteObjectsResult;

    /// Checks the bucket, and that exactly one of `keys`/`prefix` is given with valid keys.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        match (&self.keys, &self.prefix) {
            (Some(_), Some(_)) => Err(Error::invalid_input("prefix", "give either keys or prefix, not both")),
            (None, None) => Err(Error::invalid_input(
                "keys",
                "give the keys to delete, or a prefix (\"\" for the whole bucket)",
            )),
            (Some(keys), None) => {
                if keys.is_empty() {
                    return Err(Error::invalid_input("keys", "must list at least one key"));
                }
                for (i, k) in keys.iter().enumerate() {
                    validate::key(&format!("keys[{i}]"), k)?;
                }
                Ok(())
            }
            (None, Some(p)) => validate::prefix("prefix", p),
        }
    }

    /// # Behavior
    /// Sends DeleteObjects in batches of 1000 with Content-MD5 (required by several
    /// S3-compatible stores). A prefix is listed and deleted page by page, so memory stays
    /// bounded by one page. One key failing does not stop the others; each key's outcome is
    /// in `results`. A whole batch refused (e.g. `AccessDenied`) is returned as an error.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<DeleteObjectsResult> {
        self.validate()?;
        let mut results = Vec::new();
        match (&self.keys, &self.prefix) {
            (Some(keys), _) => {
                for batch in keys.chunks(BATCH) {
                    results.extend(delete_batch(conn, &self.bucket, batch).await?);
                }
            }
            (None, Some(prefix)) => {
                let mut token = None;
                let mut markers = crate::listing::Markers::new(None);
                loop {
                    let out = conn
                        .client()
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.clone())
                        .max_keys(BATCH as i32)
                        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                        .send()
                        .await
                        .map_err(|e| Error::from_sdk(e, &format!("ListObjectsV2 {}", self.bucket), Missing::Bucket))?;
                    let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
                    let keys: Vec<String> = out
                        .contents()
                        .iter()
                        .filter_map(|o| o.key().map(|k| crate::listing::listed_name(k, encoded)))
                        .collect();
                    if !keys.is_empty() {
                        results.extend(delete_batch(conn, &self.bucket, &keys).await?);
                    }
                    match (out.is_truncated(), out.next_continuation_token()) {
                        (Some(true), Some(t)) => {
                            markers.follow(t.to_string(), &format!("ListObjectsV2 {}", self.bucket))?;
                            token = Some(t.to_string());
                        }
                        _ => break,
                    }
                }
            }
            (None, None) => return Err(Error::invalid_input("keys", "give the keys to delete, or a prefix")),
        }
        let deleted = results.iter().filter(|r| r.deleted).count();
        Ok(DeleteObjectsResult {
            bucket: self.bucket,
            deleted,
            failed: results.len() - deleted,
            results,
        })
    }

    /// One line per entry, as columns.
    fn human(result: &DeleteObjectsResult) -> Human {
        let mut lines: Vec<String> = result
            .results
            .iter()
            .map(|k| match &k.message {
                None => format!("deleted {}", k.key),
                Some(m) => format!("FAILED  {}: {m}", k.key),
            })
            .collect();
        lines.push(format!("{} deleted, {} failed", result.deleted, result.failed));
        Human { lines, hint: None }
    }
}

/// Whether a key can travel in an XML body: XML 1.0 has no way to write most control
/// characters, not even as character references.
fn xml_safe(key: &str) -> bool {
    // XML 1.0 has no control characters but tab and line ends, and no U+FFFE or U+FFFF.
    !key.chars()
        .any(|c| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// Deletes `keys`: one DeleteObjects request for the keys XML can carry, and one DeleteObject
/// each (the key in the URL) for the rest, in the order given.
async fn delete_batch(conn: &Connector, bucket: &str, keys: &[String]) -> Result<Vec<KeyOutcome>> {
    if keys.iter().all(|k| xml_safe(k)) {
        return delete_xml_batch(conn, bucket, keys).await;
    }
    let safe: Vec<String> = keys.iter().filter(|k| xml_safe(k)).cloned().collect();
    let mut done: HashMap<String, KeyOutcome> = HashMap::new();
    if !safe.is_empty() {
        for outcome in delete_xml_batch(conn, bucket, &safe).await? {
            done.insert(outcome.key.clone(), outcome);
        }
    }
    for key in keys.iter().filter(|k| !xml_safe(k)) {
        let sent = conn.client().delete_object().bucket(bucket).key(key).send().await;
        let outcome = match sent {
            Ok(_) => KeyOutcome {
                key: key.clone(),
                deleted: true,
                code: None,
                message: None,
            },
            Err(e) => {
                let e = Error::from_sdk(e, &format!("DeleteObject s3://{bucket}/{key}"), Missing::Key);
                KeyOutcome {
                    key: key.clone(),
                    deleted: false,
                    code: Some(e.code),
                    message: Some(e.message),
                }
            }
        };
        done.insert(key.clone(), outcome);
    }
    Ok(keys.iter().filter_map(|k| done.remove(k)).collect())
}

async fn delete_xml_batch(conn: &Connector, bucket: &str, keys: &[String]) -> Result<Vec<KeyOutcome>> {
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid_input("keys", e))?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(false)
        .build()
        .map_err(|e| Error::invalid_input("keys", e))?;
    let out = conn
        .client()
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .customize()
        .mutate_request(|req| {
            // Some stores (older MinIO, Ceph, Garage) insist on Content-MD5 for this call even
            // when a flexible checksum is sent; the body is small XML already in memory.
            if let Some(body) = req.body().bytes() {
                let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body));
                req.headers_mut().insert("Content-MD5", md5);
            }
        })
        .send()
        .await
        .map_err(|e| Error::from_sdk(e, &format!("DeleteObjects {bucket}"), Missing::Bucket))?;
    let mut failures: HashMap<&str, (Option<&str>, Option<&str>)> = HashMap::new();
    for e in out.errors() {
        if let Some(k) = e.key() {
            failures.insert(k, (e.code(), e.message()));
        }
    }
    Ok(keys
        .iter()
        .map(|k| match failures.get(k.as_str()) {
            None => KeyOutcome {
                key: k.clone(),
                deleted: true,
                code: None,
                message: None,
            },
            Some((code, message)) => KeyOutcome {
                key: k.clone(),
                deleted: false,
                code: Some(ErrorCode::from_s3(*code, None, Missing::Key)),
                message: Some(format!(
                    "{}{}",
                    code.map(|c| format!("{c}: ")).unwrap_or_default(),
                    message.unwrap_or("not deleted")
                )),
            },
        })
        .collect())
}
