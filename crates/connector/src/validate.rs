//! Input checks that run before any network call.
//!
//! A request that fails here never reaches the store: the caller gets
//! [`ErrorCode::InvalidInput`](crate::error::ErrorCode::InvalidInput) naming the JSON field,
//! and nothing is written.

use std::net::Ipv4Addr;

use crate::error::{Error, Result};

/// Shortest allowed bucket name.
pub const BUCKET_MIN: usize = 3;
/// Longest allowed bucket name.
pub const BUCKET_MAX: usize = 63;
/// Longest allowed key, in UTF-8 bytes.
pub const KEY_MAX_BYTES: usize = 1024;
/// S3's smallest part (except the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's largest number of parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// The longest a SigV4 presigned URL may live: 7 days.
pub const MAX_PRESIGN_SECONDS: u64 = 7 * 24 * 3600;

/// Checks a bucket name against AWS's rules for general purpose buckets.
///
/// # Behavior
/// 3-63 characters of `[a-z0-9.-]`, starting and ending with a letter or digit, no `..`,
/// not shaped like an IPv4 address, none of the reserved prefixes (`xn--`, `sthree-`,
/// `amzn-s3-demo-`) or suffixes (`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`).
pub fn bucket(field: &str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid_input(field, format!("bucket name {name:?} {why}")));
    if name.is_empty() {
        return Err(Error::invalid_input(field, "is required: give a bucket name"));
    }
    if name.len() < BUCKET_MIN || name.len() > BUCKET_MAX {
        return bad("must be 3 to 63 characters long");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return bad(&format!("has {c:?}; use only lowercase letters, digits, '.' and '-'"));
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return bad("must not contain two adjacent periods");
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return bad("must not be formatted as an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return bad(&format!("must not start with the reserved prefix {prefix:?}"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return bad(&format!("must not end with the reserved suffix {suffix:?}"));
        }
    }
    Ok(())
}

/// Checks an object key: 1 to 1024 bytes of UTF-8 (a Rust `str` is always UTF-8).
pub fn key(field: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_input(field, "is required: give an object key"));
    }
    if key.len() > KEY_MAX_BYTES {
        return Err(Error::invalid_input(
            field,
            format!("key is {} bytes; S3 allows at most {KEY_MAX_BYTES}", key.len()),
        ));
    }
    Ok(())
}

/// Checks a prefix: like a key, but may be empty.
pub fn prefix(field: &str, prefix: &str) -> Result<()> {
    if prefix.len() > KEY_MAX_BYTES {
        return Err(Error::invalid_input(
            field,
            format!("prefix is {} bytes; S3 allows at most {KEY_MAX_BYTES}", prefix.len()),
        ));
    }
    Ok(())
}

/// A byte range of an object, parsed from the HTTP form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=START-END`, both inclusive.
    Closed(u64, u64),
    /// `bytes=START-`: from START to the end.
    From(u64),
    /// `bytes=-N`: the last N bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The HTTP `Range` header value.
    pub fn header(&self) -> String {
        match self {
            ByteRange::Closed(a, b) => format!("bytes={a}-{b}"),
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

/// Parses `bytes=START-END`, `bytes=START-` or `bytes=-N` (the `bytes=` may be left out).
pub fn range(field: &str, text: &str) -> Result<ByteRange> {
    let bad = || {
        Error::invalid_input(
            field,
            format!(
                "{text:?} is not a byte range; write bytes=START-END, bytes=START- or bytes=-COUNT (inclusive, from 0)"
            ),
        )
    };
    let spec = text.trim();
    let spec = spec.strip_prefix("bytes=").unwrap_or(spec);
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => Err(bad()),
        (true, false) => {
            let n = num(b)?;
            if n == 0 {
                return Err(Error::invalid_input(
                    field,
                    "a suffix range must ask for at least 1 byte",
                ));
            }
            Ok(ByteRange::Suffix(n))
        }
        (false, true) => Ok(ByteRange::From(num(a)?)),
        (false, false) => {
            let (start, end) = (num(a)?, num(b)?);
            if start > end {
                return Err(Error::invalid_input(
                    field,
                    format!("range start {start} is after its end {end}"),
                ));
            }
            Ok(ByteRange::Closed(start, end))
        }
    }
}

/// Checks a presigned URL's lifetime: 1 second to 7 days.
pub fn expiry(field: &str, seconds: u64) -> Result<()> {
    if seconds == 0 || seconds > MAX_PRESIGN_SECONDS {
        return Err(Error::invalid_input(
            field,
            format!("{seconds} s is out of range; a presigned URL lives 1 to {MAX_PRESIGN_SECONDS} seconds (7 days)"),
        ));
    }
    Ok(())
}

/// Checks a multipart part size: 5 MiB to 5 GiB.
pub fn part_size(field: &str, bytes: u64) -> Result<()> {
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&bytes) {
        return Err(Error::invalid_input(
            field,
            format!("{bytes} bytes is out of range; S3 parts are 5 MiB ({MIN_PART_SIZE}) to 5 GiB ({MAX_PART_SIZE})"),
        ));
    }
    Ok(())
}

/// An object's bucket, key and (optional) version id, named as every request names them.
pub fn object_version(bucket_name: &str, key_name: &str, version: Option<&str>) -> Result<()> {
    bucket("bucket", bucket_name)?;
    key("key", key_name)?;
    version_id("versionId", version)
}

