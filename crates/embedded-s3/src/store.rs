//! The S3 operations: buckets, objects and listings over the layout (multipart uploads are
//! in `multipart.rs`), with the answers and error codes real S3 gives.

use std::io;
use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result, S3};

use crate::content::{claims_of, hex, internal, md5_of_file, receive_body, FileBody, TempFile};
use crate::layout::{check_key, sidecar_of, BadKey, Layout};
use crate::meta::{read_json, read_legacy, Checksums, Headers, ObjectMeta};
use crate::namespace::{locate, place, remove, BucketLocks};
use crate::startup::OwnTmp;
use crate::walk::{self, Listed};

/// The most keys one listing page holds, and its default size.
const MAX_PAGE: usize = 1000;

/// The S3 service over one data directory.
#[derive(Debug)]
pub struct Store {
    pub(crate) layout: Layout,
    pub(crate) locks: BucketLocks,
    /// Lives as long as the service (every connection holds it), so that requests still
    /// running after the server stopped accepting keep their temporary directory.
    _tmp: OwnTmp,
}

/// An object as found, with everything about it that S3 answers with.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub content: PathBuf,
    pub meta: ObjectMeta,
    pub modified: Timestamp,
}

impl Store {
    /// A store over `layout`, whose internal directories exist and whose temporary
    /// directory `tmp` has claimed.
    pub fn new(layout: Layout, tmp: OwnTmp) -> Self {
        let locks = BucketLocks::new(layout.lock_file());
        Store {
            layout,
            locks,
            _tmp: tmp,
        }
    }
}

/// `NoSuchBucket` for a name that cannot be a bucket; s3s checks request paths already,
/// but copy sources come from a header.
pub(crate) fn valid_bucket(bucket: &str) -> S3Result<()> {
    if s3s::path::check_bucket_name(bucket) {
        Ok(())
    } else {
        Err(no_such_bucket())
    }
}

/// `InvalidArgument` or `KeyTooLongError` for a key S3 would not take.
pub(crate) fn valid_key(key: &str) -> S3Result<()> {
    match check_key(key) {
        Ok(()) => Ok(()),
        Err(BadKey::Empty) => Err(s3_error!(InvalidArgument, "An object key must not be empty")),
        Err(BadKey::TooLong) => Err(s3_error!(KeyTooLongError, "Your key is too long")),
    }
}

/// S3's answer for a bucket that does not exist.
pub(crate) fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

/// S3's answer for a key that names no object.
pub(crate) fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

/// S3's answer for a condition (`If-Match` and the like) that does not hold.
pub(crate) fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

/// `NoSuchBucket` unless the bucket's directory exists.
pub(crate) fn require_bucket(layout: &Layout, bucket: &str) -> S3Result<PathBuf> {
    let dir = layout.bucket_dir(bucket);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        _ => Err(no_such_bucket()),
    }
}

/// Everything about the object whose content file is `content`. Its sidecar describes it
/// unless the sizes disagree (a sidecar left from an earlier version by a crash); without
/// a sidecar it is an object of s3s-fs's or one put in by hand.
pub(crate) fn read_current(layout: &Layout, bucket: &str, key: &str, content: PathBuf) -> io::Result<Current> {
    let stat = std::fs::symlink_metadata(&content)?;
    let size = stat.len();
    let modified = Timestamp::from(stat.modified()?);
    let sidecar = read_json::<ObjectMeta>(&sidecar_of(&content)).unwrap_or_else(|e| {
        tracing::warn!("embedded store: ignoring an unreadable sidecar: {e}");
        None
    });
    let meta = match sidecar {
        Some(meta) if meta.size == size => meta,
        Some(_) => ObjectMeta {
            e_tag: md5_of_file(&content)?,
            size,
            ..Default::default()
        },
        None => {
            let (headers, e_tag, checksums) = read_legacy(layout, bucket, key);
            let e_tag = match e_tag {
                Some(e) => e,
                None => md5_of_file(&content)?,
            };
            ObjectMeta {
                e_tag,
                size,
                headers,
                checksums,
                parts_count: None,
                tags: Default::default(),
                storage_class: None,
            }
        }
    };
    Ok(Current {
        content,
        meta,
        modified,
    })
}

