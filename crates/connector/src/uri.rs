//! `s3://bucket/key` addresses and key wildcards, as aws-cli and s5cmd users type them.
//!
//! The URI verbs of the CLI (`ls`, `cat`, `cp`, ...) take these; the actions take a bucket and a
//! key apart. A wildcard (`*`, `?`, `[...]`) matches keys as s5cmd does: `*` crosses `/`, so
//! `s3://b/logs/*.gz` matches `logs/2026/01/a.gz` too. Listing starts at the literal part
//! before the first wildcard, so a pattern never lists more of the bucket than it must.

use crate::error::{Error, Result};
use crate::validate;

/// An `s3://bucket[/key]` address. The key may be empty (the whole bucket) or end in `/` (a
/// prefix); it is taken as typed, with no decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// Everything after `bucket/`: a key, a prefix, or a pattern.
    pub key: String,
}

impl S3Url {
    /// Whether `text` is meant as an S3 address (starts with `s3://`, any case).
    pub fn is_s3(text: &str) -> bool {
        text.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("s3://"))
    }

    /// Parses `s3://bucket`, `s3://bucket/`, `s3://bucket/key` or `s3://bucket/prefix/`.
    ///
    /// # Behavior
    /// The bucket is checked as every action checks it; a text that is not an `s3://` address
    /// is `InvalidInput` that says how to write one. `field` names the argument in errors.
    pub fn parse(field: &str, text: &str) -> Result<S3Url> {
        if !Self::is_s3(text) {
            return Err(Error::invalid_input(
                field,
                format!("{text:?} is not an S3 address; write it as s3://bucket/key"),
            ));
        }
        let rest = &text[5..];
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid_input(
                field,
                format!("{text:?} names no bucket; write it as s3://bucket/key"),
            ));
        }
        validate::bucket(field, bucket)?;
        validate::prefix(field, key)?;
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Whether the key holds a wildcard (`*`, `?` or `[`).
    pub fn has_wildcard(&self) -> bool {
        self.key.contains(['*', '?', '['])
    }

    /// The key's wildcard as a matcher, and the literal prefix before it to list from; `None`
    /// when the key has no wildcard.
    pub fn pattern(&self, field: &str) -> Result<Option<KeyPattern>> {
        if !self.has_wildcard() {
            return Ok(None);
        }
        KeyPattern::new(field, &self.key).map(Some)
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// A key pattern: `*` any run of characters (`/` included), `?` one character, `[abc]` one
/// of a set.
#[derive(Debug, Clone)]
pub struct KeyPattern {
    matcher: globset::GlobMatcher,
    prefix: String,
}

impl KeyPattern {
    /// Compiles `pattern`; a malformed one (an unclosed `[`) is `InvalidInput`.
    pub fn new(field: &str, pattern: &str) -> Result<KeyPattern> {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| Error::invalid_input(field, format!("{pattern:?} is not a valid wildcard: {}", e.kind())))?;
        let literal_end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
        Ok(KeyPattern {
            matcher: glob.compile_matcher(),
            prefix: pattern[..literal_end].to_string(),
        })
    }

    /// The literal start of the pattern: listing from here sees every key it can match.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `key` matches.
    pub fn matches(&self, key: &str) -> bool {
        self.matcher.is_match(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_typed() {
        let u = S3Url::parse("src", "s3://reports/2026/q1.csv").expect("parses");
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("reports", "2026/q1.csv"));
        assert_eq!(S3Url::parse("src", "s3://reports").expect("bucket").key, "");
        assert_eq!(S3Url::parse("src", "S3://reports/").expect("bucket/").key, "");
        assert_eq!(S3Url::parse("src", "s3://b1b/a b/").expect("prefix").key, "a b/");
        for bad in ["reports/q1", "s3://", "s3:///key", "s3://Bad_Bucket/k", "/tmp/x"] {
            let err = S3Url::parse("src", bad).expect_err(bad);
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn wildcards_match_as_in_s5cmd() {
        let u = S3Url::parse("src", "s3://b1b/logs/2026-*.gz").expect("parses");
        let p = u.pattern("src").expect("valid").expect("a wildcard");
        assert_eq!(p.prefix(), "logs/2026-");
        for key in ["logs/2026-01.gz", "logs/2026-01/02.gz", "logs/2026-.gz"] {
            assert!(p.matches(key), "{key}");
        }
        for key in ["logs/2025-01.gz", "logs/2026-01.gz.bak", "x/logs/2026-01.gz"] {
            assert!(!p.matches(key), "{key}");
        }
        let one = KeyPattern::new("src", "a/?.txt").expect("valid");
        assert!(one.matches("a/1.txt") && !one.matches("a/12.txt"));
        let set = KeyPattern::new("src", "a/[xy].txt").expect("valid");
        assert!(set.matches("a/x.txt") && !set.matches("a/z.txt"));
        assert!(S3Url::parse("src", "s3://b1b/plain/key")
            .expect("ok")
            .pattern("src")
            .expect("ok")
            .is_none());
        assert!(KeyPattern::new("src", "a/[x.txt").is_err());
    }
}
