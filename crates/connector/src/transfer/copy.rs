//! Server-side copies: one CopyObject up to the copy threshold (5 GiB, S3's limit), a multipart
//! copy (UploadPartCopy) above it. Every request is conditioned on the source's ETag, so a copy
//! is of one version even while the source is being rewritten.

use std::collections::BTreeMap;

use aws_sdk_s3::types::MetadataDirective;
use futures::stream::StreamExt;

use super::multipart::{part_size_for, Multipart};
use super::{ObjectHeaders, UploadTarget};
use crate::client::Connector;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::s3::{encode_key, unquote};

/// The object to copy, as a HEAD of it found it.
pub struct CopySource<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// Key.
    pub key: &'a str,
    /// Size in bytes: it chooses between one CopyObject and a multipart copy.
    pub size: u64,
    /// ETag without quotes; every request is pinned to it.
    pub etag: &'a str,
    /// Its content type, kept unless replaced.
    pub content_type: Option<&'a str>,
    /// Its user metadata, kept unless replaced.
    pub metadata: &'a BTreeMap<String, String>,
    /// Its Cache-Control, Content-Disposition, Content-Encoding and Expires, kept unless
    /// replaced.
    pub headers: ObjectHeaders,
    /// Its storage class as the store reports it (`None`: the default), kept unless replaced.
    pub storage_class: Option<&'a str>,
    /// The version copied; `None`: the current one.
    pub version_id: Option<&'a str>,
    /// The SSE-C key it is encrypted with.
    pub customer_key: Option<&'a crate::encryption::CustomerKey>,
}

/// What a copy gives the new object instead of the source's. Replacing any of the metadata,
/// the content type or the headers replaces them all in S3 (its metadata directive
/// `REPLACE`): those not given are then the source's, carried over here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replace<'a> {
    /// New user metadata.
    pub metadata: Option<&'a BTreeMap<String, String>>,
    /// A new content type.
    pub content_type: Option<&'a str>,
    /// New standard headers (each one given replaces the source's).
    pub headers: Option<&'a ObjectHeaders>,
    /// New tags (S3's tagging directive `REPLACE`; empty: none).
    pub tags: Option<&'a BTreeMap<String, String>>,
    /// A new storage class. Unlike S3's CopyObject, which gives `STANDARD` unless told
    /// otherwise, a copy keeps the source's class: it is the same object at a new key.
    pub storage_class: Option<&'a str>,
    /// Server-side encryption for the copy; `None`: the destination bucket's default (as
    /// S3's CopyObject: the source's encryption is not carried over).
    pub encryption: Option<&'a crate::encryption::Encryption>,
    /// SSE-C: the key to encrypt the copy with.
    pub customer_key: Option<&'a crate::encryption::CustomerKey>,
}

impl Replace<'_> {
    /// Whether the metadata directive is `REPLACE`.
    fn metadata_directive(&self) -> bool {
        self.metadata.is_some() || self.content_type.is_some() || self.headers.is_some_and(|h| !h.is_empty())
    }
}

/// What [`copy`] did.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The copy's ETag, without quotes.
    pub etag: Option<String>,
    /// Whether a multipart copy was used.
    pub multipart: bool,
}