/// Refuses a version id other than `null`: this store keeps one version of each object.
fn unversioned(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3_error!(NoSuchVersion, "The specified version does not exist.")),
    }
}

/// The object `key`, if it exists (the bucket must).
pub(crate) fn find(layout: &Layout, bucket: &str, key: &str) -> S3Result<Option<Current>> {
    let Some(content) = locate(layout, bucket, key).map_err(|e| internal("cannot look up an object", e))? else {
        return Ok(None);
    };
    read_current(layout, bucket, key, content)
        .map(Some)
        .map_err(|e| internal("cannot read an object's metadata", e))
}

/// Whether an `If-Match`/`If-None-Match` condition names the object with ETag `e_tag`
/// (`None`: no object). S3 compares the values; `*` names any object.
pub(crate) fn names(condition: &ETagCondition, e_tag: Option<&str>) -> bool {
    match condition {
        ETagCondition::Any => e_tag.is_some(),
        ETagCondition::ETag(want) => e_tag == Some(want.value()),
    }
}

/// `PreconditionFailed` unless a write's conditions hold for the current object.
pub(crate) fn check_write_conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    current: Option<&Current>,
) -> S3Result<()> {
    let e_tag = current.map(|c| c.meta.e_tag.as_str());
    if if_none_match.is_some_and(|c| names(c, e_tag)) || if_match.is_some_and(|c| !names(c, e_tag)) {
        return Err(precondition_failed());
    }
    Ok(())
}

/// Runs blocking file-system work that needs no lock on a blocking thread.
pub(crate) async fn blocking<T, F>(f: F) -> S3Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> S3Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal("a store task failed", e))?
}

/// Copies `len` bytes of `file` from `start` into a new temporary file in `tmp_dir`,
/// giving the file, the bytes' MD5 and how many were copied.
pub(crate) fn copy_to_temp(
    mut file: std::fs::File,
    start: u64,
    len: u64,
    tmp_dir: &Path,
) -> io::Result<(TempFile, [u8; 16], u64)> {
    use s3s::crypto::{Checksum as _, Md5};
    use std::io::{Read as _, Seek as _, Write as _};
    let temp = TempFile::create_with(tmp_dir, b"")?;
    let mut out = std::fs::OpenOptions::new().write(true).open(temp.path())?;
    file.seek(io::SeekFrom::Start(start))?;
    let mut reader = file.take(len);
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        copied += n as u64;
    }
    Ok((temp, md5.finalize(), copied))
}

/// Whether `encoding_type` asks for URL-encoded keys; anything but `url` is refused.
pub(crate) fn wants_url_encoding(encoding_type: Option<&EncodingType>) -> S3Result<bool> {
    match encoding_type {
        None => Ok(false),
        Some(e) if e.as_str().eq_ignore_ascii_case(EncodingType::URL) => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

/// What S3's `encoding-type=url` does to a key: everything but unreserved characters and
/// `/` percent-encoded, so that keys XML cannot carry (control characters) survive.
pub(crate) fn url_encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    const KEEP: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(s, KEEP).to_string()
}

/// The page size for `max-keys` (or `max-uploads`, `max-parts`): 1000 at most and by default.
pub(crate) fn page_size(max_keys: Option<i32>) -> S3Result<usize> {
    match max_keys {
        None => Ok(MAX_PAGE),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE)),
    }
}

