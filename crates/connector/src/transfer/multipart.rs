//! One multipart upload's life: create (retried by us, so that an unanswered attempt's upload
//! is found and aborted), parts, complete (an answer lost is recognised by the ETag), and abort
//! with its own budget. An upload dropped unsettled (Ctrl-C, a deadline) is aborted in the
//! background.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};

use super::UploadTarget;
use crate::client::Connector;
use crate::config::ChecksumMode;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::telemetry::Direction;
use crate::validate::MAX_PARTS;

/// A multipart upload in progress. Every failure path goes through [`Multipart::abort`], so no
/// upload is left behind to be billed.
pub(crate) struct Multipart<'a> {
    conn: &'a Connector,
    bucket: &'a str,
    key: &'a str,
    upload_id: String,
    checksums: bool,
    /// The SSE-C key the object is written with: every part must give it too.
    customer_key: Option<&'a crate::encryption::CustomerKey>,
    /// Set once the upload is completed or aborted; until then `Drop` aborts it.
    settled: std::sync::atomic::AtomicBool,
}

impl Drop for Multipart<'_> {
    /// An upload dropped unsettled was cancelled mid-way (its future dropped, e.g. on Ctrl-C):
    /// abort it in the background so no parts are left behind.
    fn drop(&mut self) {
        if self.settled.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let client = self.conn.client().clone();
        let (bucket, key, upload_id) = (self.bucket.to_string(), self.key.to_string(), self.upload_id.clone());
        self.conn.live_uploads(|live| {
            live.remove(&upload_id);
        });
        tracing::info!(%upload_id, "upload cancelled; aborting its multipart upload");
        self.conn.spawn_cleanup(async move {
            if let Err(e) = abort_upload(&client, &bucket, &key, &upload_id).await {
                tracing::warn!(%upload_id, "could not abort the cancelled multipart upload: {}; clean it up with: {}", e.message, cleanup_command(&bucket, &key, &upload_id));
            }
        });
    }
}

