//! The low helpers every layer shares to speak S3: how a key goes into a URL, how an ETag and a
//! timestamp come out of an answer, and which content type a key gets. Nothing here knows the
//! connector, the actions or the transfers, so anything may use it.

/// RFC 3339 form of an SDK timestamp.
pub(crate) fn rfc3339(t: &aws_sdk_s3::primitives::DateTime) -> Option<String> {
    t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok()
}

/// Percent-encodes a key for a URL path, keeping `/` as the separator.
pub(crate) fn encode_key(key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    // RFC 3986 unreserved characters stay as they are; everything else is encoded, except '/'.
    const KEY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(key, KEY).to_string()
}

/// The content type for a key: the given one, else guessed from its extension, else
/// `application/octet-stream`.
pub(crate) fn content_type_for(given: Option<&str>, key: &str) -> String {
    match given {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => guess_content_type(key).unwrap_or_else(|| "application/octet-stream".to_string()),
    }
}

/// The media type a file name or key suggests by its extension, if any.
pub fn guess_content_type(name: &str) -> Option<String> {
    mime_guess::from_path(name).first_raw().map(str::to_string)
}

/// Tags as the `x-amz-tagging` header carries them: `k1=v1&k2=v2`, each part percent-encoded.
pub(crate) fn tagging_header(tags: &std::collections::BTreeMap<String, String>) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const PART: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    tags.iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, PART), utf8_percent_encode(v, PART)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Strips the quotes S3 puts around ETags, so results compare cleanly.
pub(crate) fn unquote(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_for_urls() {
        assert_eq!(encode_key("a b/c+d&e=f%g/ü.txt"), "a%20b/c%2Bd%26e%3Df%25g/%C3%BC.txt");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_for(None, "a/b.json"), "application/json");
        assert_eq!(content_type_for(Some("text/csv"), "a.json"), "text/csv");
        assert_eq!(content_type_for(Some(" "), "noext"), "application/octet-stream");
    }
}
