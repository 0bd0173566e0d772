//! The one public error type, with stable codes.
//!
//! Every failure of every action ends as an [`Error`]: a stable [`ErrorCode`] that callers
//! branch on, a message that says what to do, and a retryable flag. S3's own error codes
//! are mapped to ours in exactly one place, [`ErrorCode::from_s3`], so the table in
//! `docs/errors.md` and the code cannot drift apart.
//!
//! Messages are built from our own words plus S3's error code and message; they never
//! contain credentials (S3 does not echo them, and the connection settings keep them in
//! [`crate::Secret`]).

use std::fmt;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use serde::{Deserialize, Serialize};

/// A stable error code. The string form never changes once released; codes may be added, so
/// a `match` outside this crate needs a wildcard arm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A request field is missing or malformed; nothing was sent.
    InvalidInput,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The object does not exist.
    NoSuchKey,
    /// The bucket name is taken (by anyone, including you).
    BucketAlreadyExists,
    /// The bucket still holds objects.
    BucketNotEmpty,
    /// The credentials are valid but not allowed to do this.
    AccessDenied,
    /// The credentials are missing, unknown, expired or wrongly signed.
    InvalidCredentials,
    /// A condition (ETag, If-Match) did not hold: the object changed under us.
    PreconditionFailed,
    /// The store asked us to slow down.
    Throttled,
    /// The request took too long.
    Timeout,
    /// The store could not be reached, or the connection broke.
    Network,
    /// A local file could not be read or written.
    LocalIo,
    /// Any other failure reported by the store.
    ServiceError,
    /// The store does not support this operation or option (S3's `NotImplemented`).
    NotSupported,
}

/// Every code, in the order of the table in `docs/errors.md`.
pub const ALL_ERROR_CODES: [ErrorCode; 14] = [
    ErrorCode::InvalidInput,
    ErrorCode::NoSuchBucket,
    ErrorCode::NoSuchKey,
    ErrorCode::BucketAlreadyExists,
    ErrorCode::BucketNotEmpty,
    ErrorCode::AccessDenied,
    ErrorCode::InvalidCredentials,
    ErrorCode::PreconditionFailed,
    ErrorCode::Throttled,
    ErrorCode::Timeout,
    ErrorCode::Network,
    ErrorCode::LocalIo,
    ErrorCode::ServiceError,
    ErrorCode::NotSupported,
];

