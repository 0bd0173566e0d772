//! The worker's own HTTP port, as Camunda's connector runtime has one: `/health` (the process
//! answers), `/ready` (the cluster answered an activation lately) and `/metrics` (process,
//! build, jobs and their S3 side, in Prometheus's text format). No token: it serves no data
//! beyond counts, and listens on loopback unless the operator says otherwise.
//!
//! `/ready` does not call the cluster per probe: it reports how the worker's own last
//! activation went and how long ago, so that a probe storm adds no load and one failed
//! activation (retried within a second) does not mark every replica unready at once.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::Worker;

/// The probe routes.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(worker)
}

/// Serves [`router`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    worker: Arc<Worker>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(worker))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn ready(State(worker): State<Arc<Worker>>) -> Response {
    let contact = worker.contact.lock().map(|c| c.clone()).unwrap_or_default();
    let now = Instant::now();
    let age = |t: Instant| now.saturating_duration_since(t).as_secs();
    let limit = worker.config.poll_timeout + worker.config.ready_slack;
    // A worker whose slots are all taken asks for no jobs until one frees; that time is not
    // counted, or a worker running long jobs would be unready for being busy.
    let since = contact.last_success.max(contact.busy_ended);
    let ready = contact.last_success.is_some()
        && (contact.busy_since.is_some() || since.is_some_and(|t| now.saturating_duration_since(t) <= limit));
    let last = match contact.last {
        None => json!({"result": "starting"}),
        Some((t, None)) => json!({"result": "ok", "ageSeconds": age(t)}),
        Some((t, Some(code))) => json!({"result": code.as_str(), "ageSeconds": age(t)}),
    };
    let body = json!({
        "status": if ready { "ready" } else { "unready" },
        "checks": {"cluster": {
            "last": last,
            "lastSuccessAgeSeconds": contact.last_success.map(age),
            "readyWithinSeconds": limit.as_secs(),
            "busySeconds": contact.busy_since.map(age),
        }},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(worker): State<Arc<Worker>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        worker.metrics_text(),
    )
        .into_response()
}
