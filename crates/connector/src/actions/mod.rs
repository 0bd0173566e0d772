//! The action catalog: one variant per action, one file per action.
//!
//! Every action is a typed request (deserialized from camelCase JSON, unknown fields
//! refused so a typo is an error rather than a silently ignored option) and a typed result.
//! [`Action::execute`] validates the request before any network call, then runs it.
//! The CLI, `exec`, and later the HTTP API are thin layers over this one list.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
pub(crate) use crate::listing::{listed_name, rfc3339, Markers};
use crate::transfer::{NoProgress, Progress};
use crate::Connector;

pub mod abort_multipart_uploads;
pub mod copy_object;
pub mod create_bucket;
pub mod delete_bucket;
pub mod delete_object;
pub mod delete_objects;
pub mod get_object;
pub mod head_bucket;
pub mod head_object;
pub mod list_buckets;
pub mod list_multipart_uploads;
pub mod list_objects;
pub mod list_prefixes;
pub mod move_object;
pub mod presign_url;
pub mod put_object;

pub use abort_multipart_uploads::{AbortFailure, AbortMultipartUploadsRequest, AbortMultipartUploadsResult};
pub use copy_object::{CopyObjectRequest, CopyObjectResult};
pub use create_bucket::{CreateBucketRequest, CreateBucketResult};
pub use delete_bucket::{DeleteBucketRequest, DeleteBucketResult};
pub use delete_object::{DeleteObjectRequest, DeleteObjectResult};
pub use delete_objects::{DeleteObjectsRequest, DeleteObjectsResult, KeyOutcome};
pub use get_object::{GetObjectRequest, GetObjectResult};
pub use head_bucket::{HeadBucketRequest, HeadBucketResult};
pub use head_object::{HeadObjectRequest, HeadObjectResult};
pub use list_buckets::{Bucket, ListBucketsRequest, ListBucketsResult};
pub use list_multipart_uploads::{ListMultipartUploadsRequest, ListMultipartUploadsResult, MultipartUpload};
pub use list_objects::{ListObjectsRequest, ListObjectsResult, S3Object};
pub use list_prefixes::{ListPrefixesRequest, ListPrefixesResult, Prefix};
pub use move_object::{MoveObjectRequest, MoveObjectResult};
pub use presign_url::{PresignMethod, PresignUrlRequest, PresignUrlResult};
pub use put_object::{PutObjectRequest, PutObjectResult};

/// One request, tagged by `"action"`, e.g. `{"action": "headObject", "bucket": "b", "key": "k"}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// All buckets the credentials can see.
    ListBuckets(ListBucketsRequest),
    /// Create a bucket.
    CreateBucket(CreateBucketRequest),
    /// Delete an empty bucket.
    DeleteBucket(DeleteBucketRequest),
    /// Check that a bucket exists and is reachable.
    HeadBucket(HeadBucketRequest),
    /// List objects, paging for the caller.
    ListObjects(ListObjectsRequest),
    /// List common prefixes under a delimiter.
    ListPrefixes(ListPrefixesRequest),
    /// An object's size, type, ETag and metadata.
    HeadObject(HeadObjectRequest),
    /// Download an object to a file or stream.
    GetObject(GetObjectRequest),
    /// Upload a file, stream or inline text.
    PutObject(PutObjectRequest),
    /// Delete one object; a missing key succeeds.
    DeleteObject(DeleteObjectRequest),
    /// Delete many objects, or everything under a prefix.
    DeleteObjects(DeleteObjectsRequest),
    /// Copy an object.
    CopyObject(CopyObjectRequest),
    /// Move an object safely: copy, verify, then delete the source.
    MoveObject(MoveObjectRequest),
    /// A presigned GET or PUT URL.
    PresignUrl(PresignUrlRequest),
    /// Multipart uploads started and never finished, by prefix and age.
    ListMultipartUploads(ListMultipartUploadsRequest),
    /// Abort multipart uploads left behind, by prefix and age, or one by key and id.
    AbortMultipartUploads(AbortMultipartUploadsRequest),
}

/// Every action's JSON name, in catalog order.
pub const ACTION_NAMES: [&str; 16] = [
    "listBuckets",
    "createBucket",
    "deleteBucket",
    "headBucket",
    "listObjects",
    "listPrefixes",
    "headObject",
    "getObject",
    "putObject",
    "deleteObject",
    "deleteObjects",
    "copyObject",
    "moveObject",
    "presignUrl",
    "listMultipartUploads",
    "abortMultipartUploads",
];

