//! `POST /v1/jobs`: one Camunda job, `{variables, headers, retries}`, answered with its
//! outcome exactly as `s3-connector job` prints it.
//!
//! Every outcome, including a failed job or a BPMN error, is a 200: the request was served,
//! and the outcome says how the job ended. Only a request that is not a job is an error.
//! Documents go to the service's document store, secrets come from its environment.

use axum::extract::{Request, State};
use axum::Json;
use s3_connector::camunda::job::{run_job, JobEnv, JobRequest, Outcome};

use crate::body::read_json_body;
use crate::error::ApiError;
use crate::AppState;

/// `POST /v1/jobs`: runs one Camunda job, as `s3-connector job` does.
#[utoipa::path(
    post,
    tag = "jobs",
    path = "/v1/jobs",
    request_body(content = s3_connector::camunda::job::JobRequest, description = "The job's variables, task headers and retries"),
    responses(
        (status = 200, description = "How the job ended: complete, fail or bpmnError", body = s3_connector::camunda::job::Outcome),
        (status = "4XX", description = "The body is not a job", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn post_job(State(state): State<AppState>, req: Request) -> Result<Json<Outcome>, ApiError> {
    let bytes = read_json_body(req.into_body(), state.limits.max_request_bytes).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid_input("job", format!("is not valid JSON: {e}")))?;
    let request = JobRequest::from_value(value)?;
    let env = JobEnv {
        store: state.documents.as_ref(),
        external: &state.external,
        secrets: &*state.secrets,
        connections: &state.jobs,
        // The service outlives the job, so a dropped job's clean-up finishes on its own.
        connected: None,
    };
    let started = std::time::Instant::now();
    let outcome = run_job(&request, &env).await;
    let name = match &outcome {
        Outcome::Complete { .. } => "complete",
        Outcome::Fail { .. } => "fail",
        Outcome::BpmnError { .. } => "bpmnError",
    };
    state.metrics.job(name, started.elapsed());
    Ok(Json(outcome))
}
