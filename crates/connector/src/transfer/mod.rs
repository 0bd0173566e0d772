//! Streaming uploads, downloads and copies, shared by the object actions and the document
//! stores. One file per job:
//! - [`upload`]: a single PUT, or a multipart upload from a file or a stream;
//! - [`multipart`]: one multipart upload's life (create, parts, complete, abort) and the
//!   clean-up of uploads left behind;
//! - [`download`]: a GET whose body resumes where it broke, to a file, a writer or a stream;
//! - [`copy`]: a server-side copy, multipart above the copy threshold.
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

pub mod copy;
pub mod download;
pub mod multipart;
pub mod upload;

pub use crate::fields::ObjectHeaders;
pub use copy::{copy, Copied, CopySource, Replace};
pub use download::{download_to_file, download_to_writer, open_object, Downloaded, ObjectStream, OpenedObject};
pub use multipart::{cleanup_command, part_size_for, ABORT_BUDGET, CLEANUP_WAIT};
pub use upload::{upload, UploadSource, Uploaded};

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

/// The object a read addresses: its bucket and key, and optionally one version of it and the
/// SSE-C key it was written with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// A version; `None`: the current one.
    pub version_id: Option<String>,
    /// The SSE-C key the object was written with.
    pub customer_key: Option<crate::encryption::CustomerKey>,
}

impl ObjectRef {
    /// The current version of `bucket/key`, not encrypted with a customer key.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            ..Default::default()
        }
    }

    /// `version_id` of `bucket/key` (none: the current one), read with the SSE-C key a
    /// request gave in `field`, checked by [`customer_key`](crate::encryption::customer_key).
    pub(crate) fn checked(
        settings: &crate::config::ConnectionSettings,
        (bucket, key, version_id): (&str, &str, Option<&str>),
        field: &str,
        customer_key: Option<&crate::config::Secret>,
    ) -> crate::error::Result<Self> {
        Ok(ObjectRef {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: version_id.map(str::to_string),
            customer_key: crate::encryption::customer_key(settings, field, customer_key)?,
        })
    }

    /// `s3://bucket/key`, with `?versionId=` for a version: for messages.
    pub fn url(&self) -> String {
        match &self.version_id {
            Some(v) => format!("s3://{}/{}?versionId={v}", self.bucket, self.key),
            None => format!("s3://{}/{}", self.bucket, self.key),
        }
    }
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
    /// Tags to give the object; none when empty.
    pub tags: &'a BTreeMap<String, String>,
    /// Cache-Control, Content-Disposition, Content-Encoding and Expires to store.
    pub headers: &'a ObjectHeaders,
    /// The storage class to ask for; `None`: the store's default.
    pub storage_class: Option<&'a str>,
    /// Server-side encryption to ask for; `None`: the bucket's default.
    pub encryption: Option<&'a crate::encryption::Encryption>,
    /// SSE-C: the key to encrypt with.
    pub customer_key: Option<&'a crate::encryption::CustomerKey>,
}

impl UploadTarget<'_> {
    /// The `x-amz-tagging` header for the object's tags, if it has any.
    pub(crate) fn tagging(&self) -> Option<String> {
        (!self.tags.is_empty()).then(|| crate::s3::tagging_header(self.tags))
    }

    /// The storage class as the SDK takes it.
    pub(crate) fn storage_class(&self) -> Option<aws_sdk_s3::types::StorageClass> {
        self.storage_class.map(aws_sdk_s3::types::StorageClass::from)
    }
}

/// Sets what a new object is stored with (key, type, metadata, tags, storage class, headers,
/// encryption, SSE-C) from an [`UploadTarget`] on a PutObject or a CreateMultipartUpload
/// request: two builder types with the same setters, so a macro rather than a function.
macro_rules! for_target {
    ($req:expr, $t:expr) => {{
        let t: &$crate::transfer::UploadTarget<'_> = $t;
        let req = $req
            .bucket(t.bucket)
            .key(t.key)
            .content_type(t.content_type)
            .set_metadata($crate::transfer::metadata_map(t.metadata))
            .set_tagging(t.tagging())
            .set_storage_class(t.storage_class())
            .set_cache_control(t.headers.cache_control.clone())
            .set_content_disposition(t.headers.content_disposition.clone())
            .set_content_encoding(t.headers.content_encoding.clone())
            .set_expires(t.headers.expires_time());
        let req = $crate::encryption::with_encryption!(req, t.encryption);
        $crate::encryption::with_customer_key!(req, t.customer_key)
    }};
}
pub(crate) use for_target;

pub(crate) fn metadata_map(meta: &BTreeMap<String, String>) -> Option<std::collections::HashMap<String, String>> {
    (!meta.is_empty()).then(|| meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}
