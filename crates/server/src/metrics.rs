//! The service's metrics for `GET /metrics`: the shared ones ([`Telemetry`]: process,
//! `build_info`, the S3 side, jobs) and the HTTP side's own, all in one registry rendered in
//! Prometheus's text format by the `prometheus` crate.
//!
//! Labels are bounded sets only (route templates, methods, statuses, error codes, action
//! names, job outcomes), never keys, buckets or document ids: those would grow without end
//! and could name private data.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};
use s3_connector::telemetry::{S3Metrics, Telemetry};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

/// The service's metrics.
pub struct Metrics {
    /// The shared metrics, and the registry everything is in.
    pub telemetry: Telemetry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    actions: IntCounterVec,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
    in_flight: IntGauge,
}

impl Metrics {
    /// The HTTP side's metrics beside the shared ones, the S3 side counted in `s3` (the
    /// service's connection's).
    pub fn new(s3: S3Metrics) -> Self {
        let telemetry = Telemetry::new(s3);
        // Constant, distinct definitions: neither creating nor registering them can fail.
        let counters = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a constant, valid metric definition");
            telemetry
                .registry()
                .register(Box::new(c.clone()))
                .expect("distinct metric names");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("a constant, valid metric definition");
            telemetry
                .registry()
                .register(Box::new(c.clone()))
                .expect("distinct metric names");
            c
        };
        let requests = counters(
            "s3_connector_http_requests_total",
            "HTTP requests answered.",
            &["route", "method", "status"],
        );
        let errors = counters(
            "s3_connector_http_errors_total",
            "Errors answered, by error code.",
            &["code"],
        );
        let actions = counters(
            "s3_connector_actions_total",
            "Actions run, by action and outcome.",
            &["action", "outcome"],
        );
        let bytes_in = counter("s3_connector_http_bytes_in_total", "Request body bytes received.");
        let bytes_out = counter("s3_connector_http_bytes_out_total", "Response body bytes sent.");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "s3_connector_http_request_duration_seconds",
                "Time from request to response head.",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )
        .expect("a constant, valid metric definition");
        telemetry
            .registry()
            .register(Box::new(latency.clone()))
            .expect("distinct metric names");
        let in_flight = IntGauge::new("s3_connector_http_in_flight_requests", "Requests being served.")
            .expect("a constant, valid metric definition");
        telemetry
            .registry()
            .register(Box::new(in_flight.clone()))
            .expect("distinct metric names");
        Metrics {
            telemetry,
            requests,
            errors,
            latency,
            actions,
            bytes_in,
            bytes_out,
            in_flight,
        }
    }

    /// One finished request: its route template, method, status and time to the response head.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(elapsed.as_secs_f64());
    }

    /// One error answered, by its code.
    pub fn error(&self, code: &str) {
        self.errors.with_label_values(&[code]).inc();
    }

    /// One action run through `POST /v1/actions`, with `ok` or its error code.
    pub fn action(&self, action: &str, outcome: &str) {
        self.actions.with_label_values(&[action, outcome]).inc();
    }

    /// One job run through `POST /v1/jobs`, by outcome (`complete`, `fail`, `bpmnError`).
    pub fn job(&self, outcome: &str, took: Duration) {
        self.telemetry.jobs.ended(outcome, took);
    }

    /// Request body bytes received.
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.inc_by(n);
    }

    /// Response body bytes sent.
    pub fn add_bytes_out(&self, n: u64) {
        self.bytes_out.inc_by(n);
    }

    /// A request started (`1`) or its response body finished (`-1`).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.add(delta);
    }

    /// Everything, in Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> String {
        self.telemetry.render()
    }
}
