//! `abortMultipartUploads`: aborts multipart uploads left behind, by prefix and age, or one
//! upload by key and id. The clean-up that an error names when an abort could not finish.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::actions::list_multipart_uploads::{list, parse_age, MultipartUpload, DEFAULT_MAX_UPLOADS};
use crate::error::{Error, ErrorCode, Result};
use crate::transfer::multipart::{abort_named_upload, abort_upload};
use crate::client::Connector;
use crate::validate;

/// Request: the uploads under `prefix` (all when absent) older than `olderThan`, or exactly one
/// with `key` and `uploadId`. `olderThan` is required in the first form: aborting every upload
/// regardless of age (`"0s"`) cuts off uploads that are running, and must be asked for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Examples:\n  s3-connector abort-multipart-uploads backups --older-than 24h --dry-run\n  s3-connector abort-multipart-uploads backups \\\n      --prefix db/2026-11-30.dump --older-than 0s\n  s3-connector abort-multipart-uploads backups --key db.dump --upload-id 2~abc\n\nAn abort cuts a running upload off, so --older-than is required: an age longer\nthan any of your uploads runs, or 0s for every upload."))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbortMultipartUploadsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only uploads of keys starting with this.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub prefix: Option<String>,
    /// Only uploads started longer ago than this: `30m`, `24h`, `7d` (or ISO-8601 `P7D`).
    /// Required unless `key` and `uploadId` name one upload; `0s` means every upload, running
    /// ones included (an abort cuts a live upload off).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, value_name = "AGE", required_unless_present = "key"))]
    pub older_than: Option<String>,
    /// Most uploads to abort in one call (default 10,000); the result says when more matched.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub max_uploads: Option<u32>,
    /// With `uploadId`: abort this one upload of this key.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, requires = "upload_id"))]
    pub key: Option<String>,
    /// With `key`: the upload to abort.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, requires = "key"))]
    pub upload_id: Option<String>,
    /// List what would be aborted, abort nothing.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub dry_run: bool,
}

/// One upload that could not be aborted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AbortFailure {
    /// The key.
    pub key: String,
    /// The upload's id.
    pub upload_id: String,
    /// Our error code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortMultipartUploadsResult {
    /// Bucket.
    pub bucket: String,
    /// Whether this was a dry run (nothing aborted).
    pub dry_run: bool,
    /// The uploads aborted (in a dry run: that would be).
    pub aborted: Vec<MultipartUpload>,
    /// The uploads that could not be aborted.
    pub failed: Vec<AbortFailure>,
    /// Whether more uploads matched than `maxUploads` allowed: call again.
    pub truncated: bool,
}

