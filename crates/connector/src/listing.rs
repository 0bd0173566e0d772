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

/// S3's largest page.
const MAX_PAGE: usize = 1000;

/// The paging of a listing for a caller who wants at most `max` entries, from the caller's
/// marker (none: from the start): which marker each request sends and how many entries it
/// may ask for, when to stop, and where the caller resumes. A store that hands a marker back
/// again is refused ([`Markers`]).
///
/// ```text
/// let mut pager = Pager::new(first, max);
/// while let Some((marker, room)) = pager.next() {
///     // one request for `room` entries from `marker`; keep what it gave
///     pager.got(added, next_marker, &what)?;
/// }
/// let resume = pager.resume();
/// ```
pub(crate) struct Pager<M> {
    markers: Markers<M>,
    marker: Option<M>,
    max: usize,
    gathered: usize,
    /// `Some` once done: with the marker to resume from when the limit stopped it, `None`
    /// inside when the listing ended.
    done: Option<Option<M>>,
}

impl<M: std::hash::Hash + Eq + Clone> Pager<M> {
    /// A listing from `first` (a caller's marker), for at most `max` entries.
    pub(crate) fn new(first: Option<M>, max: usize) -> Self {
        Pager {
            markers: Markers::new(first.clone()),
            marker: first,
            max,
            gathered: 0,
            done: None,
        }
    }

    /// The next request's marker and how many entries it may ask for (never more than a
    /// page); `None` once the listing ended or the limit is reached.
    pub(crate) fn next(&mut self) -> Option<(Option<M>, usize)> {
        if self.done.is_some() {
            return None;
        }
        let room = self.max.saturating_sub(self.gathered).min(MAX_PAGE);
        Some((self.marker.take(), room))
    }

    /// Notes what a request gave: `added` entries, and the marker of the page after it
    /// (`None`: it was the last). `what` names the request, for the error on a repeated marker.
    pub(crate) fn got(&mut self, added: usize, next: Option<M>, what: &str) -> Result<()> {
        self.gathered = self.gathered.saturating_add(added);
        match next {
            None => self.done = Some(None),
            Some(next) if self.gathered >= self.max => self.done = Some(Some(next)),
            Some(next) => {
                self.markers.follow(next.clone(), what)?;
                self.marker = Some(next);
            }
        }
        Ok(())
    }

    /// Where the caller resumes: the next marker when the limit stopped the listing, `None`
    /// when it ended.
    pub(crate) fn resume(self) -> Option<M> {
        self.done.flatten()
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
    fn a_pager_stops_at_the_limit_or_the_end_and_says_where_to_resume() {
        // Limit 2500 over pages of 1000: the third request asks for 500 only.
        let mut pager = Pager::new(None, 2500);
        let mut asked = Vec::new();
        let mut n = 0;
        while let Some((marker, room)) = pager.next() {
            asked.push((marker, room));
            n += 1;
            pager.got(room, Some(format!("t{n}")), "L").expect("new marker");
        }
        assert_eq!(
            asked,
            vec![
                (None, 1000),
                (Some("t1".to_string()), 1000),
                (Some("t2".to_string()), 500)
            ]
        );
        assert_eq!(pager.resume(), Some("t3".to_string()), "stopped by the limit");
        // A listing that ends first has nothing to resume; a caller's marker is the first sent.
        let mut pager = Pager::new(Some("c".to_string()), 10);
        assert_eq!(pager.next(), Some((Some("c".to_string()), 10)));
        pager.got(3, None, "L").expect("end");
        assert_eq!(pager.next(), None);
        assert_eq!(pager.resume(), None);
        // A page that hands back the caller's own marker would loop: refused.
        let mut pager = Pager::new(Some("c".to_string()), 10);
        pager.next();
        assert!(pager.got(1, Some("c".to_string()), "L").is_err());
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
