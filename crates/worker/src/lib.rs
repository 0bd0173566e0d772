//! A Camunda 8 job worker over the Orchestration Cluster REST API.
//!
//! The loop: activate up to as many jobs as there are free slots
//! (`POST /v2/jobs/activation`, long polling), run each through the same job envelope as
//! `s3-connector job` ([`run_job`]), and report the outcome: `POST /v2/jobs/{key}/completion`,
//! `/failure` (retries, `retryBackOff` in ms, variables) or `/error` (a BPMN error).
//!
//! # Behavior
//! - At most `max_jobs` jobs run at once; activation asks only for free slots.
//! - An unreachable or failing cluster is retried with exponential backoff (100 ms to 30 s,
//!   with jitter), logged at each attempt; the worker never spins.
//! - A `jobTimeout` task header moves the job's deadline (`PATCH /v2/jobs/{key}`) before the
//!   job runs, as Camunda's runtime does. If the lease is already gone the job is not run.
//! - A job still running at its deadline is stopped (its multipart upload aborted) and
//!   failed with one retry less: running past the lease would let another worker do it twice.
//! - On shutdown the worker stops activating, lets running jobs finish within the grace
//!   period, then stops the rest and fails them with their retries unchanged and no backoff,
//!   so that another worker takes them at once. No job is left locked without a word.
//! - Reports are retried on network errors and 5xx; a 404 or 409 means the job is no longer
//!   this worker's (it timed out or was cancelled), which is logged and dropped.
//!
//! The worker holds no state beyond the jobs in its hands, so any number of workers can
//! compete for the same job type: the cluster hands each job to one of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use s3_connector::camunda::auth::ClusterAuth;
use s3_connector::camunda::job::{run_job, JobConnections, JobEnv, JobRequest, Outcome};
use s3_connector::config::parse_iso8601_duration;
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::DocumentStore;
use s3_connector::{Error, ErrorCode};
use serde_json::{json, Map, Value};

/// The job type of Camunda's AWS S3 connector, which the worker takes by default.
pub const DEFAULT_JOB_TYPE: &str = "io.camunda:aws-s3:1";

/// Secret lookup for `{{secrets.NAME}}` in job variables.
pub type SecretLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The cluster's REST address, e.g. `http://localhost:8080` (without `/v2`).
    pub cluster: String,
    /// The job type to take.
    pub job_type: String,
    /// The worker's name, shown in Operate.
    pub worker_name: String,
    /// How long an activated job is this worker's before the cluster may hand it to another.
    pub job_timeout: Duration,
    /// Jobs run at once.
    pub max_jobs: usize,
    /// How long one activation request waits for jobs (long polling).
    pub poll_timeout: Duration,
    /// How long running jobs may still finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// How jobs' own S3 connections are made: the guard for the endpoints they name, the
    /// operator's timeouts and retries.
    pub jobs: JobConnections,
}

impl WorkerConfig {
    /// Defaults for a cluster at `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        WorkerConfig {
            cluster: cluster.into(),
            job_type: DEFAULT_JOB_TYPE.into(),
            worker_name: "s3-connector".into(),
            job_timeout: Duration::from_secs(300),
            max_jobs: 8,
            poll_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(30),
            jobs: JobConnections::default(),
        }
    }
}

/// What a worker did, returned when it stops.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs completed.
    pub completed: u64,
    /// Jobs failed (including those stopped at their deadline).
    pub failed: u64,
    /// Jobs ended with a BPMN error.
    pub bpmn_errors: u64,
    /// Jobs handed back at shutdown.
    pub released: u64,
    /// Reports the cluster did not accept (the job was no longer this worker's).
    pub rejected: u64,
}

/// A job worker.
pub struct Worker {
    config: WorkerConfig,
    auth: Arc<ClusterAuth>,
    http: reqwest::Client,
    documents: Arc<dyn DocumentStore>,
    external: ExternalFetch,
    secrets: Box<SecretLookup>,
    report: std::sync::Mutex<WorkerReport>,
}

/// One activated job, as the cluster sends it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivatedJob {
    job_key: String,
    #[serde(default)]
    retries: i64,
    #[serde(default)]
    deadline: i64,
    #[serde(default)]
    variables: Map<String, Value>,
    #[serde(default)]
    custom_headers: Map<String, Value>,
}

/// What to tell the cluster about a job.
enum Report {
    Outcome(Outcome),
    /// Shutdown: hand the job back untouched.
    Release {
        retries: i64,
    },
}

