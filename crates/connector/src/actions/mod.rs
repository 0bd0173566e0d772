//! The action catalog: one file per action, one line per action in [`catalog!`] below.
//!
//! Every action is a typed request (deserialized from camelCase JSON, unknown fields
//! refused so a typo is an error rather than a silently ignored option) and a typed result,
//! tied together by the action's [`ActionRequest`] implementation in its own file: its name,
//! whether Camunda jobs may run it, its checks and its behaviour. The catalog line makes it part
//! of [`Action`] (JSON, and the CLI's subcommands with the `cli` feature), [`ActionResult`],
//! [`ACTION_NAMES`] and [`CATALOG`], from which the HTTP API, the job worker, the CLI and the
//! element template all take their lists.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::Connector;
use crate::error::{Error, Result};
use crate::transfer::{NoProgress, Progress};

/// One action: its request type, named once, with what it checks and does. Each action's file
/// implements it for its request; the [`catalog!`] line adds the action to every front end.
pub trait ActionRequest: Sized + Send {
    /// The JSON name, the `"action"` of a request, e.g. `headObject`.
    const NAME: &'static str;
    /// A short title, e.g. `Get object metadata` (the Modeler's dropdown).
    const LABEL: &'static str;
    /// Why a Camunda job may not run this action; `None` when it may. Jobs come from process
    /// definitions we do not control, so an action that reaches the worker's own files is not
    /// one of theirs.
    const NOT_FOR_JOBS: Option<&'static str> = None;
    /// The result's fields that list items (objects, buckets, versions...), in the JSON
    /// names: what JSON Lines output prints one line per item of. Empty for results that are
    /// one thing.
    const ITEMS: &'static [&'static str] = &[];
    /// What the action returns.
    type Result: Serialize;

    /// Checks the request; nothing is sent. `execute` runs it first too.
    fn validate(&self) -> Result<()>;

    /// Validates, then runs the action. `streams` are the caller's, for actions that move
    /// content without a file; the others ignore them.
    fn execute(self, conn: &Connector, streams: Streams) -> impl Future<Output = Result<Self::Result>> + Send;

    /// The result for people (the CLI without `--json`). By default its fields as
    /// `name: value` lines; listings override it with columns.
    fn human(result: &Self::Result) -> Human {
        Human::fields(result)
    }
}

/// A result as text for people: lines for stdout, and a hint for stderr (so that a pipe
/// gets only the data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Human {
    /// The lines for stdout.
    pub lines: Vec<String>,
    /// A note for stderr, e.g. how to get the next page.
    pub hint: Option<String>,
}

