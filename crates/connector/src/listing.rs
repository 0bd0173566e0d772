//! Reading S3's listings: the names a listing gives (URL-encoded on request), the markers that
//! page through it, and the multipart uploads in progress. Below both the
//! actions and the transfer machinery, which each page through listings.

use std::time::SystemTime;

use crate::client::Connector;
use crate::error::{Error, Missing, Result};

/// A key or prefix as a listing gave it. Listings ask for `encoding-type=url`, as aws-cli does:
/// XML 1.0 cannot carry control characters, so a key holding one would make the whole page
/// unreadable. The store says whether it encoded (`encoded`); one that ignored the request
/// sent names as they are. S3 encodes a space as `+` and a `+` as `%2B`.
pub(crate) fn listed_name(name: &str, encoded: bool) -> String {
    if !encoded {
        return name.to_string();
    }
    let spaced = name.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .unwrap_or_else(|_| name.to_string())
}

/// The markers (continuation tokens) a listing has followed. A store that hands one back
/// again would have the listing page forever, so that is refused.
pub(crate) struct Markers<T>(std::collections::HashSet<T>);

impl<T: std::hash::Hash + Eq> Markers<T> {
    /// Markers of a listing that starts at `first` (a caller's token), if any.
    pub(crate) fn new(first: Option<T>) -> Self {
        Markers(first.into_iter().collect())
    }

    /// Notes `next` as followed; `ServiceError` when it was followed before. `what` names the
    /// request.
    pub(crate) fn follow(&mut self, next: T, what: &str) -> Result<()> {
        if !self.0.insert(next) {
            return Err(Error::new(
                crate::error::ErrorCode::ServiceError,
                format!("{what}: the store answered a page with a marker it had sent before, so the listing would never end; stopped"),
            ));
        }
        Ok(())
    }
}

/// A multipart upload in progress, as ListMultipartUploads gives it.
#[derive(Debug, Clone)]
pub(crate) struct InProgress {
    /// The key being uploaded.
    pub key: String,
    /// The upload's id.
    pub upload_id: String,
    /// When it was started, as the SDK read it.
    pub initiated: Option<aws_sdk_s3::primitives::DateTime>,
}

impl InProgress {
    /// When it was started, as a time, to compare with an age; `None` when the store gave no
    /// date or one beyond what the platform's clock holds.
    pub fn started(&self) -> Option<SystemTime> {
        self.initiated.and_then(|t| SystemTime::try_from(t).ok())
    }
}

/// Pages through the uploads in progress under `prefix`, in the store's order (S3's is by key,
/// then by start; not every store keeps it), calling `each` on every one until it returns `false`. Returns whether it was
/// stopped so, with uploads left unseen.
pub(crate) async fn uploads_in_progress(
    conn: &Connector,
    bucket: &str,
    prefix: Option<&str>,
    mut each: impl FnMut(InProgress) -> bool,
) -> Result<bool> {
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    let mut markers = Markers::new(None);
    loop {
        let out = conn
            .client()
            .list_multipart_uploads()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_string))
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .send()
            .await
            .map_err(|e| Error::from_sdk(e, &format!("ListMultipartUploads {bucket}"), Missing::Bucket));
        let out = match out {
            Ok(out) => out,
            // S3 never answers a listing with NoSuchUpload; rclone serve s3 does for a bucket
            // that has had no upload yet: nothing is in progress.
            Err(e)
                if e.code == crate::error::ErrorCode::NoSuchKey
                    && e.store.as_ref().and_then(|s| s.code.as_deref()) == Some("NoSuchUpload") =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
        for u in out.uploads() {
            let (Some(key), Some(upload_id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            let upload = InProgress {
                key: listed_name(key, encoded),
                upload_id: upload_id.to_string(),
                initiated: u.initiated().copied(),
            };
            if !each(upload) {
                return Ok(true);
            }
        }
        if out.is_truncated() != Some(true) {
            return Ok(false);
        }
        // The key marker comes encoded like the keys, and goes back as the key it is.
        key_marker = out.next_key_marker().map(|m| listed_name(m, encoded));
        id_marker = out.next_upload_id_marker().map(str::to_string);
        if key_marker.is_none() && id_marker.is_none() {
            return Ok(false);
        }
        markers.follow(
            (key_marker.clone(), id_marker.clone()),
            &format!("ListMultipartUploads {bucket}"),
        )?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_are_decoded_only_when_the_store_encoded_them() {
        assert_eq!(listed_name("a+b%2Bc%00d/%C3%BC", true), "a b+c\u{0}d/ü");
        assert_eq!(listed_name("100%25+x", false), "100%25+x");
    }

    #[test]
    fn a_listing_that_hands_back_its_own_marker_stops() {
        let what = "ListObjectsV2 b";
        let mut markers = Markers::new(None);
        assert!(markers.follow("t1", what).is_ok(), "the first page");
        assert!(markers.follow("t2", what).is_ok());
        let err = markers.follow("t2", what).expect_err("the same marker");
        assert_eq!(err.code, crate::error::ErrorCode::ServiceError);
        assert!(err.message.contains("never end"), "{}", err.message);
        assert!(markers.follow("t1", what).is_err(), "a marker from two pages back");
        let mut from_caller = Markers::new(Some("t9"));
        assert!(from_caller.follow("t9", what).is_err(), "the caller's own token back");
    }
}