impl Worker {
    /// A worker for `config`, authenticating as `auth`, keeping documents in `documents`.
    pub fn new(
        config: WorkerConfig,
        auth: Arc<ClusterAuth>,
        documents: Arc<dyn DocumentStore>,
        external: ExternalFetch,
        secrets: Box<SecretLookup>,
    ) -> Result<Worker, Error> {
        let url = reqwest::Url::parse(&config.cluster)
            .map_err(|e| Error::invalid_input("cluster", format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid_input("cluster", "must be http or https"));
        }
        if config.max_jobs == 0 {
            return Err(Error::invalid_input("maxJobs", "must be at least 1"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot build the HTTP client: {e}")))?;
        let mut config = config;
        config.cluster = config.cluster.trim_end_matches('/').trim_end_matches("/v2").to_string();
        Ok(Worker {
            config,
            auth,
            http,
            documents,
            external,
            secrets,
            report: Default::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2{path}", self.config.cluster)
    }

    /// Sends one request to the cluster, with the bearer token; a 401 refreshes the token once.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, Error> {
        for attempt in 0..2 {
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .timeout(timeout)
                .json(body);
            if let Some(token) = self.auth.token().await? {
                req = req.bearer_auth(token.expose());
            }
            let resp = req.send().await.map_err(|e| {
                let code = if e.is_timeout() {
                    ErrorCode::Timeout
                } else {
                    ErrorCode::Network
                };
                Error::new(
                    code,
                    format!("{method} {path}: cannot reach the cluster: {}", e.without_url()),
                )
            })?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                self.auth.invalidate().await;
                continue;
            }
            return Ok(resp);
        }
        Err(Error::new(
            ErrorCode::InvalidCredentials,
            format!("{method} {path}: the cluster refused the credentials"),
        ))
    }

    /// Asks for up to `n` jobs.
    async fn activate(&self, n: usize) -> Result<Vec<ActivatedJob>, Error> {
        let body = json!({
            "type": self.config.job_type,
            "worker": self.config.worker_name,
            "timeout": self.config.job_timeout.as_millis() as u64,
            "maxJobsToActivate": n,
            "requestTimeout": self.config.poll_timeout.as_millis() as u64,
        });
        let resp = self
            .call(
                reqwest::Method::POST,
                "/jobs/activation",
                &body,
                self.config.poll_timeout + Duration::from_secs(10),
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::new(
                ErrorCode::from_cluster_status(status.as_u16()),
                format!("job activation: the cluster answered HTTP {status}"),
            ));
        }
        #[derive(serde::Deserialize)]
        struct Activated {
            jobs: Vec<ActivatedJob>,
        }
        let activated: Activated = resp.json().await.map_err(|e| {
            Error::new(
                ErrorCode::ServiceError,
                format!("job activation: unexpected answer: {}", e.without_url()),
            )
        })?;
        Ok(activated.jobs)
    }

    /// Runs until `shutdown` resolves, then winds down as the module docs describe.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()> + Send) -> WorkerReport {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.config.max_jobs));
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        let mut running = tokio::task::JoinSet::new();
        let mut failures = 0u32;
        tokio::pin!(shutdown);
        tracing::info!(
            job_type = %self.config.job_type,
            worker = %self.config.worker_name,
            max_jobs = self.config.max_jobs,
            "worker started"
        );
        loop {
            // Reap finished jobs so that the set does not grow.
            while running.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = &mut shutdown => break,
            };
            let mut held = vec![first];
            while let Ok(p) = slots.clone().try_acquire_owned() {
                held.push(p);
            }
            let activated = tokio::select! {
                r = self.activate(held.len()) => r,
                _ = &mut shutdown => break,
            };
            match activated {
                Ok(jobs) => {
                    failures = 0;
                    for job in jobs {
                        let Some(permit) = held.pop() else {
                            // More jobs than asked for: hand the extra back at once.
                            tracing::warn!(job = %job.job_key, "the cluster sent more jobs than asked for");
                            let retries = job.retries;
                            self.send_report(&job, Report::Release { retries }).await;
                            continue;
                        };
                        let worker = self.clone();
                        let cancel = cancel_rx.clone();
                        running.spawn(async move {
                            use futures::FutureExt;
                            let copy = job.clone();
                            let handled = std::panic::AssertUnwindSafe(worker.handle(job, cancel))
                                .catch_unwind()
                                .await;
                            if handled.is_err() {
                                // A bug must not leave the job locked until its timeout.
                                tracing::error!(job = %copy.job_key, "the job's handler panicked; failing the job");
                                let failure = Outcome::Fail {
                                    retries: (copy.retries - 1).max(0),
                                    retry_backoff: "PT0S".into(),
                                    error_message:
                                        "s3-connector failed internally while running the job; see the worker's log"
                                            .into(),
                                    variables: Map::new(),
                                };
                                worker.send_report(&copy, Report::Outcome(failure)).await;
                            }
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    drop(held);
                    failures += 1;
                    let wait = backoff(failures);
                    tracing::warn!(
                        code = e.code.as_str(),
                        message = %e.message,
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot activate jobs"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = &mut shutdown => break,
                    }
                }
            }
        }
        let in_flight = running.len();
        tracing::info!(in_flight, "worker stopping: no new jobs; waiting for those running");
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = running.len(),
                "shutdown grace over: handing the running jobs back"
            );
            let _ = cancel_tx.send(true);
            // Each job now stops, reports itself released and ends; give that a bounded time.
            let _ = tokio::time::timeout(Duration::from_secs(15), async {
                while running.join_next().await.is_some() {}
            })
            .await;
        }
        let report = self.report.lock().map(|r| r.clone()).unwrap_or_default();
        tracing::info!(?report, "worker stopped");
        report
    }

    /// Runs one job and reports how it ended.
    async fn handle(&self, job: ActivatedJob, mut cancel: tokio::sync::watch::Receiver<bool>) {
        let now_ms = epoch_ms();
        let mut deadline = job.deadline;
        if let Some(timeout) = job_timeout(&job) {
            match self.extend(&job, timeout).await {
                Ok(()) => deadline = lease_end(now_ms, timeout),
                Err(Some(e)) => {
                    // The lease is gone (or was refused): running now could do the job twice.
                    tracing::warn!(job = %job.job_key, message = %e.message, "job not run: its timeout could not be set");
                    self.count(|r| r.rejected += 1);
                    return;
                }
                // Transient: it may or may not have applied; keep the earlier deadline.
                Err(None) => deadline = deadline.min(lease_end(now_ms, timeout)),
            }
        }
        // Stop a second early so that the failure report still reaches a lease we hold.
        let left = if deadline > 0 {
            Duration::from_millis((deadline - epoch_ms() - 1000).max(0) as u64)
        } else {
            self.config.job_timeout
        };
        let request = JobRequest {
            variables: Value::Object(job.variables.clone()),
            headers: job.custom_headers.clone(),
            retries: job.retries,
        };
        // Remember the job's S3 connection, so that a job stopped half-way can still wait
        // for its multipart upload to be aborted before the worker moves on or exits.
        let connection: std::sync::Mutex<Option<s3_connector::Connector>> = std::sync::Mutex::new(None);
        let remember = |c: &s3_connector::Connector| {
            if let Ok(mut slot) = connection.lock() {
                *slot = Some(c.clone());
            }
        };
        let env = JobEnv {
            store: self.documents.as_ref(),
            external: &self.external,
            secrets: &*self.secrets,
            connections: &self.config.jobs,
            connected: Some(&remember),
        };
        let started = Instant::now();
        let mut stopped = true;
        let report = tokio::select! {
            outcome = run_job(&request, &env) => {
                stopped = false;
                Report::Outcome(outcome)
            }
            _ = tokio::time::sleep(left) => Report::Outcome(Outcome::Fail {
                retries: (job.retries - 1).max(0),
                retry_backoff: "PT0S".into(),
                error_message: format!(
                    "the job was stopped after {} s, at the end of its timeout; raise the worker's --job-timeout or the task's jobTimeout header",
                    started.elapsed().as_secs()
                ),
                variables: Map::new(),
            }),
            _ = cancel.wait_for(|stop| *stop) => Report::Release { retries: job.retries },
        };
        if stopped {
            let conn = connection.lock().ok().and_then(|c| c.clone());
            if let Some(conn) = conn {
                let late = conn.finish_cleanup(s3_connector::transfer::CLEANUP_WAIT).await;
                if late > 0 {
                    tracing::warn!(job = %job.job_key, late, "a stopped job's upload could not be aborted in time");
                }
            }
        }
        self.send_report(&job, report).await;
    }

    /// `PATCH /v2/jobs/{key}` with the job's new timeout. `Err(None)` is a transient failure.
    async fn extend(&self, job: &ActivatedJob, timeout: Duration) -> Result<(), Option<Error>> {
        let body = json!({"changeset": {"timeout": timeout.as_millis() as u64}});
        let path = format!("/jobs/{}", job.job_key);
        match self
            .call(reqwest::Method::PATCH, &path, &body, Duration::from_secs(30))
            .await
        {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) if resp.status().is_server_error() => Err(None),
            Ok(resp) => Err(Some(Error::new(
                ErrorCode::PreconditionFailed,
                format!("the cluster answered HTTP {} to the timeout update", resp.status()),
            ))),
            Err(_) => Err(None),
        }
    }

