//! Metrics of the S3 side, which every front end exports on its `/metrics`: requests by
//! operation and HTTP status, retries, resumed downloads and bytes moved. An SDK interceptor
//! counts the requests and retries of every attempt; the transfers count resumes and bytes.
//!
//! The counters live in a [`prometheus::Registry`] of the front end's (not the crate's global
//! one), so that several services in one process (tests, an embedding application) keep
//! their numbers apart. Labels are bounded sets only: operation names, statuses, directions.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use prometheus::{Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// What every front end's `/metrics` holds: the process (CPU, memory, file descriptors,
/// threads, start time), `s3_connector_build_info`, the S3 side and the jobs; a front end
/// registers its own metrics beside them in [`registry`](Self::registry).
pub struct Telemetry {
    registry: Registry,
    /// The S3 side: give it to connections ([`crate::ConnectOptions::metrics`]).
    pub s3: S3Metrics,
    /// Camunda jobs run.
    pub jobs: JobMetrics,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// A registry with the shared metrics in it, the S3 side's being `s3` (a connection's,
    /// [`crate::Connector::metrics`], which the front end's other connections then share).
    pub fn new(s3: S3Metrics) -> Self {
        let registry = Registry::new();
        let jobs = JobMetrics::new();
        // Registering constant, distinct definitions into a new registry cannot fail.
        s3.register(&registry).expect("distinct metric names");
        jobs.register(&registry).expect("distinct metric names");
        let build = IntGaugeVec::new(
            Opts::new(
                "s3_connector_build_info",
                "The running build: always 1, its version as a label.",
            ),
            &["version"],
        )
        .expect("a constant, valid metric definition");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(build)).expect("distinct metric names");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("distinct metric names");
        Telemetry { registry, s3, jobs }
    }

    /// The registry, for a front end's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything, in Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory fails only on a malformed family, which ours never are.
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Camunda jobs, by how they ended, and how long they ran.
#[derive(Clone)]
pub struct JobMetrics {
    outcomes: IntCounterVec,
    duration: HistogramVec,
}

impl JobMetrics {
    fn new() -> Self {
        JobMetrics {
            outcomes: IntCounterVec::new(
                Opts::new(
                    "s3_connector_jobs_total",
                    "Camunda jobs, by outcome: complete, fail, bpmnError; the worker also released (handed back at shutdown) and rejected (the cluster no longer had it for us).",
                ),
                &["outcome"],
            )
            .expect("a constant, valid metric definition"),
            duration: HistogramVec::new(
                HistogramOpts::new("s3_connector_job_duration_seconds", "How long jobs ran, by outcome.")
                    .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0]),
                &["outcome"],
            )
            .expect("a constant, valid metric definition"),
        }
    }

    fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.outcomes.clone()))?;
        registry.register(Box::new(self.duration.clone()))
    }

    /// A job ended with `outcome` after `took`.
    pub fn ended(&self, outcome: &str, took: std::time::Duration) {
        self.outcomes.with_label_values(&[outcome]).inc();
        self.duration.with_label_values(&[outcome]).observe(took.as_secs_f64());
    }

    /// A job was handed on without running to its end (`released`, `rejected`).
    pub fn counted(&self, outcome: &str) {
        self.outcomes.with_label_values(&[outcome]).inc();
    }
}

/// The S3 side's counters. Cheap to clone: clones count into the same metrics.
#[derive(Clone)]
pub struct S3Metrics {
    requests: IntCounterVec,
    retries: IntCounterVec,
    resumes: IntCounter,
    bytes: IntCounterVec,
}

impl std::fmt::Debug for S3Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Metrics")
    }
}

impl Default for S3Metrics {
    fn default() -> Self {
        S3Metrics::new()
    }
}

/// Which way bytes moved.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    /// To the store (uploads).
    Up,
    /// From the store (downloads).
    Down,
}

impl S3Metrics {
    /// Counters at zero, in no registry yet.
    pub fn new() -> Self {
        // Names and label sets are constants, valid by the tests: no input reaches them.
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("a constant, valid metric definition")
        };
        S3Metrics {
            requests: counter_vec(
                "s3_connector_s3_requests_total",
                "Attempts of S3 requests, by operation and HTTP status (error: no answer).",
                &["operation", "status"],
            ),
            retries: counter_vec(
                "s3_connector_s3_retries_total",
                "Attempts of S3 requests after the first, by operation.",
                &["operation"],
            ),
            resumes: IntCounter::new(
                "s3_connector_s3_resumes_total",
                "Downloads resumed after their body broke, stalled or ended early.",
            )
            .expect("a constant, valid metric definition"),
            bytes: counter_vec(
                "s3_connector_s3_bytes_total",
                "Object bytes moved, by direction (up: to the store, down: from it).",
                &["direction"],
            ),
        }
    }

    /// Adds the counters to `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.retries.clone()))?;
        registry.register(Box::new(self.resumes.clone()))?;
        registry.register(Box::new(self.bytes.clone()))
    }

    /// One attempt of `operation`, answered with `status` (or `error`).
    pub(crate) fn attempt(&self, operation: &str, status: &str, attempt: u32) {
        self.requests.with_label_values(&[operation, status]).inc();
        if attempt > 1 {
            self.retries.with_label_values(&[operation]).inc();
        }
    }

    /// A download resumed.
    pub(crate) fn resumed(&self) {
        self.resumes.inc();
    }

    /// `n` object bytes moved `direction`.
    pub(crate) fn moved(&self, direction: Direction, n: u64) {
        let label = match direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        self.bytes.with_label_values(&[label]).inc_by(n);
    }

    /// The SDK interceptor that counts every attempt into these metrics.
    pub(crate) fn interceptor(&self) -> CountAttempts {
        CountAttempts(Arc::new(self.clone()))
    }
}

/// Counts each attempt of each S3 request, after it ended: its operation, its HTTP status
/// (`error` when no answer came) and whether it was a retry.
#[derive(Debug, Clone)]
pub(crate) struct CountAttempts(Arc<S3Metrics>);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_none() && context.output_or_error().is_none() {
            // Stopped before it was sent, with neither an answer nor an error: a presigned
            // request, which the caller sends (or not) later. No attempt at the store.
            return Ok(());
        }
        let operation = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or("unknown");
        let status = context
            .response()
            .map(|r| r.status().as_u16().to_string())
            .unwrap_or_else(|| "error".to_string());
        let attempt = cfg.load::<RequestAttempts>().map(|a| a.attempts()).unwrap_or(1);
        self.0.attempt(operation, &status, attempt);
        Ok(())
    }
}