impl<'a> Multipart<'a> {
    /// Starts a multipart upload.
    ///
    /// # Behavior
    /// Retried here, not by the SDK, because a CreateMultipartUpload whose answer is lost has
    /// still started an upload on the store, which nobody would ever complete or abort. When an
    /// attempt failed without an answer from the store, the uploads of this key that were
    /// started since the first attempt (and are not the one finally used) are aborted once an
    /// attempt succeeds, or fails for good.
    pub(crate) async fn create(conn: &'a Connector, t: &UploadTarget<'a>) -> Result<Multipart<'a>> {
        let checksums = conn.settings().effective_checksums() == ChecksumMode::WhenSupported;
        let what = format!("CreateMultipartUpload s3://{}/{}", t.bucket, t.key);
        let started = std::time::SystemTime::now();
        // Counted until this upload is in the live set (the guard drops after the insert below),
        // so that another upload's stray clean-up waits for it instead of taking it for a stray.
        let mut in_flight = CreateInFlight {
            conn,
            bucket: t.bucket,
            key: t.key,
            started,
            creating: Some(conn.creating(t.bucket, t.key)),
            may_have_started: false,
        };
        let mut unanswered = false;
        let mut attempt = 0;
        let created = loop {
            attempt += 1;
            let mut req = super::for_target!(conn.client().create_multipart_upload(), t);
            if checksums {
                req = req.checksum_algorithm(ChecksumAlgorithm::Crc32);
            }
            in_flight.may_have_started = true;
            let sent = req
                .customize()
                .config_override(
                    aws_sdk_s3::config::Builder::default()
                        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(1)),
                )
                .send()
                .await;
            match sent {
                Ok(out) => break Ok(out),
                Err(e) => {
                    // A refusal (4xx) or SlowDown means the store started nothing; a 500, 502 or
                    // 504 (from the store, or a load balancer in front of it) may have come after
                    // the upload was started, as may a broken connection.
                    let answered = match &e {
                        aws_sdk_s3::error::SdkError::ServiceError(s) => {
                            let status = s.raw().status().as_u16();
                            (400..500).contains(&status) || status == 503
                        }
                        _ => false,
                    };
                    unanswered |= !answered;
                    in_flight.may_have_started = unanswered;
                    let err = Error::from_sdk(e, &what, Missing::Bucket);
                    if !err.retryable() || attempt >= conn.max_attempts() {
                        break Err(err);
                    }
                    tokio::time::sleep(retry_pause(attempt, err.code)).await;
                }
            }
        };
        let kept = created
            .as_ref()
            .ok()
            .and_then(|out| out.upload_id())
            .map(str::to_string);
        if unanswered {
            abort_strays(conn, t.bucket, t.key, started, kept.as_deref(), 1).await;
        }
        // Settled: no await from here to the live set.
        let _creating = in_flight.creating.take();
        created?;
        let upload_id =
            kept.ok_or_else(|| Error::new(ErrorCode::ServiceError, "CreateMultipartUpload returned no upload id"))?;
        conn.live_uploads(|live| {
            live.insert(upload_id.clone());
        });
        Ok(Multipart {
            conn,
            bucket: t.bucket,
            key: t.key,
            upload_id,
            checksums,
            customer_key: t.customer_key,
            settled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn settle(&self) {
        self.settled.store(true, std::sync::atomic::Ordering::SeqCst);
        self.conn.live_uploads(|live| {
            live.remove(&self.upload_id);
        });
    }

    pub(crate) async fn upload_part(&self, number: i32, body: ByteStream, len: u64) -> Result<CompletedPart> {
        let mut req = self
            .conn
            .client()
            .upload_part()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .content_length(len as i64)
            .body(body);
        req = crate::encryption::with_customer_key!(req, self.customer_key);
        if self.checksums {
            req = req.checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let out = req
            .customize()
            .config_override(self.conn.no_attempt_timeout())
            .send()
            .await
            .map_err(|e| {
                Error::from_sdk(
                    e,
                    &format!("UploadPart {number} of s3://{}/{}", self.bucket, self.key),
                    Missing::Key,
                )
            })?;
        self.conn.metrics().moved(Direction::Up, len);
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(out.e_tag().map(str::to_string))
            .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
            .build())
    }

    /// Copies `range` (`bytes=A-B`) of `copy_source` into part `number`, only if the source
    /// still has ETag `if_match`.
    pub(crate) async fn upload_part_copy(
        &self,
        number: i32,
        copy_source: &str,
        range: String,
        if_match: &str,
        source_key: Option<&crate::encryption::CustomerKey>,
    ) -> Result<CompletedPart> {
        let req = self
            .conn
            .client()
            .upload_part_copy()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .copy_source(copy_source)
            .copy_source_range(range)
            .copy_source_if_match(if_match);
        let req = crate::encryption::with_customer_key!(req, self.customer_key);
        let out = crate::encryption::with_copy_source_customer_key!(req, source_key)
            .customize()
            .config_override(self.conn.no_attempt_timeout())
            .send()
            .await
            .map_err(|e| {
                Error::from_sdk(
                    e,
                    &format!("UploadPartCopy {number} into s3://{}/{}", self.bucket, self.key),
                    Missing::Key,
                )
            })?;
        let result = out.copy_part_result();
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(result.and_then(|r| r.e_tag()).map(str::to_string))
            .set_checksum_crc32(result.and_then(|r| r.checksum_crc32()).map(str::to_string))
            .build())
    }

    async fn complete(&self, mut parts: Vec<CompletedPart>) -> Result<Option<String>> {
        parts.sort_by_key(|p| p.part_number());
        let expected = multipart_etag(&parts);
        let out = self
            .conn
            .client()
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .customize()
            .config_override(self.conn.no_attempt_timeout())
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.e_tag().map(str::to_string)),
            Err(e) => {
                let err = Error::from_sdk(
                    e,
                    &format!("CompleteMultipartUpload s3://{}/{}", self.bucket, self.key),
                    Missing::Key,
                );
                // A completion whose answer was lost is retried by the SDK; the retry then finds
                // no upload (it was completed). If the object now has exactly the ETag these
                // parts make, the first attempt went through.
                if err.code == ErrorCode::NoSuchKey {
                    if let Some(expected) = expected {
                        let head = self
                            .conn
                            .client()
                            .head_object()
                            .bucket(self.bucket)
                            .key(self.key)
                            .send()
                            .await;
                        if let Ok(h) = head {
                            if h.e_tag().map(|t| t.trim_matches('"')) == Some(expected.as_str()) {
                                tracing::info!(upload_id = %self.upload_id, "the multipart upload was completed by an attempt whose answer was lost");
                                return Ok(h.e_tag().map(str::to_string));
                            }
                        }
                    }
                }
                Err(err)
            }
        }
    }

    /// Aborts the upload and returns `err`, noting in its message if the abort failed too.
    pub(crate) async fn abort(&self, err: Error) -> Error {
        let res = abort_upload(self.conn.client(), self.bucket, self.key, &self.upload_id).await;
        self.settle();
        match res {
            Ok(()) => err,
            Err(abort) => {
                tracing::warn!(upload_id = %self.upload_id, "could not abort multipart upload: {}", abort.message);
                let mut err = err;
                err.message = format!(
                    "{}; its multipart upload {} could not be aborted either ({}); clean it up with: {}",
                    err.message,
                    self.upload_id,
                    abort.message,
                    cleanup_command(self.bucket, self.key, &self.upload_id)
                );
                err
            }
        }
    }

    /// Completes with `parts`, or aborts if any part failed.
    pub(crate) async fn finish(&self, parts: Result<Vec<CompletedPart>>) -> Result<Option<String>> {
        let parts = match parts {
            Ok(p) => p,
            Err(e) => return Err(self.abort(e).await),
        };
        match self.complete(parts).await {
            Ok(etag) => {
                self.settle();
                Ok(etag)
            }

            Err(e) => Err(self.abort(e).await),
        }
    }
}

