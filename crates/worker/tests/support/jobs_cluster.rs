//! A fake Camunda cluster's job API and OAuth token endpoint, for worker tests.
//!
//! It hands out jobs with long polling and leases, accepts completion, failure, BPMN errors
//! and timeout updates, and records every request body it received and every activation
//! answer it gave, so that a test can check them against Camunda's published schemas
//! (`check-cluster-shapes.mjs`) and the fake cannot drift from the real API. It also records
//! violations: a report for a job that was not activated, or a job completed twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The token the fake's OAuth endpoint issues and its API accepts.
pub const TOKEN: &str = "test-token";
/// The client credentials the OAuth endpoint accepts.
pub const CLIENT_ID: &str = "s3-worker";
/// The client secret the OAuth endpoint accepts.
pub const CLIENT_SECRET: &str = "client-s3cr3t";

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Waiting for a worker (from this epoch ms on).
    Activatable { from_ms: i64 },
    /// A worker holds it until the deadline.
    Activated { worker: String, deadline_ms: i64 },
    /// Completed with these variables.
    Completed(Value),
    /// Failed with no retries left: an incident.
    Incident(Value),
    /// Ended with a BPMN error.
    BpmnError(Value),
}

/// A job in the fake.
#[derive(Debug, Clone)]
pub struct Job {
    pub key: String,
    pub job_type: String,
    pub variables: Value,
    pub headers: Value,
    pub retries: i64,
    pub state: JobState,
    /// Every report and activation, in order, e.g. `activated by w1`, `failure {...}`.
    pub history: Vec<String>,
    pub activations: u32,
}

#[derive(Default)]
pub struct Inner {
    pub jobs: Mutex<BTreeMap<String, Job>>,
    /// (schema name, JSON) for every request body and activation answer.
    pub exchanges: Mutex<Vec<(String, Value)>>,
    pub violations: Mutex<Vec<String>>,
    pub token_fetches: AtomicU32,
    pub activation_calls: AtomicU32,
    /// When set, every job call answers 503.
    pub unavailable: AtomicBool,
    next_key: Mutex<u64>,
}

/// A handle on a running fake.
#[derive(Clone)]
pub struct FakeCluster {
    pub base: String,
    pub inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl FakeCluster {
    /// Adds a job; returns its key.
    pub fn add_job(&self, job_type: &str, variables: Value, headers: Value, retries: i64) -> String {
        let mut next = self.inner.next_key.lock().expect("lock");
        *next += 1;
        let key = format!("2251799813{:06}", *next);
        self.inner.jobs.lock().expect("lock").insert(
            key.clone(),
            Job {
                key: key.clone(),
                job_type: job_type.into(),
                variables,
                headers,
                retries,
                state: JobState::Activatable { from_ms: 0 },
                history: Vec::new(),
                activations: 0,
            },
        );
        key
    }

    /// A snapshot of a job.
    pub fn job(&self, key: &str) -> Job {
        self.inner.jobs.lock().expect("lock")[key].clone()
    }

    /// Whether every job has ended (completed, incident or BPMN error).
    pub fn all_ended(&self) -> bool {
        self.inner.jobs.lock().expect("lock").values().all(|j| {
            matches!(
                j.state,
                JobState::Completed(_) | JobState::Incident(_) | JobState::BpmnError(_)
            )
        })
    }

    /// Waits until `done` holds, up to `limit`.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&FakeCluster) -> bool) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if done(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        done(self)
    }

    /// The violations seen.
    pub fn violations(&self) -> Vec<String> {
        self.inner.violations.lock().expect("lock").clone()
    }

    fn record(&self, schema: &str, value: &Value) {
        self.inner
            .exchanges
            .lock()
            .expect("lock")
            .push((schema.into(), value.clone()));
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json")],
        json!({"type": "about:blank", "title": status.canonical_reason(), "status": status.as_u16(), "detail": detail, "instance": "/v2/jobs"})
            .to_string(),
    )
        .into_response()
}

fn gate(c: &FakeCluster, headers: &HeaderMap) -> Option<Response> {
    if c.inner.unavailable.load(Ordering::SeqCst) {
        return Some(problem(StatusCode::SERVICE_UNAVAILABLE, "the cluster is starting"));
    }
    if !authorized(headers) {
        return Some(problem(StatusCode::UNAUTHORIZED, "no valid token"));
    }
    None
}

