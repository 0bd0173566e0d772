//! Content in and out: request bodies streamed into temporary files while being hashed and
//! checked, and files streamed out as response bodies.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{ChecksumAlgorithm, StreamingBlob};
use s3s::{s3_error, S3Error, S3Result};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use crate::meta::Checksums;

/// Bytes read from disk per response chunk.
const READ_CHUNK: usize = 256 * 1024;

/// Logs an internal failure and answers 500 with a short message, never the details.
pub fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    tracing::error!("embedded store: {what}: {e}");
    s3_error!(InternalError, "{what}")
}

/// Lowercase hex, as S3 writes MD5 ETags.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A file in the temporary directory, removed when dropped unless it was renamed away first.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A new, empty temporary file in `dir`.
    pub async fn create(dir: &Path) -> S3Result<(TempFile, tokio::fs::File)> {
        let path = dir.join(format!("{:032x}", rand::random::<u128>()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| internal("cannot create a temporary file", e))?;
        Ok((TempFile { path }, file))
    }

    /// A new temporary file in `dir` holding `bytes`.
    pub fn create_with(dir: &Path, bytes: &[u8]) -> io::Result<TempFile> {
        let path = dir.join(format!("{:032x}", rand::random::<u128>()));
        let temp = TempFile { path };
        std::fs::write(&temp.path, bytes)?;
        Ok(temp)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After a successful rename there is nothing left here, and that is fine.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Which checksums a request asks to be verified: named in headers, announced as
/// trailers (`x-amz-trailer`), or given by algorithm.
pub fn requested_hasher(
    given: &Checksums,
    algorithm: Option<&ChecksumAlgorithm>,
    headers: &http::HeaderMap,
) -> S3Result<ChecksumHasher> {
    let mut hasher = ChecksumHasher::default();
    let mut enable = |name: &str| -> S3Result<()> {
        match name.to_ascii_uppercase().as_str() {
            ChecksumAlgorithm::CRC32 => hasher.crc32 = Some(Default::default()),
            ChecksumAlgorithm::CRC32C => hasher.crc32c = Some(Default::default()),
            ChecksumAlgorithm::SHA1 => hasher.sha1 = Some(Default::default()),
            ChecksumAlgorithm::SHA256 => hasher.sha256 = Some(Default::default()),
            ChecksumAlgorithm::CRC64NVME => hasher.crc64nvme = Some(Default::default()),
            _ => return Err(s3_error!(InvalidArgument, "Unsupported checksum algorithm")),
        }
        Ok(())
    };
    for (value, name) in [
        (&given.crc32, "CRC32"),
        (&given.crc32c, "CRC32C"),
        (&given.sha1, "SHA1"),
        (&given.sha256, "SHA256"),
        (&given.crc64nvme, "CRC64NVME"),
    ] {
        if value.is_some() {
            enable(name)?;
        }
    }
    if let Some(a) = algorithm {
        enable(a.as_str())?;
    }
    for value in headers.get_all("x-amz-trailer") {
        let Ok(value) = value.to_str() else { continue };
        for name in value.split(',') {
            if let Some(alg) = name.trim().to_ascii_lowercase().strip_prefix("x-amz-checksum-") {
                enable(alg)?;
            }
        }
    }
    Ok(hasher)
}

/// The body of a request that came without one.
pub fn empty_body() -> StreamingBlob {
    StreamingBlob::wrap(futures::stream::empty::<io::Result<Bytes>>())
}

/// What a body turned out to be once written.
#[derive(Debug)]
pub struct Written {
    /// Its length.
    pub size: u64,
    /// Its MD5.
    pub md5: [u8; 16],
    /// The checksums computed for it (those the request asked for).
    pub checksums: Checksums,
}

/// Streams `body` into `file`, hashing it. A body that fails (cut off, or refused by the
/// aws-chunked decoder) gives the client's error; the caller drops the temporary file.
pub async fn write_body(
    file: &mut tokio::fs::File,
    body: StreamingBlob,
    mut hasher: ChecksumHasher,
) -> S3Result<Written> {
    let mut body = body;
    let mut md5 = Md5::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                // A client that went away, or a body the aws-chunked decoder refused.
                tracing::debug!("embedded store: request body failed: {e}");
                return Err(s3_error!(
                    IncompleteBody,
                    "The request body ended early or could not be read"
                ));
            }
        };
        md5.update(&chunk);
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| internal("cannot write a temporary file", e))?;
    }
    // tokio's File writes in the background; flushing waits for the last write.
    file.flush()
        .await
        .map_err(|e| internal("cannot write a temporary file", e))?;
    Ok(Written {
        size,
        md5: md5.finalize(),
        checksums: hasher.finalize().into(),
    })
}

/// What a write request says about the body it sends, to check the body against.
pub struct Claims<'a> {
    /// Checksums given in headers.
    pub given: Checksums,
    /// The algorithm named alone (`x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`).
    pub algorithm: Option<&'a ChecksumAlgorithm>,
    /// The `Content-MD5` header.
    pub content_md5: Option<&'a str>,
    /// The request's headers (`x-amz-trailer` announces checksums sent after the body).
    pub headers: &'a http::HeaderMap,
    /// The trailers, once the body has been read.
    pub trailers: Option<&'a s3s::TrailingHeaders>,
}