/// How long an abort keeps trying, in all, while the store throttles or fails: the abort has its
/// own budget, apart from the request's retries, because giving up leaves parts that are billed.
pub const ABORT_BUDGET: Duration = Duration::from_secs(20);

/// How long a front end waits for cancelled actions' clean-up before it exits: the abort's
/// budget, and a margin for the last attempt's answer.
pub const CLEANUP_WAIT: Duration = Duration::from_secs(25);

/// Aborts a multipart upload, retrying with backoff (longer while the store says SlowDown) for
/// up to [`ABORT_BUDGET`]. An upload that is already gone counts as aborted.
pub(crate) async fn abort_upload(client: &aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
    abort_one(client, bucket, key, upload_id, false).await
}

/// As [`abort_upload`], but an upload the store does not know at the first attempt is an error
/// (`NoSuchKey`): the caller named it, and a mistyped id is not "aborted". Gone at a later
/// attempt, it counts as aborted (an earlier attempt did it and its answer was lost).
pub(crate) async fn abort_named_upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<()> {
    abort_one(client, bucket, key, upload_id, true).await
}

async fn abort_one(client: &aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str, named: bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + ABORT_BUDGET;
    let mut wait = Duration::from_millis(200);
    let what = format!("AbortMultipartUpload s3://{bucket}/{key}");
    // Whether no earlier attempt can have aborted the upload: those the store answered with an
    // error (SlowDown, a refusal) did not; one whose answer never came may have.
    let mut none_applied = true;
    loop {
        // One attempt per send, each bounded by what is left of the budget: the loop is the
        // retry, so that the budget is a bound and not a hint.
        let sent = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default()
                    .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(1)),
            )
            .send();
        let err = match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => Error::from_sdk(e, &what, Missing::Key),
            Err(_) => {
                return Err(Error::new(
                    ErrorCode::Timeout,
                    format!(
                        "{what}: no answer within the abort's budget of {} s",
                        ABORT_BUDGET.as_secs()
                    ),
                ))
            }
        };
        if err.code == ErrorCode::NoSuchKey {
            if named && none_applied {
                return Err(Error::new(
                    ErrorCode::NoSuchKey,
                    format!("no upload {upload_id} of s3://{bucket}/{key} is in progress (see listMultipartUploads)"),
                ));
            }
            return Ok(());
        }
        if matches!(err.code, ErrorCode::Network | ErrorCode::Timeout) {
            none_applied = false;
        }
        let pause = if err.code == ErrorCode::Throttled {
            wait.max(Duration::from_secs(1))
        } else {
            wait
        };
        let pause = pause + Duration::from_millis(rand::random::<u64>() % (pause.as_millis() as u64 / 4 + 1));
        if !err.retryable() || tokio::time::Instant::now() + pause > deadline {
            return Err(err);
        }
        tracing::info!(%upload_id, code = err.code.as_str(), "abort failed; trying again in {} ms", pause.as_millis());
        tokio::time::sleep(pause).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// The pause before retry `attempt` (1-based) of a request we retry ourselves: exponential
