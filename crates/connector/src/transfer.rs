//! Streaming uploads and downloads, shared by the object actions.
//!
//! Memory stays flat as objects grow:
//! - a file upload reads each part straight from the file (`ByteStream` with an offset and
//!   length), so nothing is buffered beyond the HTTP client's own small buffers;
//! - a stream upload (stdin, an HTTP body) buffers at most `concurrency + 1` parts;
//! - a download writes each chunk to disk as it arrives.
//!
//! Failure leaves nothing behind: a failed multipart upload is aborted (with its own retry
//! budget, so that a throttling store does not leave it open), and a download goes to a
//! temporary file beside the target that is renamed into place only when complete.
//!
//! Faults are normal: a part whose connection breaks or stalls is retried by the SDK (its body is
//! re-read from the file or from memory), and a download whose body breaks part-way resumes from
//! the last byte received with a ranged GET pinned to the object's ETag (`If-Match`), so a
//! replaced object fails as `PreconditionFailed` instead of mixing two versions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::{BufMut as _, Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use crate::config::ChecksumMode;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::validate::{ByteRange, MAX_PARTS};
use crate::Connector;

/// Reports transfer progress, e.g. to a progress bar. All methods are cheap and may be
/// called from several tasks at once.
pub trait Progress: Send + Sync {
    /// The total number of bytes, once known.
    fn set_total(&self, bytes: u64);
    /// `bytes` more were moved.
    fn advance(&self, bytes: u64);
}

/// A [`Progress`] that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Where an upload's bytes come from.
pub enum UploadSource {
    /// A local file, read part by part.
    File(PathBuf),
    /// A stream of unknown length (stdin, a request body).
    Reader(Box<dyn AsyncRead + Send + Unpin>),
    /// Bytes already in memory (small inline content).
    Bytes(Bytes),
}

/// What to upload to.
pub struct UploadTarget<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// Key.
    pub key: &'a str,
    /// Content type to store.
    pub content_type: &'a str,
    /// User metadata to store.
    pub metadata: &'a BTreeMap<String, String>,
}

/// What an upload produced.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Bytes stored.
    pub size: u64,
    /// The ETag the store gave the object.
    pub etag: Option<String>,
    /// Number of parts, 0 for a single PUT.
    pub parts: u32,
}

/// Uploads `source` to `target`: a single PUT up to the multipart threshold, multipart above.
pub async fn upload(
    conn: &Connector,
    target: &UploadTarget<'_>,
    source: UploadSource,
    progress: &dyn Progress,
) -> Result<Uploaded> {
    let threshold = conn.transfer().multipart_threshold;
    match source {
        UploadSource::Bytes(bytes) => {
            progress.set_total(bytes.len() as u64);
            let size = bytes.len() as u64;
            let out = put_single(conn, target, ByteStream::from(bytes), size).await?;
            progress.advance(size);
            Ok(out)
        }
        UploadSource::File(path) => {
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|e| Error::local_io("read", &path, &e))?;
            if !meta.is_file() {
                return Err(Error::invalid_input(
                    "file",
                    format!("{} is not a regular file", path.display()),
                ));
            }
            let size = meta.len();
            progress.set_total(size);
            if size <= threshold {
                let body = ByteStream::read_from()
                    .path(&path)
                    .build()
                    .await
                    .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot read {}: {e}", path.display())))?;
                let out = put_single(conn, target, body, size).await?;
                progress.advance(size);
                Ok(out)
            } else {
                upload_file_multipart(conn, target, &path, size, progress).await
            }
        }
        UploadSource::Reader(mut reader) => {
            // The first chunk is at least a part and at least the threshold: if the stream ends
            // inside it, one PUT does; otherwise it becomes part 1.
            let first_len = conn.transfer().part_size.max(threshold) as usize;
            let first = read_chunk(&mut reader, first_len).await?;
            if first.len() < first_len {
                // The whole stream fitted below the threshold: one PUT.
                let size = first.len() as u64;
                progress.set_total(size);
                let out = put_single(conn, target, ByteStream::from(first), size).await?;
                progress.advance(size);
                return Ok(out);
            }
            upload_stream_multipart(conn, target, first, reader, progress).await
        }
    }
}