/// The [`Claims`] of a write request `input` (PutObject's or UploadPart's: two s3s types with
/// the same fields) that came as `req`.
macro_rules! claims_of {
    ($input:ident, $req:ident) => {
        $crate::content::Claims {
            given: $crate::meta::Checksums {
                crc32: $input.checksum_crc32,
                crc32c: $input.checksum_crc32c,
                sha1: $input.checksum_sha1,
                sha256: $input.checksum_sha256,
                crc64nvme: $input.checksum_crc64nvme,
            },
            algorithm: $input.checksum_algorithm.as_ref(),
            content_md5: $input.content_md5.as_deref(),
            headers: &$req.headers,
            trailers: $req.trailing_headers.as_ref(),
        }
    };
}
pub(crate) use claims_of;

/// Streams `body` into a new temporary file in `dir`, hashing it as `claims` ask, and
/// verifies Content-MD5 and every claimed checksum (trailers included): what PutObject and
/// UploadPart both do before anything is put in place. On any error the temporary file is
/// gone (it is removed when dropped).
pub async fn receive_body(
    dir: &Path,
    body: Option<StreamingBlob>,
    claims: Claims<'_>,
) -> S3Result<(TempFile, Written)> {
    let hasher = requested_hasher(&claims.given, claims.algorithm, claims.headers)?;
    let (temp, mut file) = TempFile::create(dir).await?;
    let written = write_body(&mut file, body.unwrap_or_else(empty_body), hasher).await?;
    drop(file);
    verify_content_md5(claims.content_md5, &written.md5)?;
    let claimed = claimed_checksums(claims.given, claims.trailers)?;
    verify_checksums(&claimed, &written.checksums)?;
    Ok((temp, written))
}

/// `BadDigest` unless the body's MD5 matches `Content-MD5` (when given).
pub fn verify_content_md5(content_md5: Option<&str>, md5: &[u8; 16]) -> S3Result<()> {
    use base64::Engine as _;
    let Some(given) = content_md5 else { return Ok(()) };
    let given = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid"))?;
    if given.len() != 16 {
        return Err(s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid"));
    }
    if given != md5 {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received"
        ));
    }
    Ok(())
}

/// The checksums the client claimed: headers, overridden by trailers sent after the body.
pub fn claimed_checksums(mut given: Checksums, trailers: Option<&s3s::TrailingHeaders>) -> S3Result<Checksums> {
    let Some(trailers) = trailers.and_then(|t| t.take()) else {
        return Ok(given);
    };
    for (name, slot) in [
        ("x-amz-checksum-crc32", &mut given.crc32),
        ("x-amz-checksum-crc32c", &mut given.crc32c),
        ("x-amz-checksum-sha1", &mut given.sha1),
        ("x-amz-checksum-sha256", &mut given.sha256),
        ("x-amz-checksum-crc64nvme", &mut given.crc64nvme),
    ] {
        if let Some(value) = trailers.get(name) {
            let value = value
                .to_str()
                .map_err(|_| s3_error!(InvalidArgument, "Invalid checksum trailer {name}"))?;
            *slot = Some(value.to_string());
        }
    }
    Ok(given)
}

/// `BadDigest` if any claimed checksum differs from the computed one. What is kept is the
/// computed set: every claimed algorithm was computed, and so was any algorithm named alone.
pub fn verify_checksums(claimed: &Checksums, computed: &Checksums) -> S3Result<()> {
    for (name, want, have) in [
        ("CRC32", &claimed.crc32, &computed.crc32),
        ("CRC32C", &claimed.crc32c, &computed.crc32c),
        ("SHA1", &claimed.sha1, &computed.sha1),
        ("SHA256", &claimed.sha256, &computed.sha256),
        ("CRC64NVME", &claimed.crc64nvme, &computed.crc64nvme),
    ] {
        if let Some(want) = want {
            if have.as_deref() != Some(want.as_str()) {
                return Err(s3_error!(
                    BadDigest,
                    "The {name} you specified did not match the calculated checksum"
                ));
            }
        }
    }
    Ok(())
}

/// The hex MD5 of a whole file (for objects whose ETag was never recorded).
pub fn md5_of_file(path: &Path) -> io::Result<String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    Ok(hex(&md5.finalize()))
}

/// A response body: `remaining` bytes of an open file, from its current position.
pub struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl FileBody {
    /// The next `len` bytes of `file`.
    pub fn new(file: tokio::fs::File, len: u64) -> Self {
        FileBody {
            file,
            remaining: len,
            buf: Vec::new(),
        }
    }

    /// As a body s3s can send.
    pub fn into_blob(self) -> StreamingBlob {
        StreamingBlob::wrap(self)
    }
}

impl Stream for FileBody {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).unwrap_or(READ_CHUNK).min(READ_CHUNK);
        this.buf.resize(want, 0);
        let mut read = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                this.remaining = 0;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    // Never happens to a file we only ever replace, never truncate.
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "object file ended early",
                    ))));
                }
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(Bytes::copy_from_slice(&this.buf[..n]))))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}