impl ErrorCode {
    /// The stable string form, e.g. `"NoSuchKey"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::NoSuchBucket => "NoSuchBucket",
            ErrorCode::NoSuchKey => "NoSuchKey",
            ErrorCode::BucketAlreadyExists => "BucketAlreadyExists",
            ErrorCode::BucketNotEmpty => "BucketNotEmpty",
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::InvalidCredentials => "InvalidCredentials",
            ErrorCode::PreconditionFailed => "PreconditionFailed",
            ErrorCode::Throttled => "Throttled",
            ErrorCode::Timeout => "Timeout",
            ErrorCode::Network => "Network",
            ErrorCode::LocalIo => "LocalIo",
            ErrorCode::ServiceError => "ServiceError",
            ErrorCode::NotSupported => "NotSupported",
        }
    }

    /// Whether trying the same request again later may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Throttled | ErrorCode::Timeout | ErrorCode::Network | ErrorCode::ServiceError
        )
    }

    /// The CLI's exit status for this code. 0 is success and 1 an unexpected failure of the
    /// program; 2 is shared with command-line usage errors, which are bad input too.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::InvalidInput => 2,
            ErrorCode::NoSuchBucket => 3,
            ErrorCode::NoSuchKey => 4,
            ErrorCode::BucketAlreadyExists => 5,
            ErrorCode::BucketNotEmpty => 6,
            ErrorCode::AccessDenied => 7,
            ErrorCode::InvalidCredentials => 8,
            ErrorCode::PreconditionFailed => 9,
            ErrorCode::Throttled => 10,
            ErrorCode::Timeout => 11,
            ErrorCode::Network => 12,
            ErrorCode::LocalIo => 13,
            ErrorCode::ServiceError => 14,
            ErrorCode::NotSupported => 15,
        }
    }

    /// What the code means, for `docs/errors.md` and `--help`.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "A request field is missing or malformed. Nothing was sent to the store.",
            ErrorCode::NoSuchBucket => "The bucket does not exist (or the endpoint/region is wrong).",
            ErrorCode::NoSuchKey => "The object does not exist.",
            ErrorCode::BucketAlreadyExists => "The bucket name is already taken, by you or by another account.",
            ErrorCode::BucketNotEmpty => "The bucket still holds objects; delete them first.",
            ErrorCode::AccessDenied => "The credentials are valid but lack permission for this request.",
            ErrorCode::InvalidCredentials => "The credentials are missing, unknown, expired, or do not sign correctly.",
            ErrorCode::PreconditionFailed => {
                "An ETag condition did not hold: the object changed while we worked on it."
            }
            ErrorCode::Throttled => "The store asked us to slow down (503 SlowDown) even after retries.",
            ErrorCode::Timeout => "The request timed out.",
            ErrorCode::Network => "The store could not be reached or the connection broke.",
            ErrorCode::LocalIo => "A local file could not be read or written.",
            ErrorCode::ServiceError => "Any other error reported by the store.",
            ErrorCode::NotSupported => {
                "The store does not support this operation or option (docs/stores.md says which store lacks what)."
            }
        }
    }

    /// The table for a Camunda cluster's REST answers (documents, jobs), by HTTP status alone:
    /// the cluster's problem bodies carry no code of their own. A 404 is a missing document
    /// or job (`NoSuchKey`).
    pub fn from_cluster_status(status: u16) -> ErrorCode {
        match status {
            400 => ErrorCode::InvalidInput,
            401 => ErrorCode::InvalidCredentials,
            403 => ErrorCode::AccessDenied,
            404 => ErrorCode::NoSuchKey,
            409 | 412 => ErrorCode::PreconditionFailed,
            429 | 503 => ErrorCode::Throttled,
            _ => ErrorCode::ServiceError,
        }
    }

    /// The one table from S3's error codes (and HTTP status, for bodiless HEAD answers) to ours.
    ///
    /// `missing` says what a bare 404 means for the request at hand: HEAD requests carry no
    /// error body, so only the caller knows whether the bucket or the key was looked up.
    pub fn from_s3(s3_code: Option<&str>, status: Option<u16>, missing: Missing) -> ErrorCode {
        match s3_code {
            // The bucket itself is absent.
            Some("NoSuchBucket") => ErrorCode::NoSuchBucket,
            // The key (or an upload we started) is absent.
            Some("NoSuchKey" | "NoSuchUpload") => ErrorCode::NoSuchKey,
            // Global namespace clash, or we already own it: either way the create did nothing.
            Some("BucketAlreadyExists" | "BucketAlreadyOwnedByYou") => ErrorCode::BucketAlreadyExists,
            Some("BucketNotEmpty") => ErrorCode::BucketNotEmpty,
            // Authenticated, but policy says no.
            Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem") => ErrorCode::AccessDenied,
            // The signature or key is wrong, or the token expired: fix the credentials.
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "TokenRefreshRequired"
                | "InvalidSecurity"
                | "AuthorizationHeaderMalformed",
            ) => ErrorCode::InvalidCredentials,
            // If-Match / x-amz-copy-source-if-match failed, or a concurrent conditional write won.
            Some("PreconditionFailed" | "ConditionalRequestConflict") => ErrorCode::PreconditionFailed,
            // The store's own back-pressure, after the SDK's retries gave up.
            Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequests") => {
                ErrorCode::Throttled
            }
            Some("RequestTimeout" | "RequestTimeTooSkewed") => ErrorCode::Timeout,
            // The store rejected the shape of what we sent: the caller must change the input.
            Some(
                "InvalidBucketName"
                | "InvalidArgument"
                | "InvalidRange"
                | "KeyTooLongError"
                | "EntityTooLarge"
                | "EntityTooSmall"
                | "InvalidPart"
                | "InvalidPartOrder"
                | "MalformedXML"
                | "InvalidRequest"
                | "InvalidStorageClass"
                | "InvalidTag"
                | "MetadataTooLarge",
            ) => ErrorCode::InvalidInput,
            // The store lacks the feature: a clear answer, never a silent no-op.
            Some("NotImplemented" | "UnsupportedOperation" | "NotSupported") => ErrorCode::NotSupported,
            _ => match status {
                // Bodiless answers (HEAD) only have a status.
                Some(404) => match missing {
                    Missing::Bucket => ErrorCode::NoSuchBucket,
                    Missing::Key => ErrorCode::NoSuchKey,
                },
                Some(401) => ErrorCode::InvalidCredentials,
                Some(403) => ErrorCode::AccessDenied,
                Some(409) => ErrorCode::PreconditionFailed,
                Some(412) => ErrorCode::PreconditionFailed,
                Some(416) => ErrorCode::InvalidInput,
                Some(429 | 503) => ErrorCode::Throttled,
                Some(501) => ErrorCode::NotSupported,
                _ => ErrorCode::ServiceError,
            },
        }
    }
}

