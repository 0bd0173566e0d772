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

use s3_connector::camunda::job::{run_job, JobConnections, JobEnv, JobRequest, Outcome};
use s3_connector::cluster::{ClusterAuth, ClusterClient};
use s3_connector::config::parse_iso8601_duration;
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::DocumentStore;
use s3_connector::telemetry::Telemetry;
use s3_connector::{Error, ErrorCode};
use serde_json::{json, Map, Value};

mod activation;
mod job;
pub mod probes;

use job::{ActivatedJob, Report};

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
    /// How much longer than its long poll the worker may go without a successful activation,
    /// while it has a free slot, before `/ready` says unready.
    pub ready_slack: Duration,
    /// How jobs' own S3 connections are made: the guard for the endpoints they name, the
    /// operator's timeouts and retries.
    pub jobs: JobConnections,
}

impl WorkerConfig {
    /// Default [`job_timeout`](Self::job_timeout): 5 minutes.
    pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(300);
    /// Default [`max_jobs`](Self::max_jobs).
    pub const DEFAULT_MAX_JOBS: usize = 8;
    /// Default [`poll_timeout`](Self::poll_timeout): 20 seconds.
    pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(20);
    /// Default [`shutdown_grace`](Self::shutdown_grace): 30 seconds.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    /// Default [`ready_slack`](Self::ready_slack): 60 seconds. Failed activations back off to
    /// 30 s, so a short outage of the cluster stays ready.
    pub const DEFAULT_READY_SLACK: Duration = Duration::from_secs(60);

    /// Defaults for a cluster at `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        WorkerConfig {
            cluster: cluster.into(),
            job_type: DEFAULT_JOB_TYPE.into(),
            worker_name: "s3-connector".into(),
            job_timeout: Self::DEFAULT_JOB_TIMEOUT,
            max_jobs: Self::DEFAULT_MAX_JOBS,
            poll_timeout: Self::DEFAULT_POLL_TIMEOUT,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            ready_slack: Self::DEFAULT_READY_SLACK,
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
    cluster: ClusterClient,
    documents: Arc<dyn DocumentStore>,
    external: ExternalFetch,
    secrets: Box<SecretLookup>,
    report: std::sync::Mutex<WorkerReport>,
    /// The worker's metrics: process, build, the jobs and their S3 side.
    telemetry: Telemetry,
    /// How the last activation went, for `/ready`.
    contact: std::sync::Mutex<Contact>,
}

/// The worker's last exchanges with the cluster.
#[derive(Debug, Clone, Default)]
pub(crate) struct Contact {
    /// When the last activation ended, and the error code it failed with, if it did.
    pub last: Option<(Instant, Option<ErrorCode>)>,
    /// When an activation last succeeded.
    pub last_success: Option<Instant>,
    /// Since when every slot has been held by a running job: the worker does not ask for
    /// jobs then, by design, so the time does not count against its readiness.
    pub busy_since: Option<Instant>,
    /// When the worker last had a slot free again after being busy.
    pub busy_ended: Option<Instant>,
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
        if config.max_jobs == 0 {
            return Err(Error::invalid_input("maxJobs", "must be at least 1"));
        }
        // No read timeout on the client: activation long-polls; each call is timed instead.
        let cluster = ClusterClient::new(&config.cluster, "cluster", auth, None)?;
        // Jobs' connections count into the worker's metrics.
        let mut config = config;
        let s3 = config.jobs.metrics.get_or_insert_with(Default::default).clone();
        let telemetry = Telemetry::new(s3);
        Ok(Worker {
            config,
            cluster,
            documents,
            external,
            secrets,
            report: Default::default(),
            telemetry,
            contact: Default::default(),
        })
    }

    /// Sends `body` to `path` (under `/v2`) within `timeout`, through the cluster client (which
    /// fetches a fresh token when the cluster refuses the cached one).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, Error> {
        let url = self.cluster.url(path);
        self.cluster
            .call(&format!("{method} {path}"), |http| {
                http.request(method.clone(), &url).timeout(timeout).json(body)
            })
            .await
    }

    /// The worker's metrics in Prometheus's text format, as `/metrics` serves them.
    pub fn metrics_text(&self) -> String {
        self.telemetry.render()
    }

    /// Notes whether every slot is held (the worker waits for one rather than asking for jobs).
    fn busy(&self, busy: bool) {
        if let Ok(mut c) = self.contact.lock() {
            match (busy, c.busy_since) {
                (true, None) => c.busy_since = Some(Instant::now()),
                (false, Some(_)) => {
                    c.busy_since = None;
                    c.busy_ended = Some(Instant::now());
                }
                _ => {}
            }
        }
    }

    /// Notes how an activation went.
    fn contacted(&self, failed: Option<ErrorCode>) {
        if let Ok(mut c) = self.contact.lock() {
            let now = Instant::now();
            c.last = Some((now, failed));
            if failed.is_none() {
                c.last_success = Some(now);
            }
        }
    }

    /// A job this worker no longer holds (its report or lease refused), in the report and
    /// the metrics.
    fn rejected(&self) {
        self.count(|r| r.rejected += 1);
        self.telemetry.jobs.counted("rejected");
    }

    fn count(&self, f: impl FnOnce(&mut WorkerReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }
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
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < Duration::from_millis(200));
        assert!(backoff(4) > Duration::from_millis(600));
        for attempt in 1..100 {
            assert!(backoff(attempt) <= Duration::from_millis(30_000 + 7_500));
        }
    }
}
