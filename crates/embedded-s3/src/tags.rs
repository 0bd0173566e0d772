//! Object tags: S3's rules for a tag set (at most 10 tags, keys of 1 to 128 characters,
//! values of at most 256, no key twice), read from a `TagSet` or from the URL-encoded
//! `x-amz-tagging` header of PutObject, CopyObject and CreateMultipartUpload.

use std::collections::BTreeMap;

use s3s::dto::Tag;
use s3s::{s3_error, S3Result};

/// The most tags an object may have.
const MAX_TAGS: usize = 10;

/// Tags as stored in an object's sidecar.
pub type Tags = BTreeMap<String, String>;

/// Checks a tag set against S3's rules.
pub fn check(pairs: impl IntoIterator<Item = (String, String)>) -> S3Result<Tags> {
    let mut tags = Tags::new();
    for (key, value) in pairs {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if value.chars().count() > 256 {
            return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
        }
        if tags.insert(key, value).is_some() {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than 10"));
    }
    Ok(tags)
}

/// The tags of an `x-amz-tagging` header: `k1=v1&k2=v2`, URL-encoded.
pub fn from_header(header: Option<&str>) -> S3Result<Tags> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Ok(Tags::new());
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| s3_error!(InvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))
    };
    let pairs = header
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect::<S3Result<Vec<_>>>()?;
    check(pairs)
}

/// The tags of a request's `TagSet`.
pub fn from_set(set: Vec<Tag>) -> S3Result<Tags> {
    check(
        set.into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())),
    )
}

/// Tags as a `TagSet`, in key order.
pub fn to_set(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_decode_and_rules_hold() {
        let tags = from_header(Some("team=ops&note=a%20b+c&empty=")).expect("valid");
        assert_eq!(tags["note"], "a b c");
        assert_eq!(tags["empty"], "");
        assert!(from_header(Some("a=1&a=2")).is_err(), "a key twice");
        assert!(from_header(Some("=1")).is_err(), "an empty key");
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(from_header(Some(&many.join("&"))).is_err(), "eleven tags");
        assert!(from_header(None).expect("none").is_empty());
    }
}