impl ErrorCode {
    /// Corrects codes that some stores misreport, from the store's message. Garage answers a
    /// bad signature with `AccessDenied: Forbidden: Invalid signature` where S3 says
    /// `SignatureDoesNotMatch`; the fix for the user is the credentials, not a permission.
    pub fn refine(self, message: Option<&str>) -> ErrorCode {
        let lower = message.unwrap_or_default().to_ascii_lowercase();
        match self {
            ErrorCode::AccessDenied
                if lower.contains("signature") || lower.contains("access key") || lower.contains("no such key id") =>
            {
                ErrorCode::InvalidCredentials
            }
            other => other,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a bare 404 means for a request: see [`ErrorCode::from_s3`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The request addressed a bucket (HeadBucket, ListObjects...).
    Bucket,
    /// The request addressed an object.
    Key,
}

/// The error every action returns.
#[derive(Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The store's own answer, when the store refused the request.
    pub store: Option<Box<StoreReply>>,
    /// The failure underneath (the SDK's error, an I/O error), for callers that walk the
    /// chain with [`std::error::Error::source`]. Our message already says what it means, so it
    /// is neither compared nor shown by `Debug` beyond its text.
    #[source]
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        (self.code, &self.message, &self.store) == (other.code, &other.message, &other.store)
    }
}

impl Eq for Error {}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("store", &self.store)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

/// What the store answered when it refused a request: its status, code, message and request
/// ids. Kept beside our message so that front ends can word the failure as another tool does
/// (Camunda's connector passes on the AWS SDK for Java's message, and processes match on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreReply {
    /// The HTTP status.
    pub status: u16,
    /// The store's error code, e.g. `NoSuchKey`.
    pub code: Option<String>,
    /// The store's error message, e.g. `The specified key does not exist.`
    pub message: Option<String>,
    /// `x-amz-request-id`.
    pub request_id: Option<String>,
    /// `x-amz-id-2`.
    pub extended_request_id: Option<String>,
}