/// The result of any action; serializes as the inner result alone.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[allow(missing_docs)]
pub enum ActionResult {
    ListBuckets(ListBucketsResult),
    CreateBucket(CreateBucketResult),
    DeleteBucket(DeleteBucketResult),
    HeadBucket(HeadBucketResult),
    ListObjects(ListObjectsResult),
    ListPrefixes(ListPrefixesResult),
    HeadObject(HeadObjectResult),
    GetObject(GetObjectResult),
    PutObject(PutObjectResult),
    DeleteObject(DeleteObjectResult),
    DeleteObjects(DeleteObjectsResult),
    CopyObject(CopyObjectResult),
    MoveObject(MoveObjectResult),
    PresignUrl(PresignUrlResult),
    ListMultipartUploads(ListMultipartUploadsResult),
    AbortMultipartUploads(AbortMultipartUploadsResult),
}

/// The caller's byte streams and progress sink, for actions that move content.
///
/// A front end offers what it has: the CLI gives stdin/stdout, the HTTP API the request and
/// response bodies. An action that needs a stream the caller did not give fails with
/// `InvalidInput` naming the field to use instead (`file`).
pub struct Streams {
    /// Source for `putObject` without `file` or `content`.
    pub input: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Sink for `getObject` without `file`.
    pub output: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Progress of the transfer.
    pub progress: Box<dyn Progress>,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            input: None,
            output: None,
            progress: Box::new(NoProgress),
        }
    }
}

impl Action {
    /// Parses a JSON request. A missing or unknown `action`, or a bad field, is `InvalidInput`.
    pub fn from_json(value: serde_json::Value) -> Result<Action> {
        let name = value.get("action").and_then(|a| a.as_str()).map(str::to_string);
        match &name {
            None => {
                return Err(Error::invalid_input(
                    "action",
                    format!("is required: one of {}", ACTION_NAMES.join(", ")),
                ))
            }
            Some(n) if !ACTION_NAMES.contains(&n.as_str()) => {
                return Err(Error::invalid_input(
                    "action",
                    format!("{n:?} is not an action; use one of {}", ACTION_NAMES.join(", ")),
                ))
            }
            _ => {}
        }
        serde_json::from_value(value).map_err(|e| {
            Error::invalid_input(
                name.as_deref().unwrap_or("request"),
                format!("{e}; see docs/actions.md for the request fields"),
            )
        })
    }

    /// The action's JSON name.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ListBuckets(_) => "listBuckets",
            Action::CreateBucket(_) => "createBucket",
            Action::DeleteBucket(_) => "deleteBucket",
            Action::HeadBucket(_) => "headBucket",
            Action::ListObjects(_) => "listObjects",
            Action::ListPrefixes(_) => "listPrefixes",
            Action::HeadObject(_) => "headObject",
            Action::GetObject(_) => "getObject",
            Action::PutObject(_) => "putObject",
            Action::DeleteObject(_) => "deleteObject",
            Action::DeleteObjects(_) => "deleteObjects",
            Action::CopyObject(_) => "copyObject",
            Action::MoveObject(_) => "moveObject",
            Action::PresignUrl(_) => "presignUrl",
            Action::ListMultipartUploads(_) => "listMultipartUploads",
            Action::AbortMultipartUploads(_) => "abortMultipartUploads",
        }
    }

    /// Checks the request; nothing is sent. Also run by [`execute`](Self::execute).
    pub fn validate(&self) -> Result<()> {
        match self {
            Action::ListBuckets(r) => r.validate(),
            Action::CreateBucket(r) => r.validate(),
            Action::DeleteBucket(r) => r.validate(),
            Action::HeadBucket(r) => r.validate(),
            Action::ListObjects(r) => r.validate(),
            Action::ListPrefixes(r) => r.validate(),
            Action::HeadObject(r) => r.validate(),
            Action::GetObject(r) => r.validate(),
            Action::PutObject(r) => r.validate(),
            Action::DeleteObject(r) => r.validate(),
            Action::DeleteObjects(r) => r.validate(),
            Action::CopyObject(r) => r.validate(),
            Action::MoveObject(r) => r.validate(),
            Action::PresignUrl(r) => r.validate(),
            Action::ListMultipartUploads(r) => r.validate(),
            Action::AbortMultipartUploads(r) => r.validate(),
        }
    }

    /// Validates, then runs the action (each request's `execute` validates before it sends).
    ///
    /// # Behavior
    /// With a deadline configured (`timeouts.deadline`), an action still running at the
    /// deadline is stopped (a multipart upload in flight is aborted in the background; see
    /// [`Connector::finish_cleanup`]) and fails with `Timeout`.
    pub async fn execute(self, conn: &Connector, streams: Streams) -> Result<ActionResult> {
        within_deadline(conn, self.run(conn, streams)).await
    }

    async fn run(self, conn: &Connector, streams: Streams) -> Result<ActionResult> {
        Ok(match self {
            Action::ListBuckets(r) => ActionResult::ListBuckets(r.execute(conn).await?),
            Action::CreateBucket(r) => ActionResult::CreateBucket(r.execute(conn).await?),
            Action::DeleteBucket(r) => ActionResult::DeleteBucket(r.execute(conn).await?),
            Action::HeadBucket(r) => ActionResult::HeadBucket(r.execute(conn).await?),
            Action::ListObjects(r) => ActionResult::ListObjects(r.execute(conn).await?),
            Action::ListPrefixes(r) => ActionResult::ListPrefixes(r.execute(conn).await?),
            Action::HeadObject(r) => ActionResult::HeadObject(r.execute(conn).await?),
            Action::GetObject(r) => ActionResult::GetObject(r.execute(conn, streams).await?),
            Action::PutObject(r) => ActionResult::PutObject(r.execute(conn, streams).await?),
            Action::DeleteObject(r) => ActionResult::DeleteObject(r.execute(conn).await?),
            Action::DeleteObjects(r) => ActionResult::DeleteObjects(r.execute(conn).await?),
            Action::CopyObject(r) => ActionResult::CopyObject(r.execute(conn).await?),
            Action::MoveObject(r) => ActionResult::MoveObject(r.execute(conn).await?),
            Action::PresignUrl(r) => ActionResult::PresignUrl(r.execute(conn).await?),
            Action::ListMultipartUploads(r) => ActionResult::ListMultipartUploads(r.execute(conn).await?),
            Action::AbortMultipartUploads(r) => ActionResult::AbortMultipartUploads(r.execute(conn).await?),
        })
    }
}