/// Copies `source` to `dest_bucket/dest_key`, pinned to its ETag, with what `replace` gives
/// instead of the source's.
///
/// # Behavior
/// A source that changes during the copy fails it with `PreconditionFailed`, and nothing is
/// copied: a multipart copy is aborted.
pub async fn copy(
    conn: &Connector,
    source: &CopySource<'_>,
    dest_bucket: &str,
    dest_key: &str,
    replace: Replace<'_>,
) -> Result<Copied> {
    let (metadata, content_type, tags) = (replace.metadata, replace.content_type, replace.tags);
    let storage_class = replace.storage_class.or(source.storage_class);
    let headers = replace
        .headers
        .map(|h| h.or(&source.headers))
        .unwrap_or_else(|| source.headers.clone());
    let copy_source = match source.version_id {
        Some(v) => format!(
            "{}/{}?versionId={}",
            source.bucket,
            encode_key(source.key),
            crate::s3::encode_key(v)
        ),
        None => format!("{}/{}", source.bucket, encode_key(source.key)),
    };
    let quoted = format!("\"{}\"", source.etag);
    let what = format!(
        "CopyObject s3://{}/{} to s3://{dest_bucket}/{dest_key}",
        source.bucket, source.key
    );
    let changed = |e: Error| {
        if e.code == ErrorCode::PreconditionFailed {
            Error::new(
                ErrorCode::PreconditionFailed,
                format!("{what}: the source changed while being copied; nothing was copied"),
            )
        } else {
            e
        }
    };
    if source.size <= conn.transfer().multipart_copy_threshold {
        let replacing = replace.metadata_directive();
        let mut req = conn
            .client()
            .copy_object()
            .bucket(dest_bucket)
            .key(dest_key)
            .copy_source(&copy_source)
            .copy_source_if_match(&quoted)
            .set_storage_class(storage_class.map(aws_sdk_s3::types::StorageClass::from));
        req = crate::encryption::with_encryption!(req, replace.encryption);
        req = crate::encryption::with_customer_key!(req, replace.customer_key);
        req = crate::encryption::with_copy_source_customer_key!(req, source.customer_key);
        if let Some(tags) = tags {
            req = req
                .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
                .tagging(crate::s3::tagging_header(tags));
        }
        if replacing {
            let meta = metadata.unwrap_or(source.metadata).clone();
            req = req
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(Some(meta.into_iter().collect()))
                .set_content_type(content_type.or(source.content_type).map(str::to_string))
                .set_cache_control(headers.cache_control.clone())
                .set_content_disposition(headers.content_disposition.clone())
                .set_content_encoding(headers.content_encoding.clone())
                .set_expires(headers.expires_time());
        }
        // A copy's length depends on the object's size: the stall timeout bounds it, not the
        // attempt timeout (S3 keeps a long copy's connection alive with whitespace).
        let out = req
            .customize()
            .config_override(conn.no_attempt_timeout())
            .send()
            .await
            .map_err(|e| changed(Error::from_sdk(e, &what, Missing::Key)))?;
        return Ok(Copied {
            etag: unquote(out.copy_object_result().and_then(|r| r.e_tag())),
            multipart: false,
        });
    }

    // Multipart copy: the new object gets the source's (or the given) type and metadata, which
    // UploadPartCopy does not carry over by itself.
    let meta = metadata.unwrap_or(source.metadata);
    let ctype = content_type
        .or(source.content_type)
        .unwrap_or("application/octet-stream");
    // UploadPartCopy carries no tags either: the source's are read and given at creation.
    let source_tags = match tags {
        Some(_) => BTreeMap::new(),
        None => source_tags(conn, source).await?,
    };
    let target = UploadTarget {
        bucket: dest_bucket,
        key: dest_key,
        content_type: ctype,
        metadata: meta,
        tags: tags.unwrap_or(&source_tags),
        headers: &headers,
        storage_class,
        encryption: replace.encryption,
        customer_key: replace.customer_key,
    };
    let size = source.size;
    let part_size = part_size_for(conn.transfer().copy_part_size, size);
    let count = size.div_ceil(part_size);
    let mpu = Multipart::create(conn, &target).await?;
    let parts = async {
        let mut pending = futures::stream::iter(0..count)
            .map(|i| {
                let start = i * part_size;
                let end = (start + part_size).min(size) - 1;
                let mpu = &mpu;
                let copy_source = &copy_source;
                let quoted = &quoted;
                async move {
                    mpu.upload_part_copy(
                        (i + 1) as i32,
                        copy_source,
                        format!("bytes={start}-{end}"),
                        quoted,
                        source.customer_key,
                    )
                    .await
                }
            })
            .buffer_unordered(conn.transfer().concurrency);
        let mut done = Vec::with_capacity(count as usize);
        while let Some(p) = pending.next().await {
            done.push(p.map_err(changed)?);
        }
        Ok(done)
    }
    .await;
    let etag = mpu.finish(parts).await?;
    Ok(Copied {
        etag: unquote(etag.as_deref()),
        multipart: true,
    })
}

/// The tags of the object a multipart copy reads. A store without tagging has none to copy.
async fn source_tags(conn: &Connector, source: &CopySource<'_>) -> Result<BTreeMap<String, String>> {
    if let Err(e) = conn.require_tagging(source.bucket).await {
        if e.code == ErrorCode::NotSupported {
            return Ok(BTreeMap::new());
        }
    }
    match crate::tagging::read(conn, source.bucket, source.key, source.version_id).await {
        Ok((_, tags)) => Ok(tags.0),
        Err(e) if e.code == ErrorCode::NotSupported => Ok(BTreeMap::new()),
        // CopyObject carries tags without this permission; a multipart copy must read them.
        Err(e) if e.code == ErrorCode::AccessDenied => Err(e.context(
            "a copy over the multipart copy threshold (5 GiB) reads the source's tags to carry them over, which needs s3:GetObjectTagging on the source; grant it, or give the copy its own tags",
        )),
        Err(e) => Err(e),
    }
}