/// with jitter, as the SDK's standard mode, and at least a second after SlowDown.
fn retry_pause(attempt: u32, code: ErrorCode) -> Duration {
    let base = Duration::from_millis(100) * 2u32.saturating_pow(attempt.saturating_sub(1).min(6));
    let base = if code == ErrorCode::Throttled {
        base.max(Duration::from_secs(1))
    } else {
        base
    };
    base + Duration::from_millis(rand::random::<u64>() % (base.as_millis() as u64 + 1))
}

/// A CreateMultipartUpload being sent. Dropped before it settled (Ctrl-C, SIGTERM, a deadline,
/// a job cancelled), it may have started an upload on the store whose id never came back:
/// the upload is looked for and aborted in the background, as after a lost answer.
struct CreateInFlight<'a> {
    conn: &'a Connector,
    bucket: &'a str,
    key: &'a str,
    started: std::time::SystemTime,
    /// Taken once the create settled.
    creating: Option<crate::client::Creating>,
    /// Whether an attempt may have started an upload: one is being sent, or one went
    /// unanswered. Cancelled in a pause after answered refusals, there is nothing to look for.
    may_have_started: bool,
}

/// How long a cancelled create's clean-up waits before it looks: a store that had the request
/// may still be starting the upload.
const CANCELLED_CREATE_PAUSE: Duration = Duration::from_secs(1);

impl Drop for CreateInFlight<'_> {
    fn drop(&mut self) {
        // Dropping the count at once: this create will never make an upload live, and other
        // uploads' clean-ups need not wait for it.
        if self.creating.take().is_none() || !self.may_have_started {
            return;
        }
        let conn = self.conn.clone();
        let (bucket, key, started) = (self.bucket.to_string(), self.key.to_string(), self.started);
        tracing::info!(
            bucket,
            key,
            "upload cancelled while it was being started; aborting what it may have started"
        );
        self.conn.spawn_cleanup(async move {
            tokio::time::sleep(CANCELLED_CREATE_PAUSE).await;
            abort_strays(&conn, &bucket, &key, started, None, 0).await;
        });
    }
}

/// How long a stray clean-up waits for other uploads of the same key to finish starting.
const STRAY_WAIT: Duration = Duration::from_secs(30);
/// How many uploads under a key a stray clean-up looks through at most: it runs on a
/// transfer's way out, and a prefix holding a crowd of other keys' uploads must not keep it
/// paging (about ten requests at most).
const STRAY_SCAN: usize = 10_000;

