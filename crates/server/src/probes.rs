//! Probes and descriptions: `GET /health` (the process answers), `GET /ready` (the S3
//! endpoint and the document store answer), `GET /metrics` (Prometheus text) and
//! `GET /openapi.json`.
//!
//! `/health`, `/ready` and `/openapi.json` need no token, so that orchestrators can probe
//! without one; they say nothing the caller could not learn otherwise (`/ready` names only
//! error codes, the details go to the log). `/metrics` needs the token.

use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use s3_connector::documents::{CamundaReference, DocumentMetadata};
use s3_connector::{Action, ErrorCode, Streams};
use serde_json::json;

use crate::AppState;

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /health`: the process is up.
#[utoipa::path(
    get,
    tag = "service", path = "/health", responses((status = 200, description = "The process answers")))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// How often `/ready` checks S3 and the document store, at most, however often it is probed.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// How long after the last successful check the service stays ready: one failed check (a
/// blip of the store) does not mark every replica unready at once; an outage of more than
/// this does.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// The last readiness checks, shared by all probes.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<Checked>>,
    refreshing: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Copy)]
struct Checked {
    at: Instant,
    s3: Option<ErrorCode>,
    documents: Option<ErrorCode>,
    s3_ok: Option<Instant>,
    documents_ok: Option<Instant>,
}

impl Readiness {
    /// Checks both now and remembers the result.
    async fn check(&self, state: &AppState) -> Checked {
        let (s3, documents) = tokio::join!(check_s3(state), check_documents(state));
        let now = Instant::now();
        let mut last = self.last.lock().await;
        let before = *last;
        let checked = Checked {
            at: now,
            s3,
            documents,
            s3_ok: if s3.is_none() {
                Some(now)
            } else {
                before.and_then(|b| b.s3_ok)
            },
            documents_ok: if documents.is_none() {
                Some(now)
            } else {
                before.and_then(|b| b.documents_ok)
            },
        };
        *last = Some(checked);
        checked
    }
}

/// `GET /ready`: 200 while both S3 and the document store answered a check within the last
/// 30 s, else 503. The checks run at most every 10 s, in the background; the answer is the
/// last result with its age.
#[utoipa::path(
    get,
    tag = "service",
    path = "/ready",
    responses(
        (status = 200, description = "S3 and the document store answered lately"),
        (status = 503, description = "One of them has not; its check names an error code"),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let cached = *state.readiness.last.lock().await;
    let checked = match cached {
        // The first probe, and one after a quiet spell longer than the ready window, waits
        // for a check: an old result would say unready however well the store is.
        None => state.readiness.check(&state).await,
        Some(c) if c.at.elapsed() >= READY_WITHIN => state.readiness.check(&state).await,
        Some(c) => {
            if c.at.elapsed() >= CHECK_INTERVAL
                && !state
                    .readiness
                    .refreshing
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let state = state.clone();
                tokio::spawn(async move {
                    // Cleared however the check ends (a panic included), so refreshes go on.
                    struct Done<'a>(&'a std::sync::atomic::AtomicBool);
                    impl Drop for Done<'_> {
                        fn drop(&mut self) {
                            self.0.store(false, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                    let _done = Done(&state.readiness.refreshing);
                    state.readiness.check(&state).await;
                });
            }
            c
        }
    };
    let fresh = |ok: Option<Instant>| ok.is_some_and(|t| t.elapsed() <= READY_WITHIN);
    let ok = fresh(checked.s3_ok) && fresh(checked.documents_ok);
    let show = |c: &Option<ErrorCode>| c.map(|c| c.as_str()).unwrap_or("ok");
    let age = |t: Option<Instant>| t.map(|t| t.elapsed().as_secs());
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": {"s3": show(&checked.s3), "documents": show(&checked.documents)},
        "checkedSecondsAgo": checked.at.elapsed().as_secs(),
        "lastOkSecondsAgo": {"s3": age(checked.s3_ok), "documents": age(checked.documents_ok)},
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `None` when S3 answers. Listing buckets proves the endpoint is up and the credentials
/// sign; a store that forbids the listing still answered, so `AccessDenied` counts as up.
async fn check_s3(state: &AppState) -> Option<ErrorCode> {
    let list = async {
        let action = Action::from_json(json!({"action": "listBuckets"}))?;
        action.execute(&state.conn, Streams::default()).await
    };
    match tokio::time::timeout(CHECK_TIMEOUT, list).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) if e.code == ErrorCode::AccessDenied => None,
        Ok(Err(e)) => {
            tracing::warn!(code = e.code.as_str(), message = %e.message, "readiness: S3 does not answer");
            Some(e.code)
        }
        Err(_) => Some(ErrorCode::Timeout),
    }
}

/// `None` when the document store answers: opening a document that cannot exist must say
/// `NoSuchKey`, which proves the store is reachable without writing anything.
async fn check_documents(state: &AppState) -> Option<ErrorCode> {
    let probe = CamundaReference {
        store_id: state.documents.store_id().to_string(),
        document_id: uuid::Uuid::new_v4().to_string(),
        content_hash: None,
        metadata: DocumentMetadata::default(),
    };
    match tokio::time::timeout(CHECK_TIMEOUT, state.documents.open(&probe)).await {
        Ok(Err(e)) if e.code == ErrorCode::NoSuchKey => None,
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(code = e.code.as_str(), message = %e.message, "readiness: the document store does not answer");
            Some(e.code)
        }
        Err(_) => Some(ErrorCode::Timeout),
    }
}

/// `GET /metrics`: Prometheus text format 0.0.4.
#[utoipa::path(
    get,
    tag = "service", path = "/metrics", responses((status = 200, description = "Prometheus text")), security(("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /openapi.json`: the API description, generated from the request and result types.
#[utoipa::path(
    get,
    tag = "service", path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn openapi(Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>) -> Json<utoipa::openapi::OpenApi> {
    Json(doc.as_ref().clone())
}