/// Reads up to `len` bytes, stopping early only at end of stream.
async fn read_chunk(reader: &mut (dyn AsyncRead + Send + Unpin), len: usize) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let room = len - buf.len();
        let n = reader.read_buf(&mut (&mut buf).limit(room)).await.map_err(read_error)?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

/// Part buffers for one streamed multipart upload, reused from part to part.
///
/// Allocating a part-size buffer for every part and freeing it after the part is sent
/// fragments the allocator's heap (glibc keeps freed multi-MiB blocks once its mmap threshold
/// has risen): a 1 GiB upload then peaked 30-40 MiB higher than the parts in flight explain.
/// Reusing at most `concurrency + 1` buffers keeps the memory to what is really in flight.
#[derive(Clone, Default)]
struct PartBuffers(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

/// A filled part buffer; it goes back to its pool when the last `Bytes` viewing it is dropped.
struct PooledPart {
    buf: Vec<u8>,
    pool: PartBuffers,
}

impl AsRef<[u8]> for PooledPart {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledPart {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.0.lock() {
            free.push(std::mem::take(&mut self.buf));
        }
    }
}

impl PartBuffers {
    /// Reads up to `len` bytes into a pooled buffer, stopping early only at end of stream.
    async fn read(&self, reader: &mut (dyn AsyncRead + Send + Unpin), len: usize) -> Result<Bytes> {
        let mut buf = self
            .0
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_else(|| Vec::with_capacity(len));
        buf.clear();
        while buf.len() < len {
            let room = len - buf.len();
            let n = reader.read_buf(&mut (&mut buf).limit(room)).await.map_err(read_error)?;
            if n == 0 {
                break;
            }
        }
        Ok(Bytes::from_owner(PooledPart {
            buf,
            pool: self.clone(),
        }))
    }
}

/// A failed read of an upload's source. A reader that knows what went wrong (e.g. an external
/// document over its size limit) says so with our error inside the I/O error: keep its code.
fn read_error(e: std::io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(ours) => ours.clone(),
        None => Error::new(ErrorCode::LocalIo, format!("cannot read the input stream: {e}")),
    }
}