/// Aborts the uploads of `key` that attempts of ours may have started without us learning their
/// ids: those started since `since` (less a few seconds for the store's clock), except `kept` and
/// every upload this process has running (other jobs may be writing the same key; their creates
/// still in flight are waited for: `own` of those in flight are the caller's). Another process
/// starting an upload of the very same key in those seconds would have it aborted, and fail
/// with a retryable error; that window is the price of not leaving billed uploads behind, and
/// it opens only after a create went unanswered (or was cancelled while it was being sent).
async fn abort_strays(
    conn: &Connector,
    bucket: &str,
    key: &str,
    since: std::time::SystemTime,
    kept: Option<&str>,
    own: usize,
) {
    let since = since - Duration::from_secs(5);
    let until = tokio::time::Instant::now() + STRAY_WAIT;
    // Another upload of this key starting in this process would look like a stray until its
    // create is answered and it is live: no create of another may be in flight from before the
    // listing until after it. One that was is waited for and the listing taken again; one that
    // ended before the check below is in the live set read after it.
    let (uploads, listed) = loop {
        while conn.creates_in_flight(bucket, key) > own {
            if tokio::time::Instant::now() >= until {
                tracing::warn!(
                    bucket,
                    key,
                    "other uploads of this key are still starting; uploads started by unanswered attempts are left: check with list-multipart-uploads"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (mut uploads, mut seen) = (Vec::new(), 0usize);
        // Longer keys under the same prefix are skipped, not a reason to stop: not every store
        // lists in key order.
        let listed = crate::listing::uploads_in_progress(conn, bucket, Some(key), |u| {
            if seen == STRAY_SCAN {
                return false;
            }
            seen += 1;
            if u.key == key {
                uploads.push(u);
            }
            true
        })
        .await;
        if conn.creates_in_flight(bucket, key) <= own {
            break (uploads, listed);
        }
    };
    match listed {
        Err(e) => {
            tracing::warn!(
                bucket,
                key,
                "could not look for uploads started by unanswered attempts ({}); check with list-multipart-uploads",
                e.message
            );
            return;
        }
        Ok(false) => {}
        Ok(true) => tracing::warn!(
            bucket,
            key,
            "more than {STRAY_SCAN} uploads under this key: some started by unanswered attempts may be left; check with list-multipart-uploads"
        ),
    }
    let mut live = std::collections::HashSet::new();
    conn.live_uploads(|l| live.clone_from(l));
    for u in uploads {
        let ours = u.key == key
            && Some(u.upload_id.as_str()) != kept
            && !live.contains(&u.upload_id)
            && u.started().is_some_and(|s| s >= since);
        if ours {
            tracing::info!(upload_id = %u.upload_id, "aborting an upload started by an attempt whose answer was lost");
            if let Err(e) = abort_upload(conn.client(), bucket, key, &u.upload_id).await {
                tracing::warn!(upload_id = %u.upload_id, "could not abort it: {}", e.message);
            }
        }
    }
}

/// The command that removes the upload `upload_id` of `key` left behind, for messages.
pub fn cleanup_command(bucket: &str, key: &str, upload_id: &str) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    format!(
        "s3-connector abort-multipart-uploads {} --key {} --upload-id {} (or the action abortMultipartUploads)",
        quote(bucket),
        quote(key),
        quote(upload_id)
    )
}

/// The ETag S3 gives an object assembled from `parts`: the MD5 of the parts' binary MD5s, a dash
/// and the count. `None` when a part's ETag is not a plain MD5 (encrypted stores differ).
fn multipart_etag(parts: &[CompletedPart]) -> Option<String> {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    for part in parts {
        let hex = part.e_tag()?.trim_matches('"');
        if hex.len() != 32 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..16)
            .map(|i| u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok())
            .collect();
        hasher.update(bytes?);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{hex}-{}", parts.len()))
}

/// The part size for `size` bytes: the configured one, raised to stay within 10,000 parts.
pub fn part_size_for(configured: u64, size: u64) -> u64 {
    configured.max(size.div_ceil(MAX_PARTS))
}