impl StoreReply {
    /// The failure as the AWS SDK for Java 2.x words it (`AwsServiceException.getMessage`), e.g.
    /// `The specified key does not exist. (Service: S3, Status Code: 404, Request ID: 4442587FB7D0A2F9)`.
    /// A reply without a message (HEAD answers have no body) shows the store's code instead.
    pub fn java_sdk_message(&self) -> String {
        let text = self
            .message
            .clone()
            .or_else(|| self.code.clone())
            .unwrap_or_else(|| "null".to_string());
        let mut details = format!(
            "Service: S3, Status Code: {}, Request ID: {}",
            self.status,
            self.request_id.as_deref().unwrap_or("null")
        );
        if let Some(extended) = &self.extended_request_id {
            details.push_str(&format!(", Extended Request ID: {extended}"));
        }
        format!("{text} ({details})")
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            store: None,
            source: None,
        }
    }

    /// The same error with `source` as the failure underneath it.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// A bad request field: `field` is the JSON name, `problem` says what is wrong and how to fix it.
    pub fn invalid_input(field: &str, problem: impl fmt::Display) -> Self {
        Error::new(ErrorCode::InvalidInput, format!("{field}: {problem}"))
    }

    /// A local file problem, naming the path and the operation.
    pub fn local_io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        let code = if err.kind() == std::io::ErrorKind::NotFound && what.starts_with("read") {
            // A missing input file is the caller's input, not a disk failure.
            ErrorCode::InvalidInput
        } else {
            ErrorCode::LocalIo
        };
        Error::new(code, format!("cannot {what} {}: {err}", path.display()))
            .with_source(std::io::Error::new(err.kind(), err.to_string()))
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        self.code.retryable()
    }

    /// The same error with `context` put in front of the message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// Maps any SDK error. `operation` names the S3 operation and the thing addressed,
    /// e.g. `GetObject s3://b/k`, so the message says what failed.
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>, operation: &str, missing: Missing) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mapped = match &err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let inner = service.err();
                let s3_code = inner.code();
                let code = ErrorCode::from_s3(s3_code, Some(status), missing).refine(inner.message());
                let detail = match (s3_code, inner.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_string(),
                    (None, Some(m)) => m.to_string(),
                    (None, None) if (200..300).contains(&status) => format!(
                        "the store answered HTTP {status} with a body the S3 SDK cannot read; if this is an S3-compatible store, try the compatibility mode (--compat true, see docs/stores.md)"
                    ),
                    (None, None) => format!("HTTP {status}"),
                };
                let header = |name: &str| {
                    service
                        .raw()
                        .headers()
                        .get(name)
                        .map(|v| v.to_string())
                        .filter(|v| !v.is_empty())
                };
                let mut error = Error::new(code, format!("{operation} failed: {detail}{}", hint(code)));
                error.store = Some(Box::new(StoreReply {
                    status,
                    code: s3_code.map(str::to_string),
                    message: inner.message().map(str::to_string),
                    request_id: header("x-amz-request-id"),
                    extended_request_id: header("x-amz-id-2"),
                }));
                error
            }
            SdkError::TimeoutError(_) => Error::new(
                ErrorCode::Timeout,
                format!("{operation} timed out (an attempt took longer than the attempt timeout, after retries); check the store, or raise timeouts.attempt"),
            ),
            SdkError::DispatchFailure(dispatch) => {
                if let Some(refusal) = find_in_chain::<Refusal>(&err) {
                    Error::invalid_input(
                        "endpoint",
                        format!("{operation}: refused to connect: {refusal}"),
                    )
                } else if dispatch.is_timeout() || timed_out(&err) {
                    Error::new(
                        ErrorCode::Timeout,
                        format!("{operation} timed out, after retries: {}", chain(&err)),
                    )
                } else if let Some(cred) = credentials_problem(&err) {
                    Error::new(ErrorCode::InvalidCredentials, format!("{operation}: {cred}"))
                } else {
                    Error::new(
                        ErrorCode::Network,
                        format!(
                            "{operation}: cannot reach the store ({}); check the endpoint and that the store is running",
                            chain(&err)
                        ),
                    )
                }
            }
            SdkError::ResponseError(_) if timed_out(&err) => Error::new(
                ErrorCode::Timeout,
                format!("{operation}: the store stopped sending its answer: {}", chain(&err)),
            ),
            SdkError::ResponseError(_) => Error::new(
                ErrorCode::Network,
                format!("{operation}: the store's answer could not be read: {}", chain(&err)),
            ),
            SdkError::ConstructionFailure(_) => {
                if let Some(cred) = credentials_problem(&err) {
                    Error::new(ErrorCode::InvalidCredentials, format!("{operation}: {cred}"))
                } else {
                    Error::new(ErrorCode::InvalidInput, format!("{operation}: {}", chain(&err)))
                }
            }
            _ => Error::new(ErrorCode::ServiceError, format!("{operation} failed: {}", chain(&err))),
        };
        mapped.with_source(err)
    }
}

/// A one-line hint appended to common codes.
fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidCredentials => {
            " (check the access key, secret key and session token, or the profile; see docs/configuration.md)"
        }
        ErrorCode::AccessDenied => " (the credentials lack permission for this bucket or key)",
        ErrorCode::NoSuchBucket => " (check the bucket name, region and endpoint)",
        _ => "",
    }
}

/// The first error of type `T` in `err`'s chain, looking inside I/O errors too (an
/// `io::Error`'s own `source()` skips its payload).
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(hit) = e.downcast_ref::<T>() {
            return Some(hit);
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Whether a connection in `err`'s chain failed by timing out (the stall guard, a connect).
pub(crate) fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => return true,
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// The error and its sources in one line. SDK errors hide their cause in `source()`.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// When the SDK failed because no credentials could be loaded, say so plainly. The SDK wraps
/// the provider's `CredentialsError` in a dispatch or construction failure; find it by type.
fn credentials_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return Some(format!(
                "no usable credentials ({}); set accessKeyId/secretAccessKey, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile",
                chain(e)
            ));
        }
        source = e.source();
    }
    None
}

/// The one allow-list setting (environment variable): comma-separated IP addresses, CIDR blocks
/// and host names that guarded connections may reach although the address guard
/// (`net::AddressGuard`) would refuse them.
pub const ALLOW_SETTING: &str = "S3_CONNECTOR_ALLOW_ADDRESSES";

