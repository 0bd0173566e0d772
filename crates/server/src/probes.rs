//! Probes and descriptions: `GET /health` (the process answers), `GET /ready` (the S3
//! endpoint and the document store answer), `GET /metrics` (Prometheus text) and
//! `GET /openapi.json`.
//!
//! `/health`, `/ready` and `/openapi.json` need no token, so that orchestrators can probe
//! without one; they say nothing the caller could not learn otherwise (`/ready` names only
//! error codes, the details go to the log). `/metrics` needs the token.

use std::time::Duration;

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

/// `GET /ready`: 200 when both the S3 endpoint and the document store answer, else 503.
#[utoipa::path(
    get,
    tag = "service",
    path = "/ready",
    responses(
        (status = 200, description = "S3 and the document store answer"),
        (status = 503, description = "One of them does not; the failing check names an error code"),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (s3, documents) = tokio::join!(check_s3(&state), check_documents(&state));
    let ok = s3.is_none() && documents.is_none();
    let show = |c: &Option<ErrorCode>| c.map(|c| c.as_str()).unwrap_or("ok");
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": {"s3": show(&s3), "documents": show(&documents)},
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