/// A version id, when one is given: the store's opaque token, so only its shape is checked
/// (not empty, at most 1,024 characters, no control characters).
pub fn version_id(field: &str, id: Option<&str>) -> Result<()> {
    match id {
        None => Ok(()),
        Some(id) if id.is_empty() || id.len() > 1024 || id.chars().any(|c| c.is_control()) => {
            Err(Error::invalid_input(
                field,
                "must be a version id as listObjectVersions gives it (1 to 1,024 characters)",
            ))
        }
        Some(_) => Ok(()),
    }
}

/// Cache-Control, Content-Disposition and Content-Encoding go into headers as given: no
/// control characters (a line break would end the header); Expires must be RFC 3339.
pub fn object_headers(headers: &crate::fields::ObjectHeaders) -> Result<()> {
    for (field, value) in [
        ("cacheControl", &headers.cache_control),
        ("contentDisposition", &headers.content_disposition),
        ("contentEncoding", &headers.content_encoding),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.chars().any(|c| c.is_control() && c != '\t'))
        {
            return Err(Error::invalid_input(
                field,
                "must not contain line breaks or other control characters",
            ));
        }
    }
    if let Some(text) = &headers.expires {
        if headers.expires_time().is_none() {
            return Err(Error::invalid_input(
                "expires",
                format!("{text:?} is not an RFC 3339 time, e.g. 2026-12-31T23:59:59Z"),
            ));
        }
    }
    Ok(())
}

/// The most tags an object may have.
pub const MAX_TAGS: usize = 10;

/// Checks a storage class against the names S3 knows (`STANDARD`, `STANDARD_IA`,
/// `GLACIER_IR`, ...): a misspelt class would otherwise reach the store.
pub fn storage_class(field: &str, class: Option<&str>) -> Result<()> {
    let Some(class) = class else {
        return Ok(());
    };
    let known = aws_sdk_s3::types::StorageClass::values();
    if known.contains(&class) {
        return Ok(());
    }
    Err(Error::invalid_input(
        field,
        format!("{class:?} is not a storage class; use one of {}", known.join(", ")),
    ))
}

/// S3's rules for object tags: at most 10, keys of 1 to 128 characters and values of at most
/// 256, neither starting with `aws:` (reserved), no control characters.
pub fn tags(field: &str, tags: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid_input(
            field,
            format!("has {} tags; an object may have at most {MAX_TAGS}", tags.len()),
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(Error::invalid_input(
                field,
                format!("tag key {key:?} must be 1 to 128 characters"),
            ));
        }
        if value.chars().count() > 256 {
            return Err(Error::invalid_input(
                field,
                format!("the value of tag {key:?} is longer than 256 characters"),
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(Error::invalid_input(
                field,
                format!("tag key {key:?}: the prefix aws: is reserved"),
            ));
        }
        if key.chars().chain(value.chars()).any(|c| c.is_control()) {
            return Err(Error::invalid_input(
                field,
                format!("tag {key:?} must not contain control characters"),
            ));
        }
    }
    Ok(())
}

/// Checks a user metadata map: ASCII header-safe names, and S3's 2 KiB total.
pub fn metadata(field: &str, meta: &std::collections::BTreeMap<String, String>) -> Result<()> {
    let mut total = 0;
    for (name, value) in meta {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(Error::invalid_input(
                field,
                format!("metadata name {name:?} must be non-empty ASCII letters, digits, '-', '_' or '.'"),
            ));
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(Error::invalid_input(
                field,
                format!("metadata value of {name:?} must not contain control characters"),
            ));
        }
        total += name.len() + value.len();
    }
    if total > 2048 {
        return Err(Error::invalid_input(
            field,
            format!("user metadata is {total} bytes; S3 allows at most 2048 in all"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket", "my.bucket.01", &"a".repeat(63)] {
            assert!(bucket("bucket", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "my_bucket",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "sthree-abc",
            "amzn-s3-demo-x",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
            "ab c",
            "ünï",
        ] {
            let err = bucket("bucket", bad).expect_err(bad);
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput);
            assert!(err.message.starts_with("bucket"), "{}", err.message);
        }
    }

    #[test]
    fn keys() {
        assert!(key("key", "a").is_ok());
        assert!(key("key", &"é".repeat(512)).is_ok());
        assert!(key("key", "").is_err());
        assert!(key("key", &"é".repeat(513)).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(range("range", "bytes=0-9").ok(), Some(ByteRange::Closed(0, 9)));
        assert_eq!(range("range", "5-").ok(), Some(ByteRange::From(5)));
        assert_eq!(range("range", "bytes=-3").ok(), Some(ByteRange::Suffix(3)));
        for bad in ["", "bytes=", "bytes=9-1", "x", "bytes=a-b", "bytes=-0", "-"] {
            assert!(range("range", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert!(expiry("expiresIn", 1).is_ok());
        assert!(expiry("expiresIn", 604_800).is_ok());
        assert!(expiry("expiresIn", 604_801).is_err());
        assert!(expiry("expiresIn", 0).is_err());
        assert!(part_size("partSize", MIN_PART_SIZE).is_ok());
        assert!(part_size("partSize", MIN_PART_SIZE - 1).is_err());
    }
}