/// A connection the address guard refused: what was refused, and which setting allows it.
/// Here, at the ground floor, because the SDK's failures are mapped to our codes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The host as given (a name or a literal address).
    pub host: String,
    /// The address it resolved to, or was.
    pub ip: std::net::IpAddr,
    /// Why the address is refused.
    pub why: &'static str,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // For a name, the address it resolved to is not shown: the process that chose the name
        // would learn the operator's internal DNS from it. The operator finds it in the log.
        // An IPv4 address mapped into IPv6 is shown as the IPv4 address it is.
        let canonical = match self.ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(self.ip),
            v4 => v4,
        };
        if self.host == self.ip.to_string() || self.host == canonical.to_string() {
            let ip = canonical;
            write!(
                f,
                "{ip} is {}; no connection was made. If it is meant to be reachable, the operator can add {ip} to {ALLOW_SETTING}",
                self.why
            )
        } else {
            write!(
                f,
                "{} resolves to {}; no connection was made. If it is meant to be reachable, the operator can add the host name to {ALLOW_SETTING}",
                self.host,
                self.why.trim_start_matches("a ").trim_start_matches("an ").trim_start_matches("not ")
            )
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_exit_status_and_name() {
        let mut exits: Vec<i32> = ALL_ERROR_CODES.iter().map(|c| c.exit_code()).collect();
        exits.sort_unstable();
        exits.dedup();
        assert_eq!(exits.len(), ALL_ERROR_CODES.len());
        for code in ALL_ERROR_CODES {
            assert!(code.exit_code() > 1, "0 and 1 are reserved");
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn docs_table_matches_the_code() {
        let doc = include_str!("../../../docs/errors.md");
        for code in ALL_ERROR_CODES {
            let retry = if code.retryable() { "yes" } else { "no" };
            let row = format!(
                "| `{}` | {} | {retry} | {} |",
                code.as_str(),
                code.meaning(),
                code.exit_code()
            );
            assert!(doc.contains(&row), "docs/errors.md lacks or misstates: {row}");
        }
    }

    #[test]
    fn store_replies_read_as_the_aws_sdk_for_java_words_them() {
        let reply = StoreReply {
            status: 404,
            code: Some("NoSuchKey".into()),
            message: Some("The specified key does not exist.".into()),
            request_id: Some("4442587FB7D0A2F9".into()),
            extended_request_id: Some("ext/id==".into()),
        };
        assert_eq!(
            reply.java_sdk_message(),
            "The specified key does not exist. (Service: S3, Status Code: 404, Request ID: 4442587FB7D0A2F9, Extended Request ID: ext/id==)"
        );
        let head = StoreReply {
            message: None,
            extended_request_id: None,
            ..reply
        };
        assert_eq!(
            head.java_sdk_message(),
            "NoSuchKey (Service: S3, Status Code: 404, Request ID: 4442587FB7D0A2F9)"
        );
    }

    #[test]
    fn s3_codes_map_to_ours() {
        let cases = [
            ("NoSuchBucket", 404, ErrorCode::NoSuchBucket),
            ("NoSuchKey", 404, ErrorCode::NoSuchKey),
            ("BucketAlreadyOwnedByYou", 409, ErrorCode::BucketAlreadyExists),
            ("BucketNotEmpty", 409, ErrorCode::BucketNotEmpty),
            ("AccessDenied", 403, ErrorCode::AccessDenied),
            ("SignatureDoesNotMatch", 403, ErrorCode::InvalidCredentials),
            ("InvalidAccessKeyId", 403, ErrorCode::InvalidCredentials),
            ("PreconditionFailed", 412, ErrorCode::PreconditionFailed),
            ("SlowDown", 503, ErrorCode::Throttled),
            ("InternalError", 500, ErrorCode::ServiceError),
            ("InvalidRange", 416, ErrorCode::InvalidInput),
        ];
        for (s3, status, ours) in cases {
            assert_eq!(ErrorCode::from_s3(Some(s3), Some(status), Missing::Key), ours, "{s3}");
        }
        assert_eq!(
            ErrorCode::from_s3(None, Some(404), Missing::Bucket),
            ErrorCode::NoSuchBucket
        );
        assert_eq!(ErrorCode::from_s3(None, Some(404), Missing::Key), ErrorCode::NoSuchKey);
        assert_eq!(
            ErrorCode::from_s3(None, Some(412), Missing::Key),
            ErrorCode::PreconditionFailed
        );
        assert_eq!(ErrorCode::from_s3(None, Some(503), Missing::Key), ErrorCode::Throttled);
        assert!(ErrorCode::Throttled.retryable());
        assert_eq!(
            ErrorCode::AccessDenied.refine(Some("Forbidden: Invalid signature")),
            ErrorCode::InvalidCredentials
        );
        assert_eq!(
            ErrorCode::AccessDenied.refine(Some("Access Denied")),
            ErrorCode::AccessDenied
        );
        assert!(!ErrorCode::InvalidInput.retryable());
    }
}