async fn put_single(conn: &Connector, t: &UploadTarget<'_>, body: ByteStream, size: u64) -> Result<Uploaded> {
    let mut req = conn
        .client()
        .put_object()
        .bucket(t.bucket)
        .key(t.key)
        .content_type(t.content_type)
        .content_length(size as i64)
        .set_metadata(metadata_map(t.metadata))
        .body(body);
    if conn.settings().effective_checksums() == ChecksumMode::WhenSupported {
        req = req.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    // The body is retryable (a file re-read from its start, or bytes in memory), so the SDK
    // retries a PUT whose connection breaks or stalls.
    let out = req
        .customize()
        .config_override(conn.no_attempt_timeout())
        .send()
        .await
        .map_err(|e| Error::from_sdk(e, &format!("PutObject s3://{}/{}", t.bucket, t.key), Missing::Bucket))?;
    Ok(Uploaded {
        size,
        etag: out.e_tag().map(str::to_string),
        parts: 0,
    })
}

fn metadata_map(meta: &BTreeMap<String, String>) -> Option<std::collections::HashMap<String, String>> {
    (!meta.is_empty()).then(|| meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// A multipart upload in progress. Every failure path goes through [`Multipart::abort`], so no
/// upload is left behind to be billed.
pub(crate) struct Multipart<'a> {
    conn: &'a Connector,
    bucket: &'a str,
    key: &'a str,
    upload_id: String,
    checksums: bool,
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
            let mut req = conn
                .client()
                .create_multipart_upload()
                .bucket(t.bucket)
                .key(t.key)
                .content_type(t.content_type)
                .set_metadata(metadata_map(t.metadata));
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
            settled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn settle(&self) {
        self.settled.store(true, std::sync::atomic::Ordering::SeqCst);
        self.conn.live_uploads(|live| {
            live.remove(&self.upload_id);
        });
    }

    async fn upload_part(&self, number: i32, body: ByteStream, len: u64) -> Result<CompletedPart> {
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
    ) -> Result<CompletedPart> {
        let out = self
            .conn
            .client()
            .upload_part_copy()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .copy_source(copy_source)
            .copy_source_range(range)
            .copy_source_if_match(if_match)
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
    async fn abort(&self, err: Error) -> Error {
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

async fn upload_file_multipart(
    conn: &Connector,
    t: &UploadTarget<'_>,
    path: &Path,
    size: u64,
    progress: &dyn Progress,
) -> Result<Uploaded> {
    let part_size = part_size_for(conn.transfer().part_size, size);
    let count = size.div_ceil(part_size);
    let mpu = Multipart::create(conn, t).await?;
    let concurrency = conn.transfer().concurrency;
    let parts = async {
        let mut pending = futures::stream::iter(0..count)
            .map(|i| {
                let mpu = &mpu;
                async move {
                    let offset = i * part_size;
                    let len = part_size.min(size - offset);
                    let body = ByteStream::read_from()
                        .path(path)
                        .offset(offset)
                        .length(Length::Exact(len))
                        .build()
                        .await
                        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot read {}: {e}", path.display())))?;
                    let part = mpu.upload_part((i + 1) as i32, body, len).await?;
                    progress.advance(len);
                    Ok::<_, Error>(part)
                }
            })
            .buffer_unordered(concurrency);
        let mut done = Vec::with_capacity(count as usize);
        while let Some(part) = pending.next().await {
            done.push(part?);
        }
        Ok(done)
    }
    .await;
    let etag = mpu.finish(parts).await?;
    Ok(Uploaded {
        size,
        etag,
        parts: count as u32,
    })
}

async fn upload_stream_multipart(
    conn: &Connector,
    t: &UploadTarget<'_>,
    first: Bytes,
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    progress: &dyn Progress,
) -> Result<Uploaded> {
    let part_size = conn.transfer().part_size as usize;
    let concurrency = conn.transfer().concurrency;
    let mpu = Multipart::create(conn, t).await?;
    let buffers = PartBuffers::default();
    let result = async {
        let mut in_flight = FuturesUnordered::new();
        let mut done = Vec::new();
        let mut next = Some(first);
        let mut number: i32 = 0;
        let mut size: u64 = 0;
        loop {
            // Keep at most `concurrency` parts in flight, reading the next one only when a slot
            // is free: that bounds memory to (concurrency + 1) parts.
            while in_flight.len() < concurrency {
                let Some(chunk) = next.take() else { break };
                if chunk.is_empty() && number > 0 {
                    break;
                }
                number += 1;
                if number as u64 > MAX_PARTS {
                    return Err(Error::invalid_input(
                        "partSize",
                        format!("the stream needs more than {MAX_PARTS} parts of {part_size} bytes; raise partSize"),
                    ));
                }
                let len = chunk.len() as u64;
                size += len;
                let mpu = &mpu;
                let n = number;
                in_flight.push(async move {
                    let part = mpu.upload_part(n, ByteStream::from(chunk), len).await?;
                    progress.advance(len);
                    Ok::<_, Error>(part)
                });
                let chunk = buffers.read(&mut reader, part_size).await?;
                if !chunk.is_empty() {
                    next = Some(chunk);
                }
            }
            match in_flight.next().await {
                Some(part) => done.push(part?),
                None => break,
            }
        }
        Ok((done, size, number))
    }
    .await;
    let (parts, size, count) = match result {
        Ok(v) => v,
        Err(e) => return Err(mpu.abort(e).await),
    };
    let etag = mpu.finish(Ok(parts)).await?;
    Ok(Uploaded {
        size,
        etag,
        parts: count as u32,
    })
}

/// What a download learned about the object.
#[derive(Debug, Clone, Default)]
pub struct Downloaded {
    /// Bytes written.
    pub size: u64,
    /// The whole object's size.
    pub object_size: Option<u64>,
    /// Content type.
    pub content_type: Option<String>,
    /// ETag.
    pub etag: Option<String>,
    /// Last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

type GetOutput = aws_sdk_s3::operation::get_object::GetObjectOutput;

fn fill_from_get(d: &mut Downloaded, out: &GetOutput) {
    d.content_type = out.content_type().map(str::to_string);
    d.etag = out.e_tag().map(str::to_string);
    d.last_modified = out.last_modified().and_then(crate::listing::rfc3339);
    d.metadata = out
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    d.object_size = match out.content_range() {
        // "bytes 0-99/1234": the total follows the slash.
        Some(cr) => cr.rsplit('/').next().and_then(|t| t.parse().ok()),
        None => out.content_length().map(|l| l as u64),
    };
}

async fn get(
    conn: &Connector,
    bucket: &str,
    key: &str,
    range: Option<String>,
    if_match: Option<&str>,
) -> Result<GetOutput> {
    conn.client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range)
        .set_if_match(if_match.map(str::to_string))
        .send()
        .await
        .map_err(|e| Error::from_sdk(e, &format!("GetObject s3://{bucket}/{key}"), Missing::Key))
}

/// The absolute byte span `[start, end)` a GET's body covers, from its Content-Range (or, for a
/// whole-object answer, its length).
fn span_of(out: &GetOutput) -> Option<(u64, u64)> {
    match out.content_range() {
        Some(cr) => {
            // "bytes 100-199/1234"
            let range = cr.trim().strip_prefix("bytes")?.trim().split('/').next()?;
            let (a, b) = range.split_once('-')?;
            let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (b >= a).then_some((a, b.checked_add(1)?))
        }
        None => out.content_length().map(|l| (0, l.max(0) as u64)),
    }
}

/// Progress (one part's worth) after which a broken body has its whole resume budget again.
pub(crate) const RESUME_PROGRESS: u64 = 8 * 1024 * 1024;

/// A GET's body that resumes when its connection breaks, stalls or closes early.
///
/// # Behavior
/// It re-requests the missing range (`bytes=NEXT-END`) pinned to the ETag of the first answer
/// with `If-Match`, so a replaced object fails as `PreconditionFailed` rather than mixing two
/// versions. A store that ignores the range and sends the whole object has its first bytes
/// skipped. Resumes share the request's retry budget: at most `maxAttempts - 1` in a row
/// without [`RESUME_PROGRESS`] bytes delivered between them, so a body that keeps breaking at
/// the same place fails like any request, while a long download over a flaky network is not
/// capped. Without an ETag, or without a known length, a broken body is not resumed.
pub(crate) struct ResumableBody {
    conn: Connector,
    bucket: String,
    key: String,
    /// The ETag as the store sent it (quoted), to pin re-requests to.
    etag: Option<String>,
    /// Absolute offset of the next byte to deliver.
    next: u64,
    /// Absolute end (exclusive); `None` when the store did not say.
    end: Option<u64>,
    body: Option<ByteStream>,
    /// Bytes to drop from the current body (a store that answered a range with the whole object).
    skip: u64,
    resumes_left: u32,
    /// Bytes delivered since the last resume; enough of them restore the budget.
    since_resume: u64,
    /// Set once the body has failed for good: it yields nothing more.
    failed: bool,
    /// The whole object's size, as the first answer said; a later answer with another size is
    /// of another version.
    total: Option<u64>,
}

impl ResumableBody {
    /// Wraps the body of `out`, a GET of `bucket/key`; `pin` is the ETag to pin re-requests to
    /// (the one the first GET of a download returned).
    fn new(conn: &Connector, bucket: &str, key: &str, out: GetOutput, pin: Option<String>) -> ResumableBody {
        let (start, end) = match span_of(&out) {
            Some((a, b)) => (a, Some(b)),
            None => (0, None),
        };
        let total = object_size(&out);
        ResumableBody {
            conn: conn.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: pin.or_else(|| out.e_tag().map(str::to_string)),
            next: start,
            end,
            body: Some(out.body),
            skip: 0,
            resumes_left: conn.max_attempts().saturating_sub(1),
            since_resume: 0,
            failed: false,
            total,
        }
    }

    /// Opens `[start, end)` of `bucket/key`, an object of `total` bytes, pinned to `etag`.
    async fn open_range(
        conn: &Connector,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
        total: u64,
        etag: &str,
    ) -> Result<ResumableBody> {
        let out = get(
            conn,
            bucket,
            key,
            Some(format!("bytes={start}-{}", end - 1)),
            Some(etag),
        )
        .await
        .map_err(|e| changed_during_download(e, bucket, key))?;
        same_version(&out, etag, Some(total), bucket, key)?;
        let mut body = ResumableBody::new(conn, bucket, key, out, Some(etag.to_string()));
        body.adopt_answer(start, end)?;
        Ok(body)
    }

    /// Checks that the current answer starts at `want` (skipping a whole-object answer's head).
    fn adopt_answer(&mut self, want: u64, end: u64) -> Result<()> {
        if self.next == 0 && want > 0 && self.end.is_some_and(|e| e >= end) {
            // The store ignored the range and sent the whole object (rclone serve s3 does).
            self.skip = want;
            self.next = want;
        } else if self.next != want {
            return Err(Error::new(
                ErrorCode::ServiceError,
                format!(
                    "GetObject s3://{}/{}: asked for bytes from {want}, the store answered from {}",
                    self.bucket, self.key, self.next
                ),
            ));
        }
        self.end = Some(end);
        Ok(())
    }

    fn what(&self) -> String {
        format!("GetObject s3://{}/{}", self.bucket, self.key)
    }

    /// The body broke: give up (an error) or get ready to resume.
    fn broken(&mut self, why: String, timeout: bool) -> Result<()> {
        self.body = None;
        if self.since_resume >= RESUME_PROGRESS {
            self.resumes_left = self.conn.max_attempts().saturating_sub(1);
        }
        self.since_resume = 0;
        let end = match self.end {
            Some(end) if self.etag.is_some() && self.resumes_left > 0 => end,
            _ => {
                self.failed = true;
                let code = if timeout {
                    ErrorCode::Timeout
                } else {
                    ErrorCode::Network
                };
                return Err(Error::new(
                    code,
                    format!(
                        "{}: the connection broke while reading the object, at byte {}, after retries: {why}",
                        self.what(),
                        self.next
                    ),
                ));
            }
        };
        self.resumes_left -= 1;
        tracing::info!(bucket = %self.bucket, key = %self.key, from = self.next, to = end, "download broke ({why}); resuming");
        Ok(())
    }

    /// The next chunk, `None` at the end.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            if self.failed {
                return Ok(None);
            }
            if self.end.is_some_and(|end| self.next >= end) {
                return Ok(None);
            }
            let Some(body) = self.body.as_mut() else {
                self.reopen().await?;
                continue;
            };
            match body.try_next().await {
                Ok(Some(mut chunk)) => {
                    if self.skip > 0 {
                        let drop = (self.skip as usize).min(chunk.len());
                        let _ = chunk.split_to(drop);
                        self.skip -= drop as u64;
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    if let Some(end) = self.end {
                        let room = end - self.next;
                        if chunk.len() as u64 > room {
                            chunk.truncate(room as usize);
                        }
                    }
                    self.next += chunk.len() as u64;
                    self.since_resume += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                Ok(None) => match self.end {
                    Some(end) if self.next < end => self.broken(
                        format!("the store closed the body {} bytes early", end - self.next),
                        false,
                    )?,
                    _ => return Ok(None),
                },
                Err(e) => {
                    let timeout = crate::error::timed_out(&e);
                    self.broken(crate::error::chain(&e), timeout)?
                }
            }
        }
    }

    async fn reopen(&mut self) -> Result<()> {
        let (Some(end), Some(etag)) = (self.end, self.etag.clone()) else {
            self.failed = true;
            return Err(Error::new(
                ErrorCode::Network,
                format!("{}: cannot resume", self.what()),
            ));
        };
        let range = format!("bytes={}-{}", self.next, end - 1);
        let out = match get(&self.conn, &self.bucket, &self.key, Some(range), Some(&etag)).await {
            Ok(out) => out,
            Err(e) => {
                self.failed = true;
                return Err(changed_during_download(e, &self.bucket, &self.key));
            }
        };
        if let Err(e) = same_version(&out, &etag, self.total, &self.bucket, &self.key) {
            self.failed = true;
            return Err(e);
        }
        let want = self.next;
        let (start, new_end) = span_of(&out).unwrap_or((want, end));
        self.body = Some(out.body);
        if start == want {
            self.skip = 0;
        } else if start == 0 && new_end >= end {
            // The store ignored the range and sent the whole object: skip what we have.
            self.skip = want;
        } else {
            self.failed = true;
            return Err(Error::new(
                ErrorCode::ServiceError,
                format!(
                    "{}: asked to resume at byte {want}, the store answered from {start}",
                    self.what()
                ),
            ));
        }
        Ok(())
    }

    /// The body as a stream of chunks; a failure is an `io::Error` holding our [`Error`].
    fn into_stream(self) -> ObjectStream {
        Box::pin(futures::stream::unfold(self, |mut body| async move {
            match body.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), body)),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e)), body)),
            }
        }))
    }
}