async fn token(State(c): State<FakeCluster>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    c.inner.token_fetches.fetch_add(1, Ordering::SeqCst);
    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    Json(json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn activate(State(c): State<FakeCluster>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    c.inner.activation_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = gate(&c, &headers) {
        return r;
    }
    c.record("activateJobsRequest", &body);
    let job_type = body["type"].as_str().unwrap_or_default().to_string();
    let worker = body["worker"].as_str().unwrap_or_default().to_string();
    let timeout = body["timeout"].as_i64().unwrap_or(0);
    let max = body["maxJobsToActivate"].as_u64().unwrap_or(0) as usize;
    // Long polling, capped so that tests stay quick.
    let wait = Duration::from_millis(body["requestTimeout"].as_u64().unwrap_or(0).min(500));
    let until = std::time::Instant::now() + wait;
    loop {
        let picked: Vec<Value> = {
            let mut jobs = c.inner.jobs.lock().expect("lock");
            let now = now_ms();
            jobs.values_mut()
                .filter(|j| j.job_type == job_type)
                .filter(|j| match &j.state {
                    JobState::Activatable { from_ms } => *from_ms <= now,
                    // An expired lease makes the job activatable again, as in Zeebe.
                    JobState::Activated { deadline_ms, .. } => *deadline_ms <= now,
                    _ => false,
                })
                .take(max)
                .map(|j| {
                    j.state = JobState::Activated {
                        worker: worker.clone(),
                        deadline_ms: now + timeout,
                    };
                    j.activations += 1;
                    j.history.push(format!("activated by {worker}"));
                    json!({
                        "type": j.job_type,
                        "processDefinitionId": "s3-process",
                        "processDefinitionVersion": 1,
                        "elementId": "upload-task",
                        "customHeaders": j.headers,
                        "worker": worker,
                        "retries": j.retries,
                        "deadline": now + timeout,
                        "variables": j.variables,
                        "tenantId": "<default>",
                        "jobKey": j.key,
                        "processInstanceKey": "2251799813000001",
                        "processDefinitionKey": "2251799813000002",
                        "elementInstanceKey": "2251799813000003",
                        "kind": "BPMN_ELEMENT",
                        "listenerEventType": "UNSPECIFIED",
                        "userTask": null,
                        "tags": [],
                        "rootProcessInstanceKey": null,
                    })
                })
                .collect()
        };
        if !picked.is_empty() || std::time::Instant::now() >= until {
            let answer = json!({"jobs": picked});
            c.record("activateJobsResponse", &answer);
            return Json(answer).into_response();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Applies a report to an activated job; 404 for an unknown job, 409 for one not activated.
fn report(c: &FakeCluster, key: &str, what: &str, body: &Value, apply: impl FnOnce(&mut Job)) -> Response {
    let mut jobs = c.inner.jobs.lock().expect("lock");
    let Some(job) = jobs.get_mut(key) else {
        return problem(StatusCode::NOT_FOUND, "no such job");
    };
    job.history.push(format!("{what} {body}"));
    match &job.state {
        JobState::Activated { .. } => {
            apply(job);
            StatusCode::NO_CONTENT.into_response()
        }
        JobState::Completed(_) | JobState::Incident(_) | JobState::BpmnError(_) => {
            c.inner
                .violations
                .lock()
                .expect("lock")
                .push(format!("job {key}: {what} after it ended"));
            problem(StatusCode::NOT_FOUND, "the job has already ended")
        }
        JobState::Activatable { .. } => problem(StatusCode::CONFLICT, "the job is not activated"),
    }
}

async fn complete(
    State(c): State<FakeCluster>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&c, &headers) {
        return r;
    }
    c.record("completeJobRequest", &body);
    let vars = body["variables"].clone();
    report(&c, &key, "completion", &body, |j| j.state = JobState::Completed(vars))
}

async fn fail(
    State(c): State<FakeCluster>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&c, &headers) {
        return r;
    }
    c.record("failJobRequest", &body);
    let retries = body["retries"].as_i64().unwrap_or(0);
    let backoff = body["retryBackOff"].as_i64().unwrap_or(0);
    let b = body.clone();
    report(&c, &key, "failure", &body, |j| {
        j.retries = retries;
        j.state = if retries > 0 {
            JobState::Activatable {
                from_ms: now_ms() + backoff,
            }
        } else {
            JobState::Incident(b)
        };
    })
}

async fn error(
    State(c): State<FakeCluster>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&c, &headers) {
        return r;
    }
    c.record("throwJobErrorRequest", &body);
    let b = body.clone();
    report(&c, &key, "error", &body, |j| j.state = JobState::BpmnError(b))
}

async fn update(
    State(c): State<FakeCluster>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&c, &headers) {
        return r;
    }
    c.record("updateJobRequest", &body);
    let timeout = body["changeset"]["timeout"].as_i64().unwrap_or(0);
    let mut jobs = c.inner.jobs.lock().expect("lock");
    let Some(job) = jobs.get_mut(&key) else {
        return problem(StatusCode::NOT_FOUND, "no such job");
    };
    job.history.push(format!("timeout {timeout}"));
    match &mut job.state {
        JobState::Activated { deadline_ms, .. } => {
            *deadline_ms = now_ms() + timeout;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => problem(StatusCode::NOT_FOUND, "the job is not activated"),
    }
}

/// Starts the fake on 127.0.0.1.
pub async fn start() -> FakeCluster {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cluster = FakeCluster {
        base: format!("http://{addr}"),
        inner: Arc::default(),
    };
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route("/v2/jobs/activation", post(activate))
        .route("/v2/jobs/{key}/completion", post(complete))
        .route("/v2/jobs/{key}/failure", post(fail))
        .route("/v2/jobs/{key}/error", post(error))
        .route("/v2/jobs/{key}", patch(update))
        .with_state(cluster.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    cluster
}
