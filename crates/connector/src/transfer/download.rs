//! Downloads: a GET whose body resumes from the last byte received, pinned to the object's
//! ETag; to a file (atomically, parallel ranged GETs), to a writer, or as a stream.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::stream::StreamExt;
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use super::{ObjectRef, Progress};
use crate::client::Connector;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::telemetry::Direction;
use crate::validate::ByteRange;

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
    /// The version read, when the bucket keeps versions.
    pub version_id: Option<String>,
}

type GetOutput = aws_sdk_s3::operation::get_object::GetObjectOutput;

fn fill_from_get(d: &mut Downloaded, out: &GetOutput) {
    d.content_type = out.content_type().map(str::to_string);
    d.etag = out.e_tag().map(str::to_string);
    d.last_modified = out.last_modified().and_then(crate::s3::rfc3339);
    d.version_id = out.version_id().map(str::to_string);
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

async fn get(conn: &Connector, obj: &ObjectRef, range: Option<String>, if_match: Option<&str>) -> Result<GetOutput> {
    let req = conn
        .client()
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .set_version_id(obj.version_id.clone())
        .set_range(range)
        .set_if_match(if_match.map(str::to_string));
    crate::encryption::with_customer_key!(req, obj.customer_key.as_ref())
        .send()
        .await
        .map_err(|e| Error::from_sdk(e, &format!("GetObject {}", obj.url()), Missing::Key))
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
    obj: ObjectRef,
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
    fn new(conn: &Connector, obj: &ObjectRef, out: GetOutput, pin: Option<String>) -> ResumableBody {
        let (start, end) = match span_of(&out) {
            Some((a, b)) => (a, Some(b)),
            None => (0, None),
        };
        let total = object_size(&out);
        ResumableBody {
            conn: conn.clone(),
            obj: obj.clone(),
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
        obj: &ObjectRef,
        start: u64,
        end: u64,
        total: u64,
        etag: &str,
    ) -> Result<ResumableBody> {
        let out = get(conn, obj, Some(format!("bytes={start}-{}", end - 1)), Some(etag))
            .await
            .map_err(|e| changed_during_download(e, &obj.bucket, &obj.key))?;
        same_version(&out, etag, Some(total), &obj.bucket, &obj.key)?;
        let mut body = ResumableBody::new(conn, obj, out, Some(etag.to_string()));
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
                    self.obj.bucket, self.obj.key, self.next
                ),
            ));
        }
        self.end = Some(end);
        Ok(())
    }

    fn what(&self) -> String {
        format!("GetObject {}", self.obj.url())
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
        self.conn.metrics().resumed();
        tracing::info!(bucket = %self.obj.bucket, key = %self.obj.key, from = self.next, to = end, "download broke ({why}); resuming");
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
                    self.conn.metrics().moved(Direction::Down, chunk.len() as u64);
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
        let out = match get(&self.conn, &self.obj, Some(range), Some(&etag)).await {
            Ok(out) => out,
            Err(e) => {
                self.failed = true;
                return Err(changed_during_download(e, &self.obj.bucket, &self.obj.key));
            }
        };
        if let Err(e) = same_version(&out, &etag, self.total, &self.obj.bucket, &self.obj.key) {
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
            .map_err(|e| Error::new(ErrorCode::LocalIo, format!("{what}: cannot write: {e}")).with_source(e))?;
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
pub async fn open_object(conn: &Connector, obj: &ObjectRef, range: Option<ByteRange>) -> Result<OpenedObject> {
    let resp = get(conn, obj, range.map(|r| r.header()), None).await?;
    let mut info = Downloaded::default();
    fill_from_get(&mut info, &resp);
    info.size = resp.content_length().map(|l| l as u64).unwrap_or_default();
    // The SDK's chunks are passed on as they are: an AsyncRead in between would copy each.
    let body = ResumableBody::new(conn, obj, resp, None).into_stream();
    Ok(OpenedObject { info, body })
}

/// Streams an object (or a range of it) into `out`, in order.
pub async fn download_to_writer(
    conn: &Connector,
    obj: &ObjectRef,
    range: Option<ByteRange>,
    out: &mut (dyn AsyncWrite + Send + Unpin),
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let resp = get(conn, obj, range.map(|r| r.header()), None).await?;
    let mut d = Downloaded::default();
    fill_from_get(&mut d, &resp);
    if let Some(len) = resp.content_length() {
        progress.set_total(len as u64);
    }
    let mut body = ResumableBody::new(conn, obj, resp, None);
    d.size = pump(&mut body, out, progress, &format!("GetObject {}", obj.url())).await?;
    out.flush()
        .await
        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot write the output: {e}")).with_source(e))?;
    Ok(d)
}

/// Downloads an object (or a range) to `path`, atomically: the bytes go to a temporary file
/// in the same directory, renamed over `path` only once complete. On any failure the
/// temporary file is removed and `path` is untouched.
pub async fn download_to_file(
    conn: &Connector,
    obj: &ObjectRef,
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
    let what = format!("GetObject {}", obj.url());

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
    let first = match get(conn, obj, first_range, None).await {
        Err(e) if ranged && e.code == ErrorCode::InvalidInput => {
            // An empty object has no byte 0: a ranged GET is refused with 416. Ask plainly.
            get(conn, obj, None, None).await?
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
    let mut first_body = ResumableBody::new(conn, obj, first, None);
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
                    let mut body = ResumableBody::open_range(conn, obj, start, end, total, &etag).await?;
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