/// Checks that a part's answer is of the version the download is pinned to. `If-Match` should
/// have ensured it, but some stores ignore it (rclone serve s3): comparing the answer's ETag
/// catches a replaced object there too, instead of mixing two versions.
fn same_version(out: &GetOutput, pinned: &str, total: Option<u64>, bucket: &str, key: &str) -> Result<()> {
    let plain = |e: &str| e.trim().trim_start_matches("W/").trim_matches('"').to_string();
    let other_etag = out.e_tag().is_some_and(|got| plain(got) != plain(pinned));
    let other_size = matches!((total, object_size(out)), (Some(a), Some(b)) if a != b);
    if other_etag || other_size {
        return Err(Error::new(
            ErrorCode::PreconditionFailed,
            format!("GetObject s3://{bucket}/{key}: the object changed during the download; try again"),
        ));
    }
    Ok(())
}

/// The whole object's size an answer states: the total of its Content-Range, or its length.
fn object_size(out: &GetOutput) -> Option<u64> {
    match out.content_range() {
        Some(cr) => cr.rsplit('/').next().and_then(|t| t.trim().parse().ok()),
        None => out.content_length().map(|l| l.max(0) as u64),
    }
}

/// A failed GET during a download: a failed `If-Match` means the object was replaced.
fn changed_during_download(e: Error, bucket: &str, key: &str) -> Error {
    if e.code == ErrorCode::PreconditionFailed {
        Error::new(
            ErrorCode::PreconditionFailed,
            format!("GetObject s3://{bucket}/{key}: the object changed during the download; try again"),
        )
    } else {
        e
    }
}

