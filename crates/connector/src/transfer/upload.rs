//! Uploads: one PUT up to the multipart threshold, a multipart upload above it, from a file
//! (each part read straight from the file) or a stream (at most `concurrency + 1` parts in
//! memory, their buffers reused).

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::ChecksumAlgorithm;
use bytes::{BufMut as _, Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::multipart::{part_size_for, Multipart};
use super::{Progress, UploadTarget};
use crate::client::Connector;
use crate::config::ChecksumMode;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::telemetry::Direction;
use crate::validate::MAX_PARTS;

/// Where an upload's bytes come from.
pub enum UploadSource {
    /// A local file, read part by part.
    File(PathBuf),
    /// A stream of unknown length (stdin, a request body).
    Reader(Box<dyn AsyncRead + Send + Unpin>),
    /// Bytes already in memory (small inline content).
    Bytes(Bytes),
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
    let req = conn.client().put_object().content_length(size as i64).body(body);
    let mut req = super::for_target!(req, t);
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
    conn.metrics().moved(Direction::Up, size);
    Ok(Uploaded {
        size,
        etag: out.e_tag().map(str::to_string),
        parts: 0,
    })
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