    /// Sends the report, retrying transient failures a few times.
    async fn send_report(&self, job: &ActivatedJob, report: Report) {
        let (path, body, kind) = match &report {
            Report::Outcome(Outcome::Complete { variables }) => (
                format!("/jobs/{}/completion", job.job_key),
                json!({"variables": variables}),
                "complete",
            ),
            Report::Outcome(Outcome::Fail {
                retries,
                retry_backoff,
                error_message,
                variables,
            }) => {
                let backoff_ms = parse_iso8601_duration(retry_backoff)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                (
                    format!("/jobs/{}/failure", job.job_key),
                    json!({"retries": retries, "errorMessage": error_message, "retryBackOff": backoff_ms, "variables": variables}),
                    "fail",
                )
            }
            Report::Outcome(Outcome::BpmnError {
                error_code,
                error_message,
                variables,
            }) => (
                format!("/jobs/{}/error", job.job_key),
                json!({"errorCode": error_code, "errorMessage": error_message, "variables": variables}),
                "bpmnError",
            ),
            Report::Release { retries } => (
                format!("/jobs/{}/failure", job.job_key),
                json!({
                    "retries": retries,
                    "errorMessage": "the s3-connector worker stopped before the job finished; it was handed back untouched",
                    "retryBackOff": 0,
                    "variables": {},
                }),
                "released",
            ),
        };
        for attempt in 1..=5u32 {
            match self
                .call(reqwest::Method::POST, &path, &body, Duration::from_secs(30))
                .await
            {
                Ok(resp) if resp.status().is_success() => {
                    tracing::info!(job = %job.job_key, outcome = kind, "job reported");
                    self.count(|r| match kind {
                        "complete" => r.completed += 1,
                        "fail" => r.failed += 1,
                        "bpmnError" => r.bpmn_errors += 1,
                        _ => r.released += 1,
                    });
                    return;
                }
                Ok(resp)
                    if resp.status().is_client_error() && resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    tracing::warn!(job = %job.job_key, outcome = kind, status = resp.status().as_u16(), "the cluster did not accept the report: the job is no longer this worker's");
                    self.count(|r| r.rejected += 1);
                    return;
                }
                Ok(resp) => {
                    tracing::warn!(job = %job.job_key, status = resp.status().as_u16(), attempt, "reporting the job failed; retrying");
                }
                Err(e) => {
                    tracing::warn!(job = %job.job_key, message = %e.message, attempt, "reporting the job failed; retrying");
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        tracing::error!(job = %job.job_key, outcome = kind, "could not report the job; the cluster will hand it out again after its timeout");
        self.count(|r| r.rejected += 1);
    }

    fn count(&self, f: impl FnOnce(&mut WorkerReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }
}

/// The job's `jobTimeout` header, when it is a valid positive duration. An invalid one is
/// left for the job envelope, which fails the job with Camunda's message.
fn job_timeout(job: &ActivatedJob) -> Option<Duration> {
    let text = job.custom_headers.get("jobTimeout")?.as_str()?.trim();
    parse_iso8601_duration(text).filter(|d| d.as_millis() > 0)
}

/// When a lease of `timeout` taken at `now_ms` ends. The header comes from the process model, so
/// a timeout of centuries must not overflow (a panic in a debug build, a lease in the past in
/// a release one).
fn lease_end(now_ms: i64, timeout: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX))
}

/// Exponential backoff with jitter: about 100 ms, 200 ms, ... up to 30 s.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(9).saturating_sub(1));
    let capped = base.min(30_000);
    let jitter = rand::random::<u64>() % (capped / 4 + 1);
    Duration::from_millis(capped - capped / 8 + jitter)
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_timeout_of_centuries_does_not_overflow_the_lease() {
        let job: ActivatedJob =
            serde_json::from_value(json!({"jobKey": "1", "customHeaders": {"jobTimeout": "PT9223372036854775S"}}))
                .expect("job");
        let huge = job_timeout(&job).expect("a valid duration");
        assert_eq!(lease_end(1_000, huge), i64::MAX);
        assert_eq!(lease_end(1_000, Duration::from_secs(2)), 3_000);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < Duration::from_millis(200));
        assert!(backoff(4) > Duration::from_millis(600));
        for attempt in 1..100 {
            assert!(backoff(attempt) <= Duration::from_millis(30_000 + 7_500));
        }
    }
}
