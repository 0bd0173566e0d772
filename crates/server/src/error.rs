//! Errors as the HTTP API reports them: one table from code to status, one JSON shape.
//!
//! Handlers return [`ApiError`]. Its response carries the error as an extension, not yet as a
//! body: the request middleware renders the body, because only it knows the request id, and
//! it is also where 5xx details are logged and errors are counted. A 5xx body says what kind
//! of failure it was and where to look; the details (which may name hosts or paths) stay in
//! the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use s3_connector::{Error, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer: `{"error": {code, message, requestId}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable code: one of the library's (InvalidInput, NoSuchKey, ...) or Unauthorized,
    /// NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType, IncompleteBody.
    pub code: String,
    /// What went wrong and what to do; for 5xx, where to find the details.
    pub message: String,
    /// The request's id, also in the `x-request-id` header and the service log.
    pub request_id: String,
}

/// The error body of Camunda's `/v2` routes: ours, plus the RFC 9457 problem members that
/// Camunda's clients read (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// What went wrong, as on every route.
    pub error: ErrorDetail,
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The stable code.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The message.
    pub detail: String,
    /// The route.
    pub instance: String,
}

/// A stable error code of the HTTP API: every core [`ErrorCode`], plus the few that only an
/// HTTP front end can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    /// A core error, from an action, a job's input or a document store.
    Core(ErrorCode),
    /// No bearer token, or the wrong one.
    Unauthorized,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists, the method does not.
    MethodNotAllowed,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The body's content type is not one this endpoint reads.
    UnsupportedMediaType,
    /// The client broke off the request body (or sent a malformed chunked or multipart body)
    /// before it ended: the caller's fault, so a 4xx; nothing was kept.
    IncompleteBody,
}

impl ApiCode {
    /// The code's string form, as it appears in `error.code`. It never changes once released.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCode::Core(code) => code.as_str(),
            ApiCode::Unauthorized => "Unauthorized",
            ApiCode::NotFound => "NotFound",
            ApiCode::MethodNotAllowed => "MethodNotAllowed",
            ApiCode::PayloadTooLarge => "PayloadTooLarge",
            ApiCode::UnsupportedMediaType => "UnsupportedMediaType",
            ApiCode::IncompleteBody => "IncompleteBody",
        }
    }

    /// The HTTP status for the code: the single table every endpoint uses (docs/errors.md).
    pub fn status(self) -> StatusCode {
        match self {
            ApiCode::Core(code) => match code {
                ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
                ErrorCode::NoSuchBucket | ErrorCode::NoSuchKey => StatusCode::NOT_FOUND,
                ErrorCode::BucketAlreadyExists | ErrorCode::BucketNotEmpty => StatusCode::CONFLICT,
                // The store refused the service's own credentials: the caller did nothing wrong.
                ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
                ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                ErrorCode::Throttled => StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
                // Credentials the store rejects, an unreachable store, or a store's own
                // failure: the service's upstream is at fault, hence 502.
                ErrorCode::InvalidCredentials | ErrorCode::Network | ErrorCode::ServiceError => StatusCode::BAD_GATEWAY,
                ErrorCode::LocalIo => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::NotSupported => StatusCode::NOT_IMPLEMENTED,
                // A code added to the core after this table: the test below fails until it
                // has its own row here and in docs/errors.md.
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiCode::NotFound => StatusCode::NOT_FOUND,
            ApiCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiCode::IncompleteBody => StatusCode::BAD_REQUEST,
        }
    }

    /// What a 5xx answer says instead of the details.
    fn public_meaning(self) -> &'static str {
        match self {
            ApiCode::Core(code) => code.meaning(),
            _ => "The service failed.",
        }
    }
}

/// Every HTTP-only code; the tests check that the status table covers each one distinctly.
pub const API_ONLY_CODES: [ApiCode; 6] = [
    ApiCode::Unauthorized,
    ApiCode::NotFound,
    ApiCode::MethodNotAllowed,
    ApiCode::PayloadTooLarge,
    ApiCode::UnsupportedMediaType,
    ApiCode::IncompleteBody,
];

/// An error a handler answers with.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The stable code.
    pub code: ApiCode,
    /// What went wrong and what to do, for the caller (4xx) or the log (5xx).
    pub message: String,
}

impl ApiError {
    /// An error with an HTTP-only code.
    pub fn new(code: ApiCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// `InvalidInput` naming the field at fault.
    pub fn invalid_input(field: &str, problem: impl std::fmt::Display) -> Self {
        Error::invalid_input(field, problem).into()
    }

    /// The body the caller gets, for `request_id`.
    pub fn body(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_string(),
                message: self.public_message(request_id),
                request_id: request_id.to_string(),
            },
        }
    }

    /// The body of a `/v2` route's answer, for `request_id`.
    pub fn problem(&self, request_id: &str, route: &str) -> ProblemBody {
        let ErrorBody { error } = self.body(request_id);
        ProblemBody {
            kind: "about:blank".to_string(),
            title: error.code.clone(),
            status: self.code.status().as_u16(),
            detail: error.message.clone(),
            instance: route.to_string(),
            error,
        }
    }

    /// The message the caller may see: the full message below 500, a pointer to the log above.
    pub fn public_message(&self, request_id: &str) -> String {
        // NotSupported says which store lacks what and what to leave out: nothing private.
        let plain = self.code == ApiCode::Core(ErrorCode::NotSupported);
        if self.code.status().is_server_error() && !plain {
            format!(
                "{} The details are in the service log under request id {request_id}.",
                self.code.public_meaning()
            )
        } else {
            self.message.clone()
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError {
            code: ApiCode::Core(e.code),
            message: e.message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_name_and_an_error_status() {
        let mut names = std::collections::HashSet::new();
        let all = s3_connector::ALL_ERROR_CODES
            .iter()
            .map(|c| ApiCode::Core(*c))
            .chain(API_ONLY_CODES);
        for code in all {
            assert!(names.insert(code.as_str()), "{} twice", code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn every_core_code_has_the_status_docs_errors_md_gives_it() {
        let table = include_str!("../../../docs/errors.md");
        for code in s3_connector::ALL_ERROR_CODES {
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", code.as_str())))
                .unwrap_or_else(|| panic!("{} has no row in docs/errors.md", code.as_str()));
            let documented = row.trim_end_matches('|').rsplit('|').next().unwrap_or_default().trim();
            assert_eq!(
                ApiCode::Core(code).status().as_str(),
                documented,
                "{}: the status table and docs/errors.md differ",
                code.as_str()
            );
        }
    }

    #[test]
    fn server_errors_keep_their_details_out_of_the_answer() {
        let e = ApiError::from(Error::new(ErrorCode::Network, "cannot reach 10.1.2.3:9000"));
        let shown = e.public_message("r-1");
        assert!(!shown.contains("10.1.2.3"), "{shown}");
        assert!(shown.contains("r-1"));
        let e = ApiError::from(Error::invalid_input("bucket", "must not be empty"));
        assert!(e.public_message("r-1").contains("must not be empty"));
    }
}