fn encode_token(last: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn decode_token(token: &str) -> S3Result<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

/// One listing page as S3 answers it.
struct Answer {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    count: usize,
    truncated: bool,
    last: Option<String>,
}

impl Store {
    /// Lists a page of the bucket (both ListObjects versions).
    async fn list_page(
        &self,
        bucket: &str,
        prefix: String,
        delimiter: Option<String>,
        after: Option<String>,
        max: usize,
        url: bool,
    ) -> S3Result<Answer> {
        let layout = self.layout.clone();
        let b = bucket.to_string();
        self.locks
            .run(bucket, move || {
                let dir = require_bucket(&layout, &b)?;
                let page = walk::list(dir, &prefix, delimiter.as_deref(), after.as_deref(), max)
                    .map_err(|e| internal("cannot list the bucket", e))?;
                let mut answer = Answer {
                    contents: Vec::new(),
                    prefixes: Vec::new(),
                    count: page.entries.len(),
                    truncated: page.truncated,
                    last: page.entries.last().map(|e| e.name().to_string()),
                };
                let shown = |s: &str| if url { url_encode(s) } else { s.to_string() };
                for entry in page.entries {
                    match entry {
                        Listed::Prefix(p) => answer.prefixes.push(CommonPrefix {
                            prefix: Some(shown(&p)),
                        }),
                        Listed::Object(found) => {
                            let current = match read_current(&layout, &b, &found.key, found.content) {
                                Ok(c) => c,
                                // Removed by hand since the walk saw it: no longer an object.
                                Err(e) if crate::meta::is_missing(&e) => continue,
                                Err(e) => return Err(internal("cannot read an object's metadata", e)),
                            };
                            answer.contents.push(Object {
                                key: Some(shown(&found.key)),
                                e_tag: Some(ETag::Strong(current.meta.e_tag)),
                                last_modified: Some(current.modified),
                                size: Some(i64::try_from(current.meta.size).unwrap_or(i64::MAX)),
                                storage_class: Some(ObjectStorageClass::from(
                                    current
                                        .meta
                                        .storage_class
                                        .unwrap_or_else(|| ObjectStorageClass::STANDARD.to_string()),
                                )),
                                ..Default::default()
                            });
                        }
                    }
                }
                Ok(answer)
            })
            .await
    }

    /// The object for GET and HEAD: found and checked under the lock, its file opened there
    /// too, so that what is sent is one version even if it is replaced meanwhile.
    /// Replaces the tags of `bucket/key`: only its sidecar is rewritten, under the bucket's
    /// lock, so its content, ETag and modification time stay as they were.
    async fn set_tags(&self, bucket: String, key: String, tags: crate::tags::Tags) -> S3Result<()> {
        valid_bucket(&bucket)?;
        valid_key(&key)?;
        let layout = self.layout.clone();
        let b = bucket.clone();
        self.locks
            .run(&bucket, move || {
                require_bucket(&layout, &b)?;
                let current = find(&layout, &b, &key)?.ok_or_else(no_such_key)?;
                let mut meta = current.meta;
                meta.tags = tags;
                let json = serde_json::to_vec(&meta).map_err(|e| internal("cannot encode metadata", e))?;
                let sidecar = TempFile::create_with(&layout.tmp_dir(), &json)
                    .map_err(|e| internal("cannot write metadata", e))?;
                crate::namespace::place_file(&sidecar, &sidecar_of(&current.content))
                    .map_err(|e| internal("cannot write metadata", e))
            })
            .await
    }

    async fn open_for_read(&self, bucket: &str, key: &str, open: bool) -> S3Result<(Current, Option<std::fs::File>)> {
        valid_key(key)?;
        let layout = self.layout.clone();
        let (b, k) = (bucket.to_string(), key.to_string());
        self.locks
            .run(bucket, move || {
                require_bucket(&layout, &b)?;
                let current = find(&layout, &b, &k)?.ok_or_else(no_such_key)?;
                let file = if open {
                    Some(std::fs::File::open(&current.content).map_err(|e| internal("cannot open an object", e))?)
                } else {
                    None
                };
                Ok((current, file))
            })
            .await
    }

    /// Deletes the object `key` unless `if_match` fails. A missing key is no error, unless
    /// a condition asked for an existing object.
    fn delete_one(layout: &Layout, bucket: &str, key: &str, if_match: Option<&ETagCondition>) -> S3Result<()> {
        valid_key(key)?;
        let Some(content) = locate(layout, bucket, key).map_err(|e| internal("cannot look up an object", e))? else {
            return match if_match {
                Some(_) => Err(no_such_key()),
                None => Ok(()),
            };
        };
        if let Some(condition) = if_match {
            let current = read_current(layout, bucket, key, content.clone())
                .map_err(|e| internal("cannot read an object's metadata", e))?;
            if !names(condition, Some(&current.meta.e_tag)) {
                return Err(precondition_failed());
            }
        }
        remove(layout, bucket, key, &content).map_err(|e| internal("cannot delete an object", e))
    }
}

/// Checks GET/HEAD conditions on the object found, and works out the range to send:
/// `(first byte, length, Content-Range)`.
fn read_plan(
    current: &Current,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    range: Option<Range>,
) -> S3Result<(u64, u64, Option<String>)> {
    let e_tag = Some(current.meta.e_tag.as_str());
    if if_match.is_some_and(|c| !names(c, e_tag)) {
        return Err(precondition_failed());
    }
    if if_none_match.is_some_and(|c| names(c, e_tag)) {
        return Err(s3_error!(NotModified, "Not Modified"));
    }
    let size = current.meta.size;
    match range {
        None => Ok((0, size, None)),
        Some(range) => {
            let r = range
                .check(size)
                .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
            Ok((
                r.start,
                r.end - r.start,
                Some(format!("bytes {}-{}/{size}", r.start, r.end - 1)),
            ))
        }
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let root = self.layout.root().to_path_buf();
        let prefix = req.input.prefix.unwrap_or_default();
        let mut buckets = blocking(move || {
            let mut out = Vec::new();
            let entries = std::fs::read_dir(&root).map_err(|e| internal("cannot read the data directory", e))?;
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if !is_dir || !s3s::path::check_bucket_name(&name) || !name.starts_with(&prefix) {
                    continue;
                }
                let created = entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.created().or_else(|_| m.modified()).ok())
                    .map(Timestamp::from);
                out.push(Bucket {
                    name: Some(name),
                    creation_date: created,
                    bucket_region: None,
                });
            }
            Ok(out)
        })
        .await?;
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        if !s3s::path::check_bucket_name(&bucket) {
            return Err(s3_error!(InvalidBucketName, "The specified bucket is not valid."));
        }
        let dir = self.layout.bucket_dir(&bucket);
        self.locks
            .run(&bucket, move || match std::fs::create_dir(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(s3_error!(
                    BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it."
                )),
                Err(e) => Err(internal("cannot create a bucket", e)),
            })
            .await?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket;
        valid_bucket(&bucket)?;
        let layout = self.layout.clone();
        let b = bucket.clone();
        self.locks
            .run(&bucket, move || {
                let dir = require_bucket(&layout, &b)?;
                // A store that died mid-conversion may have left an object parked here, where
                // listings do not see it; its note brings it back before the bucket is judged
                // empty and removed with everything in it.
                let _ = crate::startup::clear_gone_stores(&layout, &layout.tmp_dir());
                if walk::holds_objects(dir.clone()).map_err(|e| internal("cannot read the bucket", e))? {
                    return Err(s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"));
                }
                // One still parked (its note unreadable, or its settling failed) is an object
                // all the same: removing the bucket would delete its only copy.
                if holds_parked(&dir).map_err(|e| internal("cannot read the bucket", e))? {
                    return Err(s3_error!(
                        BucketNotEmpty,
                        "The bucket holds an object a store was converting when it stopped; read its key to restore it, or restart the store"
                    ));
                }
                // Its unfinished uploads go with it, as in S3.
                crate::uploads::remove_uploads_of(&layout, &b).map_err(|e| internal("cannot remove uploads", e))?;
                // What is left is empty directories and names that are no objects.
                std::fs::remove_dir_all(&dir).map_err(|e| internal("cannot delete the bucket", e))
            })
            .await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let layout = self.layout.clone();
        let bucket = req.input.bucket;
        valid_bucket(&bucket)?;
        blocking(move || require_bucket(&layout, &bucket)).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let layout = self.layout.clone();
        let bucket = req.input.bucket;
        valid_bucket(&bucket)?;
        blocking(move || require_bucket(&layout, &bucket)).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let (bucket, key) = (input.bucket, input.key);
        valid_bucket(&bucket)?;
        valid_key(&key)?;
        // Refused before the body is read; checked again when it is put in place.
        {
            let layout = self.layout.clone();
            let b = bucket.clone();
            blocking(move || require_bucket(&layout, &b)).await?;
        }
        // Checked before the body is read: a bad tag writes nothing.
        let tags = crate::tags::from_header(input.tagging.as_deref())?;
        let storage_class = crate::meta::storage_class_of(input.storage_class)?;
        crate::meta::refuse_encryption(
            input.server_side_encryption.as_ref(),
            input.sse_customer_algorithm.as_ref(),
        )?;
        let claims = claims_of!(input, req);
        let (temp, written) = receive_body(&self.layout.tmp_dir(), input.body, claims).await?;
        let e_tag = hex(&written.md5);
        let meta = ObjectMeta {
            e_tag: e_tag.clone(),
            size: written.size,
            headers: Headers {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
                metadata: input.metadata,
            },
            checksums: written.checksums.clone(),
            parts_count: None,
            tags,
            storage_class,
        };
        let sidecar_json = serde_json::to_vec(&meta).map_err(|e| internal("cannot encode metadata", e))?;
        let (if_match, if_none_match) = (input.if_match, input.if_none_match);
        let layout = self.layout.clone();
        let b = bucket.clone();
        self.locks
            .run(&bucket, move || {
                // Owned here, so that a request given up halfway cannot remove it mid-rename.
                let temp = temp;
                require_bucket(&layout, &b)?;
                if if_match.is_some() || if_none_match.is_some() {
                    let current = find(&layout, &b, &key)?;
                    check_write_conditions(if_match.as_ref(), if_none_match.as_ref(), current.as_ref())?;
                }
                let sidecar = TempFile::create_with(&layout.tmp_dir(), &sidecar_json)
                    .map_err(|e| internal("cannot write metadata", e))?;
                place(&layout, &b, &key, &temp, &sidecar).map_err(|e| internal("cannot store an object", e))?;
                Ok(())
            })
            .await?;
        let c = written.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(e_tag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (current, file) = self.open_for_read(&input.bucket, &input.key, true).await?;
        let (start, len, content_range) = read_plan(
            &current,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.range,
        )?;
        let file = file.ok_or_else(|| internal("cannot open an object", "no file"))?;
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            use tokio::io::AsyncSeekExt as _;
            file.seek(io::SeekFrom::Start(start))
                .await
                .map_err(|e| internal("cannot read an object", e))?;
        }
        let whole = len == current.meta.size;
        let meta = current.meta;
        let c = if whole { meta.checksums } else { Checksums::default() };
        let h = meta.headers;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(FileBody::new(file, len).into_blob()),
            content_length: Some(to_i64(len)),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(ETag::Strong(meta.e_tag)),
            last_modified: Some(current.modified),
            content_type: h.content_type,
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            metadata: h.metadata,
            storage_class: meta.storage_class.map(StorageClass::from),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            tag_count: (!meta.tags.is_empty()).then_some(meta.tags.len() as i32),
            ..Default::default()
        }))
    }

    /// Buckets have no tags here; answering as S3 does for an untagged bucket tells clients
    /// (ours probes with it) that this store keeps object tags.
    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let bucket = req.input.bucket;
        valid_bucket(&bucket)?;
        let layout = self.layout.clone();
        blocking(move || require_bucket(&layout, &bucket)).await?;
        Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        unversioned(input.version_id.as_deref())?;
        let (current, _) = self.open_for_read(&input.bucket, &input.key, false).await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: crate::tags::to_set(&current.meta.tags),
            ..Default::default()
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        unversioned(input.version_id.as_deref())?;
        let tags = crate::tags::from_set(input.tagging.tag_set)?;
        self.set_tags(input.bucket, input.key, tags).await?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        unversioned(input.version_id.as_deref())?;
        self.set_tags(input.bucket, input.key, Default::default()).await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (current, _) = self.open_for_read(&input.bucket, &input.key, false).await?;
        let (_, len, content_range) = read_plan(
            &current,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.range,
        )?;
        let whole = len == current.meta.size;
        let meta = current.meta;
        let c = if whole { meta.checksums } else { Checksums::default() };
        let h = meta.headers;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(to_i64(len)),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(ETag::Strong(meta.e_tag)),
            last_modified: Some(current.modified),
            content_type: h.content_type,
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            metadata: h.metadata,
            storage_class: meta.storage_class.map(StorageClass::from),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        valid_key(&input.key)?;
        let layout = self.layout.clone();
        let (b, k, if_match) = (input.bucket.clone(), input.key, input.if_match);
        self.locks
            .run(&input.bucket, move || {
                require_bucket(&layout, &b)?;
                Store::delete_one(&layout, &b, &k, if_match.as_ref())
            })
            .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let quiet = input.delete.quiet.unwrap_or(false);
        let objects = input.delete.objects;
        if objects.len() > 1000 {
            return Err(s3_error!(MalformedXML, "At most 1000 keys can be deleted at once"));
        }
        let layout = self.layout.clone();
        let b = input.bucket.clone();
        let (deleted, errors) = self
            .locks
            .run(&input.bucket, move || {
                require_bucket(&layout, &b)?;
                let (mut deleted, mut errors) = (Vec::new(), Vec::new());
                for object in objects {
                    let condition = object.e_tag.clone().map(ETagCondition::ETag);
                    match Store::delete_one(&layout, &b, &object.key, condition.as_ref()) {
                        Ok(()) => {
                            if !quiet {
                                deleted.push(DeletedObject {
                                    key: Some(object.key),
                                    version_id: object.version_id,
                                    ..Default::default()
                                });
                            }
                        }
                        Err(e) => errors.push(Error {
                            code: Some(e.code().as_str().to_string()),
                            message: e.message().map(str::to_string),
                            key: Some(object.key),
                            version_id: object.version_id,
                        }),
                    }
                }
                Ok((deleted, errors))
            })
            .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!deleted.is_empty()).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "Only bucket copy sources are supported"));
        };
        let (src_bucket, src_key) = (src_bucket.to_string(), src_key.to_string());
        valid_bucket(&src_bucket)?;
        valid_bucket(&input.bucket)?;
        valid_key(&input.key)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        // As S3: a copy onto itself must change something; a storage class counts.
        if src_bucket == input.bucket && src_key == input.key && !replace && input.storage_class.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        // As S3: the source's tags, unless the request replaces them.
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let given_tags = crate::tags::from_header(input.tagging.as_deref())?;
        let storage_class = crate::meta::storage_class_of(input.storage_class.clone())?;
        crate::meta::refuse_encryption(
            input.server_side_encryption.as_ref(),
            input.sse_customer_algorithm.as_ref(),
        )?;
        let (source, file) = self.open_for_read(&src_bucket, &src_key, true).await?;
        let tags = if replace_tags {
            given_tags
        } else {
            source.meta.tags.clone()
        };
        let src_tag = Some(source.meta.e_tag.as_str());
        if input.copy_source_if_match.as_ref().is_some_and(|c| !names(c, src_tag))
            || input
                .copy_source_if_none_match
                .as_ref()
                .is_some_and(|c| names(c, src_tag))
        {
            return Err(precondition_failed());
        }
        {
            let layout = self.layout.clone();
            let b = input.bucket.clone();
            blocking(move || require_bucket(&layout, &b)).await?;
        }
        let file = file.ok_or_else(|| internal("cannot open an object", "no file"))?;
        let tmp_dir = self.layout.tmp_dir();
        let size = source.meta.size;
        let (temp, md5, copied) =
            blocking(move || copy_to_temp(file, 0, size, &tmp_dir).map_err(|e| internal("cannot copy an object", e)))
                .await?;
        if copied != size {
            return Err(internal("cannot copy an object", "the source ended early"));
        }
        let headers = if replace {
            Headers {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
                metadata: input.metadata,
            }
        } else {
            source.meta.headers
        };
        let e_tag = hex(&md5);
        let meta = ObjectMeta {
            e_tag: e_tag.clone(),
            size,
            headers,
            // Same bytes, so the source's checksums hold for the copy.
            checksums: source.meta.checksums,
            parts_count: None,
            tags,
            // As S3: the class the copy asks for, else STANDARD (not the source's).
            storage_class,
        };
        let sidecar_json = serde_json::to_vec(&meta).map_err(|e| internal("cannot encode metadata", e))?;
        let layout = self.layout.clone();
        let (b, k) = (input.bucket.clone(), input.key);
        let modified = self
            .locks
            .run(&input.bucket, move || {
                let temp = temp;
                require_bucket(&layout, &b)?;
                let sidecar = TempFile::create_with(&layout.tmp_dir(), &sidecar_json)
                    .map_err(|e| internal("cannot write metadata", e))?;
                let placed =
                    place(&layout, &b, &k, &temp, &sidecar).map_err(|e| internal("cannot store an object", e))?;
                let modified = std::fs::symlink_metadata(&placed)
                    .and_then(|m| m.modified())
                    .map_err(|e| internal("cannot read an object", e))?;
                Ok(Timestamp::from(modified))
            })
            .await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(e_tag)),
                last_modified: Some(modified),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        valid_bucket(&input.bucket)?;
        let url = wants_url_encoding(input.encoding_type.as_ref())?;
        let max = page_size(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let answer = self
            .list_page(
                &input.bucket,
                prefix,
                input.delimiter.clone(),
                input.marker.clone(),
                max,
                url,
            )
            .await?;
        let shown = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        let next_marker = if answer.truncated { answer.last.clone() } else { None };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(shown(input.prefix).unwrap_or_default()),
            marker: shown(input.marker),
            delimiter: shown(input.delimiter),
            max_keys: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(answer.truncated),
            next_marker: shown(next_marker),
            contents: (!answer.contents.is_empty()).then_some(answer.contents),
            common_prefixes: (!answer.prefixes.is_empty()).then_some(answer.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        valid_bucket(&input.bucket)?;
        let url = wants_url_encoding(input.encoding_type.as_ref())?;
        let max = page_size(input.max_keys)?;
        // A continuation token supersedes StartAfter, which only places the first page.
        let after = match input.continuation_token.as_deref() {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let answer = self
            .list_page(&input.bucket, prefix, input.delimiter.clone(), after, max, url)
            .await?;
        let shown = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        let next_continuation_token = if answer.truncated {
            answer.last.as_deref().map(encode_token)
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(shown(input.prefix).unwrap_or_default()),
            delimiter: shown(input.delimiter),
            start_after: shown(input.start_after),
            max_keys: Some(i32::try_from(max).unwrap_or(1000)),
            key_count: Some(i32::try_from(answer.count).unwrap_or(i32::MAX)),
            is_truncated: Some(answer.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token,
            contents: (!answer.contents.is_empty()).then_some(answer.contents),
            common_prefixes: (!answer.prefixes.is_empty()).then_some(answer.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.put_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.copy_part(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.uploads(req).await
    }
}

/// Whether any object file under `dir` is parked (named with the parked suffix).
fn holds_parked(dir: &std::path::Path) -> std::io::Result<bool> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(crate::layout::PARKED_SUFFIX))
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
