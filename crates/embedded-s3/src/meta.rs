//! The JSON files the store keeps beside content: object sidecars, multipart upload and part
//! records, and the reading of s3s-fs's metadata files in old data directories.

use std::io;
use std::path::Path;

use s3s::dto::{Metadata, Timestamp};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;

/// The checksums S3 knows, each base64 as in the `x-amz-checksum-*` headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    /// CRC32C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// CRC64NVME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

impl From<s3s::dto::Checksum> for Checksums {
    fn from(c: s3s::dto::Checksum) -> Self {
        Checksums {
            crc32: c.checksum_crc32,
            crc32c: c.checksum_crc32c,
            sha1: c.checksum_sha1,
            sha256: c.checksum_sha256,
            crc64nvme: c.checksum_crc64nvme,
        }
    }
}

/// The headers S3 stores with an object and sends back on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Headers {
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Content-Encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// Content-Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// The `x-amz-meta-*` headers, without the prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// An object's sidecar: everything about it but its content and modification time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The ETag, without quotes.
    pub e_tag: String,
    /// The content's size; a sidecar whose size disagrees with the content is stale.
    pub size: u64,
    /// The stored headers.
    #[serde(flatten)]
    pub headers: Headers,
    /// Checksums given (and verified) when the object was written.
    #[serde(default)]
    pub checksums: Checksums,
    /// For an object assembled from a multipart upload, its number of parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_count: Option<i32>,
    /// The object's tags.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: crate::tags::Tags,
    /// Its storage class, when not `STANDARD`. The store keeps every object on the same disk;
    /// the class is kept and reported, as S3 would, so that clients can rely on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// The class a write asked for: `None` for S3's default, an `InvalidStorageClass` error for a
/// name S3 does not know.
pub fn storage_class_of(asked: Option<s3s::dto::StorageClass>) -> s3s::S3Result<Option<String>> {
    use s3s::dto::StorageClass;
    const KNOWN: [&str; 11] = [
        StorageClass::STANDARD,
        StorageClass::REDUCED_REDUNDANCY,
        StorageClass::STANDARD_IA,
        StorageClass::ONEZONE_IA,
        StorageClass::INTELLIGENT_TIERING,
        StorageClass::GLACIER,
        StorageClass::DEEP_ARCHIVE,
        StorageClass::OUTPOSTS,
        StorageClass::GLACIER_IR,
        StorageClass::SNOW,
        StorageClass::EXPRESS_ONEZONE,
    ];
    match asked {
        None => Ok(None),
        Some(c) if c.as_str() == StorageClass::STANDARD => Ok(None),
        Some(c) if KNOWN.contains(&c.as_str()) => Ok(Some(c.as_str().to_string())),
        Some(_) => Err(s3s::s3_error!(
            InvalidStorageClass,
            "The storage class you specified is not valid"
        )),
    }
}

/// Refuses a write that asks for server-side encryption: the store keeps objects unencrypted
/// on its disk, and must not let a client believe otherwise.
pub fn refuse_encryption(
    sse: Option<&s3s::dto::ServerSideEncryption>,
    customer_algorithm: Option<&String>,
) -> s3s::S3Result<()> {
    if sse.is_some() || customer_algorithm.is_some() {
        return Err(s3s::s3_error!(
            NotImplemented,
            "The embedded store does not encrypt objects: server-side encryption is not supported"
        ));
    }
    Ok(())
}

/// `upload.json`: a multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    /// The bucket it will complete into.
    pub bucket: String,
    /// The key it will complete as.
    pub key: String,
    /// When it was created.
    pub initiated: Timestamp,
    /// The headers the object will have.
    #[serde(flatten)]
    pub headers: Headers,
    /// The checksum algorithm named at creation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// The tags the object will have.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: crate::tags::Tags,
    /// The storage class the object will have, when not `STANDARD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// The access key that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `part-N.json`: one uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// The part's ETag (hex MD5 of its content), without quotes.
    pub e_tag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Checksums given (and verified) with it.
    #[serde(default)]
    pub checksums: Checksums,
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether an I/O error means "no such file" (including a file where a directory was
/// expected on the way, and a name too long to exist).
pub fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    )
}

/// s3s-fs's `ObjectAttributes` (its `.metadata.json`), as far as S3 answers with it.
#[derive(Debug, Default, Deserialize)]
struct LegacyAttributes {
    #[serde(default)]
    user_metadata: Option<Metadata>,
    #[serde(default)]
    content_encoding: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content_disposition: Option<String>,
    #[serde(default)]
    content_language: Option<String>,
    #[serde(default)]
    cache_control: Option<String>,
    #[serde(default)]
    expires: Option<String>,
}

/// What s3s-fs kept about an object written by it: its headers and, if it recorded them,
/// its ETag and checksums. Unreadable files count as absent: the content is what matters.
pub fn read_legacy(layout: &Layout, bucket: &str, key: &str) -> (Headers, Option<String>, Checksums) {
    let mut headers = Headers::default();
    if let Some(path) = layout.legacy_metadata_path(bucket, key) {
        if let Ok(bytes) = std::fs::read(path) {
            // Older s3s-fs versions stored the user metadata map alone.
            if let Ok(a) = serde_json::from_slice::<LegacyAttributes>(&bytes) {
                headers = Headers {
                    content_type: a.content_type,
                    content_encoding: a.content_encoding,
                    content_disposition: a.content_disposition,
                    content_language: a.content_language,
                    cache_control: a.cache_control,
                    expires: a
                        .expires
                        .and_then(|s| Timestamp::parse(s3s::dto::TimestampFormat::DateTime, &s).ok()),
                    metadata: a.user_metadata,
                };
            } else if let Ok(m) = serde_json::from_slice::<Metadata>(&bytes) {
                headers.metadata = Some(m);
            }
        }
    }
    let mut e_tag = None;
    let mut checksums = Checksums::default();
    if let Some(path) = layout.legacy_internal_path(bucket, key) {
        if let Ok(bytes) = std::fs::read(path) {
            if let Ok(info) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
                let get = |name: &str| info.get(name).and_then(|v| v.as_str()).map(str::to_string);
                e_tag = get("e_tag");
                checksums = Checksums {
                    crc32: get("checksum_crc32"),
                    crc32c: get("checksum_crc32c"),
                    sha1: get("checksum_sha1"),
                    sha256: get("checksum_sha256"),
                    crc64nvme: get("checksum_crc64nvme"),
                };
            }
        }
    }
    (headers, e_tag, checksums)
}