/// Runs `work` within the connection's deadline, if one is set.
pub async fn within_deadline<T>(conn: &Connector, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    // On the heap: an action's future is large (a transfer's state machine), and callers that
    // poll it on a small thread stack (tests, a current-thread runtime) would overflow it.
    let work = Box::pin(work);
    match conn.timeouts().deadline() {
        None => work.await,
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::new(
                crate::ErrorCode::Timeout,
                format!(
                    "the action did not finish within its deadline of {}; it was stopped (an upload in flight is aborted). Raise timeouts.deadline (--deadline, S3_CONNECTOR_DEADLINE) for larger transfers",
                    humantime::format_duration(limit)
                ),
            )),
        },
    }
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

    #[test]
    fn requests_parse_and_bad_ones_are_invalid_input() {
        let ok = Action::from_json(serde_json::json!({"action": "headObject", "bucket": "b1b", "key": "k"}));
        assert!(matches!(ok, Ok(Action::HeadObject(_))), "{ok:?}");
        for bad in [
            serde_json::json!({"bucket": "b"}),
            serde_json::json!({"action": "frobnicate"}),
            serde_json::json!({"action": "headObject", "bucket": "b1b"}),
            serde_json::json!({"action": "headObject", "bucket": "b1b", "key": "k", "bukcet": "x"}),
        ] {
            let err = Action::from_json(bad.clone()).expect_err(&bad.to_string());
            assert_eq!(err.code, crate::ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn aborting_by_prefix_needs_an_age() {
        for (req, field) in [
            (
                serde_json::json!({"action": "abortMultipartUploads", "bucket": "b1b"}),
                "olderThan",
            ),
            (
                serde_json::json!({"action": "abortMultipartUploads", "bucket": "b1b", "prefix": "p/"}),
                "olderThan",
            ),
            (
                serde_json::json!({"action": "abortMultipartUploads", "bucket": "b1b", "olderThan": "1h", "maxUploads": 0}),
                "maxUploads",
            ),
        ] {
            let err = Action::from_json(req.clone())
                .and_then(|a| a.validate())
                .expect_err(&req.to_string());
            assert_eq!(err.code, crate::ErrorCode::InvalidInput, "{req}");
            assert!(err.message.contains(field), "{req}: {}", err.message);
        }
        for fine in [
            serde_json::json!({"action": "abortMultipartUploads", "bucket": "b1b", "olderThan": "0s"}),
            serde_json::json!({"action": "abortMultipartUploads", "bucket": "b1b", "key": "k", "uploadId": "u"}),
        ] {
            let action = Action::from_json(fine.clone()).expect("parses");
            assert!(action.validate().is_ok(), "{fine}");
        }
    }
}