impl Human {
    /// `name: value` lines of a result's JSON fields, absent and empty ones left out.
    pub fn fields(result: &impl Serialize) -> Human {
        let value = serde_json::to_value(result).unwrap_or_default();
        let lines = value
            .as_object()
            .map(|map| {
                map.iter()
                    .filter_map(|(name, v)| match v {
                        serde_json::Value::Null => None,
                        serde_json::Value::Object(o) if o.is_empty() => None,
                        serde_json::Value::String(s) => Some(format!("{name}: {s}")),
                        other => Some(format!("{name}: {other}")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Human { lines, hint: None }
    }
}

/// The schema of `R` as one choice of [`Action`]'s: its object, titled, with `action` added as a
/// required constant.
#[cfg(feature = "openapi")]
fn tagged_schema<R: ActionRequest + utoipa::PartialSchema>(title: &str, summary: &str) -> serde_json::Value {
    let mut schema = serde_json::to_value(R::schema()).unwrap_or_default();
    let mut properties = serde_json::Map::new();
    properties.insert(
        "action".into(),
        serde_json::json!({"type": "string", "enum": [R::NAME]}),
    );
    if let Some(own) = schema["properties"].as_object() {
        properties.extend(own.clone());
    }
    schema["properties"] = serde_json::Value::Object(properties);
    let mut required = vec![serde_json::Value::from("action")];
    required.extend(schema["required"].as_array().cloned().unwrap_or_default());
    schema["required"] = serde_json::Value::Array(required);
    schema["title"] = title.into();
    schema["description"] = summary.into();
    schema
}

/// What the catalog says of one action, for front ends that list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The JSON name ([`ActionRequest::NAME`]).
    pub name: &'static str,
    /// A short title ([`ActionRequest::LABEL`]).
    pub label: &'static str,
    /// What it does, in one sentence (the catalog line's doc comment).
    pub summary: &'static str,
    /// Why Camunda jobs may not run it ([`ActionRequest::NOT_FOR_JOBS`]).
    pub not_for_jobs: Option<&'static str>,
}

impl CatalogEntry {
    /// Whether a Camunda job may run it (by `actionDiscriminator`).
    pub fn for_jobs(&self) -> bool {
        self.not_for_jobs.is_none()
    }
}

/// Declares the actions: per line, the action's file, its variant and its request and result
/// types. Everything that lists the actions is made here from these lines.
macro_rules! catalog {
    ($( $(#[doc = $doc:literal])* $module:ident :: $variant:ident ( $request:ident -> $result:ident ) ),* $(,)?) => {
        $(
            pub mod $module;
            pub use $module::*;
        )*

        /// One request, tagged by `"action"`, e.g. `{"action": "headObject", "bucket": "b", "key": "k"}`.
        /// With the `cli` feature it is also the CLI's action subcommands (`head-object B K`).
        #[cfg_attr(feature = "cli", derive(clap::Subcommand))]
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "action", rename_all = "camelCase")]
        pub enum Action {
            $( $(#[doc = $doc])* $variant($request), )*
        }

        /// The result of any action; serializes as the inner result alone.
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum ActionResult {
            $( #[doc = concat!("What `", stringify!($variant), "` returns.")] $variant($result), )*
        }

        /// Every action's JSON name, in catalog order.
        pub const ACTION_NAMES: &[&str] = &[$( <$request as ActionRequest>::NAME ),*];

        /// Every action, in catalog order.
        pub const CATALOG: &[CatalogEntry] = &[$(
            CatalogEntry {
                name: <$request as ActionRequest>::NAME,
                label: <$request as ActionRequest>::LABEL,
                summary: concat!($($doc),*).trim_ascii(),
                not_for_jobs: <$request as ActionRequest>::NOT_FOR_JOBS,
            }
        ),*];

        // Written out rather than derived: utoipa's derive states a tagged enum as the request's
        // schema `allOf` the tag, and each request refuses unknown fields
        // (`additionalProperties: false`), so no request with its `action` would match it.
        // Here each choice is the request's own object with `action` added as a constant.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for Action {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let choices = vec![$(
                    tagged_schema::<$request>(stringify!($variant), concat!($($doc),*).trim_ascii())
                ),*];
                let one_of = serde_json::json!({
                    "oneOf": choices,
                    "description": "One request, tagged by `action`, e.g. `{\"action\": \"headObject\", \"bucket\": \"b\", \"key\": \"k\"}`.",
                });
                serde_json::from_value(one_of).unwrap_or_default()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for Action {
            fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                $( <$request as utoipa::ToSchema>::schemas(schemas); )*
            }
        }

        /// The JSON schema of the request of the action `name` (the element template's fields).
        #[cfg(feature = "openapi")]
        pub fn request_schema(name: &str) -> Option<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>> {
            $(
                if name == <$request as ActionRequest>::NAME {
                    return Some(<$request as utoipa::PartialSchema>::schema());
                }
            )*
            None
        }

        impl Action {
            /// The action's JSON name.
            pub fn name(&self) -> &'static str {
                match self { $( Action::$variant(_) => <$request as ActionRequest>::NAME, )* }
            }

            /// Checks the request; nothing is sent. Also run by [`execute`](Self::execute).
            pub fn validate(&self) -> Result<()> {
                match self { $( Action::$variant(r) => r.validate(), )* }
            }

            async fn run(self, conn: &Connector, streams: Streams) -> Result<ActionResult> {
                Ok(match self { $( Action::$variant(r) => ActionResult::$variant(r.execute(conn, streams).await?), )* })
            }
        }

        impl ActionResult {
            /// The result for people ([`ActionRequest::human`]).
            pub fn human(&self) -> Human {
                match self { $( ActionResult::$variant(r) => <$request as ActionRequest>::human(r), )* }
            }

            /// The fields that list items ([`ActionRequest::ITEMS`]).
            pub fn items(&self) -> &'static [&'static str] {
                match self { $( ActionResult::$variant(_) => <$request as ActionRequest>::ITEMS, )* }
            }
        }

        $(
            impl From<$request> for Action {
                fn from(request: $request) -> Action {
                    Action::$variant(request)
                }
            }
        )*
    };
}

catalog! {
    /// All buckets the credentials can see.
    list_buckets::ListBuckets(ListBucketsRequest -> ListBucketsResult),
    /// Create a bucket.
    create_bucket::CreateBucket(CreateBucketRequest -> CreateBucketResult),
    /// Delete an empty bucket.
    delete_bucket::DeleteBucket(DeleteBucketRequest -> DeleteBucketResult),
    /// Check that a bucket exists and is reachable.
    head_bucket::HeadBucket(HeadBucketRequest -> HeadBucketResult),
    /// Whether a bucket keeps versions of its objects.
    get_bucket_versioning::GetBucketVersioning(GetBucketVersioningRequest -> GetBucketVersioningResult),
    /// Turn a bucket's versioning on, or suspend it.
    put_bucket_versioning::PutBucketVersioning(PutBucketVersioningRequest -> PutBucketVersioningResult),
    /// List objects, paging for the caller.
    list_objects::ListObjects(ListObjectsRequest -> ListObjectsResult),
    /// List the versions and delete markers of objects, paging for the caller.
    list_object_versions::ListObjectVersions(ListObjectVersionsRequest -> ListObjectVersionsResult),
    /// List common prefixes ("folders") under a delimiter.
    list_prefixes::ListPrefixes(ListPrefixesRequest -> ListPrefixesResult),
    /// An object's size, type, ETag and metadata.
    head_object::HeadObject(HeadObjectRequest -> HeadObjectResult),
    /// Download an object to a file (atomically) or a stream.
    get_object::GetObject(GetObjectRequest -> GetObjectResult),
    /// Upload a file, a stream or inline text.
    put_object::PutObject(PutObjectRequest -> PutObjectResult),
    /// Delete one object; a missing key succeeds.
    delete_object::DeleteObject(DeleteObjectRequest -> DeleteObjectResult),
    /// Delete many objects, or everything under a prefix.
    delete_objects::DeleteObjects(DeleteObjectsRequest -> DeleteObjectsResult),
    /// An object's tags.
    get_object_tagging::GetObjectTagging(GetObjectTaggingRequest -> GetObjectTaggingResult),
    /// Replace an object's tags.
    put_object_tagging::PutObjectTagging(PutObjectTaggingRequest -> PutObjectTaggingResult),
    /// Remove every tag of an object.
    delete_object_tagging::DeleteObjectTagging(DeleteObjectTaggingRequest -> DeleteObjectTaggingResult),
    /// Copy an object to another bucket and/or key.
    copy_object::CopyObject(CopyObjectRequest -> CopyObjectResult),
    /// Move an object safely: copy, verify, then delete the source.
    move_object::MoveObject(MoveObjectRequest -> MoveObjectResult),
    /// A presigned GET or PUT URL (at most 7 days).
    presign_url::PresignUrl(PresignUrlRequest -> PresignUrlResult),
    /// Multipart uploads started and never finished (they hold billed parts), by prefix and age.
    list_multipart_uploads::ListMultipartUploads(ListMultipartUploadsRequest -> ListMultipartUploadsResult),
    /// Abort multipart uploads left behind, by prefix and age, or one by key and upload id.
    abort_multipart_uploads::AbortMultipartUploads(AbortMultipartUploadsRequest -> AbortMultipartUploadsResult),
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

    /// Validates, then runs the action (each request's `execute` validates before it sends).
    ///
    /// # Behavior
    /// With a deadline configured (`timeouts.deadline`), an action still running at the
    /// deadline is stopped (a multipart upload in flight is aborted in the background; see
    /// [`Connector::finish_cleanup`]) and fails with `Timeout`.
    pub async fn execute(self, conn: &Connector, streams: Streams) -> Result<ActionResult> {
        within_deadline(conn, self.run(conn, streams)).await
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
                crate::error::ErrorCode::Timeout,
                format!(
                    "the action did not finish within its deadline of {}; it was stopped (an upload in flight is aborted). Raise timeouts.deadline (--deadline, S3_CONNECTOR_DEADLINE) for larger transfers",
                    humantime::format_duration(limit)
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_name_is_the_json_name_of_its_variant() {
        assert_eq!(CATALOG.len(), ACTION_NAMES.len());
        for entry in CATALOG {
            // Serde names the variants by its own renaming; a NAME that differs would be
            // listed and documented, and then refused as an unknown variant.
            let err = Action::from_json(serde_json::json!({"action": entry.name})).err();
            let message = err.map(|e| e.message).unwrap_or_default();
            assert!(!message.contains("unknown variant"), "{}: {message}", entry.name);
            assert!(!entry.summary.is_empty() && !entry.label.is_empty(), "{}", entry.name);
        }
        let jobs: Vec<&str> = CATALOG.iter().filter(|e| !e.for_jobs()).map(|e| e.name).collect();
        assert_eq!(jobs, ["getObject", "putObject", "deleteObject"]);
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
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput, "{bad}");
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
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput, "{req}");
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