/// Copies a body into `out`, reporting progress. Returns the bytes written.
async fn pump(
    body: &mut ResumableBody,
    out: &mut (dyn AsyncWrite + Send + Unpin),
    progress: &dyn Progress,
    what: &str,
) -> Result<u64> {
    let mut written = 0u64;
    while let Some(chunk) = body.next_chunk().await? {
        out.write_all(&chunk)
            .await
            .map_err(|e| Error::new(ErrorCode::LocalIo, format!("{what}: cannot write: {e}")))?;
        written += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    Ok(written)
}

/// A stream of an object's bytes, as the store sends them (no copy on the way).
pub type ObjectStream = std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An object's body, opened for reading, with what the store said about it.
pub struct OpenedObject {
    /// What is known before the first byte: `size` is the length of the body to come.
    pub info: Downloaded,
    /// The body. It resumes after a broken connection (see [`open_object`]); a failure that
    /// remains surfaces as an `std::io::Error` item holding the [`Error`].
    pub body: ObjectStream,
}

/// Opens an object (or a range) for reading without reading it: a missing object or bucket
/// fails here, before the caller has committed to anything. Used by front ends that pass the
/// body on themselves (the HTTP API's `getObject`), the `s3` document store and Camunda's
/// `downloadObject`.
///
/// # Behavior
/// The body resumes where it broke, pinned to the object's ETag, as a download to a file does.
pub async fn open_object(conn: &Connector, bucket: &str, key: &str, range: Option<ByteRange>) -> Result<OpenedObject> {
    let resp = get(conn, bucket, key, range.map(|r| r.header()), None).await?;
    let mut info = Downloaded::default();
    fill_from_get(&mut info, &resp);
    info.size = resp.content_length().map(|l| l as u64).unwrap_or_default();
    // The SDK's chunks are passed on as they are: an AsyncRead in between would copy each.
    let body = ResumableBody::new(conn, bucket, key, resp, None).into_stream();
    Ok(OpenedObject { info, body })
}

/// Streams an object (or a range of it) into `out`, in order.
pub async fn download_to_writer(
    conn: &Connector,
    bucket: &str,
    key: &str,
    range: Option<ByteRange>,
    out: &mut (dyn AsyncWrite + Send + Unpin),
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let resp = get(conn, bucket, key, range.map(|r| r.header()), None).await?;
    let mut d = Downloaded::default();
    fill_from_get(&mut d, &resp);
    if let Some(len) = resp.content_length() {
        progress.set_total(len as u64);
    }
    let mut body = ResumableBody::new(conn, bucket, key, resp, None);
    d.size = pump(&mut body, out, progress, &format!("GetObject s3://{bucket}/{key}")).await?;
    out.flush()
        .await
        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot write the output: {e}")))?;
    Ok(d)
}

/// Downloads an object (or a range) to `path`, atomically: the bytes go to a temporary file
/// in the same directory, renamed over `path` only once complete. On any failure the
/// temporary file is removed and `path` is untouched.
pub async fn download_to_file(
    conn: &Connector,
    bucket: &str,
    key: &str,
    range: Option<ByteRange>,
    path: &Path,
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.is_dir() {
        return Err(Error::invalid_input(
            "file",
            format!("{} is a directory; give a file path", path.display()),
        ));
    }
    if !dir.is_dir() {
        return Err(Error::invalid_input(
            "file",
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{file_name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");

    // tempfile's default is 0600; a downloaded file should get the usual 0666 less the umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = builder
        .tempfile_in(&dir)
        .map_err(|e| Error::local_io("create a temporary file in", &dir, &e))?;
    let temp_path = temp.path().to_path_buf();
    let what = format!("GetObject s3://{bucket}/{key}");

    let part_size = conn.transfer().part_size;
    let concurrency = conn.transfer().concurrency;
    let ranged = range.is_none() && concurrency > 1;
    // The first request asks for the first part only when a parallel download is possible;
    // its Content-Range tells the total size and the ETag pins the version for the rest.
    let first_range = if ranged {
        Some(format!("bytes=0-{}", part_size - 1))
    } else {
        range.map(|r| r.header())
    };
    let first = match get(conn, bucket, key, first_range, None).await {
        Err(e) if ranged && e.code == ErrorCode::InvalidInput => {
            // An empty object has no byte 0: a ranged GET is refused with 416. Ask plainly.
            get(conn, bucket, key, None, None).await?
        }
        other => other?,
    };
    let mut d = Downloaded::default();
    fill_from_get(&mut d, &first);
    let total = d.object_size.unwrap_or(0);
    let partial = first.content_range().is_some();
    progress.set_total(if range.is_some() {
        first.content_length().unwrap_or(0) as u64
    } else {
        total
    });

    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(|e| Error::local_io("open", &temp_path, &e))?);
    let mut first_body = ResumableBody::new(conn, bucket, key, first, None);
    let mut written = pump(&mut first_body, &mut file, progress, &what).await?;
    file.flush()
        .await
        .map_err(|e| Error::local_io("write", &temp_path, &e))?;
    drop(file);

    if ranged && partial && written < total {
        let Some(etag) = d.etag.clone() else {
            return Err(Error::new(
                ErrorCode::ServiceError,
                format!("{what}: the store gave no ETag, so the parts of the download cannot be pinned to one version"),
            ));
        };
        // Lazily, and without overflow: `total` is what the store said, and a hostile one
        // could claim an object of 2^64 bytes.
        let starts = (written..total).step_by(part_size as usize);
        let mut parts = futures::stream::iter(starts)
            .map(|start| {
                let end = start.saturating_add(part_size).min(total);
                let etag = etag.clone();
                let temp_path = temp_path.clone();
                let what = what.clone();
                async move {
                    let mut body = ResumableBody::open_range(conn, bucket, key, start, end, total, &etag).await?;
                    let mut f = tokio::fs::OpenOptions::new()
                        .write(true)
                        .open(&temp_path)
                        .await
                        .map_err(|e| Error::local_io("open", &temp_path, &e))?;
                    f.seek(std::io::SeekFrom::Start(start))
                        .await
                        .map_err(|e| Error::local_io("seek in", &temp_path, &e))?;
                    let n = pump(&mut body, &mut f, progress, &what).await?;
                    f.flush().await.map_err(|e| Error::local_io("write", &temp_path, &e))?;
                    if n != end - start {
                        return Err(Error::new(
                            ErrorCode::Network,
                            format!("{what}: expected {} bytes at offset {start}, got {n}", end - start),
                        ));
                    }
                    Ok::<u64, Error>(n)
                }
            })
            .buffer_unordered(concurrency);
        while let Some(n) = parts.next().await {
            written += n?;
        }
    }
    if range.is_none() && written != total && d.object_size.is_some() {
        return Err(Error::new(
            ErrorCode::Network,
            format!("{what}: got {written} of {total} bytes; the download is incomplete and was discarded"),
        ));
    }
    temp.persist(path)
        .map_err(|e| Error::local_io("rename the download onto", path, &e.error))?;
    d.size = written;
    Ok(d)
}