impl ActionRequest for AbortMultipartUploadsRequest {
    const NAME: &'static str = "abortMultipartUploads";
    const LABEL: &'static str = "Abort unfinished uploads";
    const ITEMS: &'static [&'static str] = &["aborted", "failed"];
    type Result = AbortMultipartUploadsResult;

    /// Checks the fields: `key` and `uploadId` go together, and not with `prefix`/`olderThan`.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        if let Some(p) = &self.prefix {
            validate::prefix("prefix", p)?;
        }
        if let Some(age) = &self.older_than {
            parse_age("olderThan", age)?;
        }
        match (&self.key, &self.upload_id) {
            (Some(k), Some(id)) => {
                validate::key("key", k)?;
                if id.trim().is_empty() {
                    return Err(Error::invalid_input("uploadId", "must not be empty"));
                }
                if self.prefix.is_some() || self.older_than.is_some() {
                    return Err(Error::invalid_input(
                        "key",
                        "give either key and uploadId (one upload), or prefix and olderThan, not both",
                    ));
                }
                Ok(())
            }
            (Some(_), None) => Err(Error::invalid_input(
                "uploadId",
                "is required with key; to abort every upload of a key, give it as prefix",
            )),
            (None, Some(_)) => Err(Error::invalid_input("key", "is required with uploadId")),
            (None, None) if self.older_than.is_none() => Err(Error::invalid_input(
                "olderThan",
                "is required: give an age such as 24h (uploads started since may still be running), or 0s for every upload, or key and uploadId for one",
            )),
            (None, None) if self.max_uploads == Some(0) => Err(Error::invalid_input("maxUploads", "must be at least 1")),
            (None, None) => Ok(()),
        }
    }

    /// # Behavior
    /// Lists the matching uploads, then aborts each (unless `dryRun`), each abort retried with
    /// backoff while the store throttles. One failure does not stop the others; each is in
    /// `failed`. An upload already gone counts as aborted. Objects are never touched: an abort
    /// only discards the parts of an upload that was never completed.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<AbortMultipartUploadsResult> {
        self.validate()?;
        let one = matches!((&self.key, &self.upload_id), (Some(_), Some(_)));
        let (uploads, truncated) = match (&self.key, &self.upload_id) {
            (Some(key), Some(id)) => (
                vec![MultipartUpload {
                    key: key.clone(),
                    upload_id: id.clone(),
                    initiated: None,
                    age_seconds: None,
                }],
                false,
            ),
            _ => {
                let min_age = self
                    .older_than
                    .as_deref()
                    .map(|a| parse_age("olderThan", a))
                    .transpose()?;
                let max = self.max_uploads.unwrap_or(DEFAULT_MAX_UPLOADS) as usize;
                list(conn, &self.bucket, self.prefix.as_deref(), min_age, max).await?
            }
        };
        let mut aborted = Vec::new();
        let mut failed = Vec::new();
        for upload in uploads {
            // One upload named by id must exist: a mistyped id is not "aborted". A dry run
            // looks for it in the listing of its key; a real one learns it from the abort's
            // answer.
            if one && self.dry_run {
                if let Err(e) = listed(conn, &self.bucket, &upload).await {
                    failed.push(AbortFailure {
                        code: e.code,
                        message: e.message,
                        key: upload.key,
                        upload_id: upload.upload_id,
                    });
                    continue;
                }
            }
            if self.dry_run {
                aborted.push(upload);
                continue;
            }
            let aborting = if one {
                abort_named_upload(conn.client(), &self.bucket, &upload.key, &upload.upload_id).await
            } else {
                abort_upload(conn.client(), &self.bucket, &upload.key, &upload.upload_id).await
            };
            match aborting {
                Ok(()) => aborted.push(upload),
                Err(e) => failed.push(AbortFailure {
                    key: upload.key,
                    upload_id: upload.upload_id,
                    code: e.code,
                    message: e.message,
                }),
            }
        }
        Ok(AbortMultipartUploadsResult {
            bucket: self.bucket,
            dry_run: self.dry_run,
            aborted,
            failed,
            truncated,
        })
    }

    /// One line per entry, as columns.
    fn human(result: &AbortMultipartUploadsResult) -> Human {
        let verb = if result.dry_run { "would abort" } else { "aborted" };
        let mut lines: Vec<String> = result
            .aborted
            .iter()
            .map(|u| format!("{verb} {}  {}", u.key, u.upload_id))
            .chain(
                result
                    .failed
                    .iter()
                    .map(|f| format!("FAILED  {}  {}: {}", f.key, f.upload_id, f.message)),
            )
            .collect();
        lines.push(format!("{} {verb}, {} failed", result.aborted.len(), result.failed.len()));
        Human { lines, hint: None }
    }
}

/// Whether `upload` is in progress: `NoSuchKey` when the store does not list it.
async fn listed(conn: &Connector, bucket: &str, upload: &MultipartUpload) -> Result<()> {
    // Uploads of longer keys under this one are paged past, not counted against a cap: on a
    // store that does not list in key order, the one looked for may come after them.
    let mut found = false;
    crate::listing::uploads_in_progress(conn, bucket, Some(&upload.key), |u| {
        found = u.key == upload.key && u.upload_id == upload.upload_id;
        !found
    })
    .await?;
    if found {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::NoSuchKey,
        format!(
            "no upload {} of s3://{bucket}/{} is in progress (see listMultipartUploads)",
            upload.upload_id, upload.key
        ),
    ))
}
