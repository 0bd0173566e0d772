//! Counters and latency histograms, rendered as Prometheus text for `GET /metrics`.
//!
//! Labels are bounded sets only (route templates, methods, statuses, error codes, action
//! names, job outcomes), never keys, buckets or document ids: those would grow without end
//! and could name private data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Tables {
    requests: BTreeMap<(String, String, u16), u64>,
    errors: BTreeMap<&'static str, u64>,
    latency: BTreeMap<String, Histogram>,
    actions: BTreeMap<(&'static str, &'static str), u64>,
    jobs: BTreeMap<&'static str, u64>,
}

/// The service's metrics.
#[derive(Default)]
pub struct Metrics {
    tables: Mutex<Tables>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    in_flight: AtomicI64,
}

impl Metrics {
    /// One finished request: its route template, method, status and time to the response head.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Ok(mut t) = self.tables.lock() else { return };
        *t.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let h = t.latency.entry(route.to_string()).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// One error answered, by its code.
    pub fn error(&self, code: &'static str) {
        if let Ok(mut t) = self.tables.lock() {
            *t.errors.entry(code).or_default() += 1;
        }
    }

    /// One action run through `POST /v1/actions`, with `ok` or its error code.
    pub fn action(&self, action: &'static str, outcome: &'static str) {
        if let Ok(mut t) = self.tables.lock() {
            *t.actions.entry((action, outcome)).or_default() += 1;
        }
    }

    /// One job run through `POST /v1/jobs`, by outcome (`complete`, `fail`, `bpmnError`).
    pub fn job(&self, outcome: &'static str) {
        if let Ok(mut t) = self.tables.lock() {
            *t.jobs.entry(outcome).or_default() += 1;
        }
    }

    /// Body bytes received.
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Body bytes sent.
    pub fn add_bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// A request started (+1) or finished (-1).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything counted so far.
    pub fn render(&self) -> String {
        let tables = match self.tables.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = String::new();
        let _ = writeln!(out, "# HELP s3_connector_http_requests_total HTTP requests answered.");
        let _ = writeln!(out, "# TYPE s3_connector_http_requests_total counter");
        for ((route, method, status), n) in &tables.requests {
            let _ = writeln!(
                out,
                "s3_connector_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP s3_connector_http_errors_total Errors answered, by error code."
        );
        let _ = writeln!(out, "# TYPE s3_connector_http_errors_total counter");
        for (code, n) in &tables.errors {
            let _ = writeln!(out, "s3_connector_http_errors_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP s3_connector_http_request_duration_seconds Time from request to response head."
        );
        let _ = writeln!(out, "# TYPE s3_connector_http_request_duration_seconds histogram");
        for (route, h) in &tables.latency {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "s3_connector_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "s3_connector_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "s3_connector_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "s3_connector_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP s3_connector_actions_total Actions run, by action and outcome."
        );
        let _ = writeln!(out, "# TYPE s3_connector_actions_total counter");
        for ((action, outcome), n) in &tables.actions {
            let _ = writeln!(
                out,
                "s3_connector_actions_total{{action=\"{action}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP s3_connector_jobs_total Camunda jobs run, by outcome.");
        let _ = writeln!(out, "# TYPE s3_connector_jobs_total counter");
        for (outcome, n) in &tables.jobs {
            let _ = writeln!(out, "s3_connector_jobs_total{{outcome=\"{outcome}\"}} {n}");
        }
        for (name, help, value) in [
            (
                "s3_connector_http_bytes_in_total",
                "Request body bytes received.",
                self.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "s3_connector_http_bytes_out_total",
                "Response body bytes sent.",
                self.bytes_out.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP s3_connector_http_in_flight_requests Requests being served."
        );
        let _ = writeln!(out, "# TYPE s3_connector_http_in_flight_requests gauge");
        let _ = writeln!(
            out,
            "s3_connector_http_in_flight_requests {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.request("/v1/actions", "POST", 200, Duration::from_millis(3));
        m.request("/v1/actions", "POST", 404, Duration::from_secs(2));
        let text = m.render();
        assert!(text.contains("route=\"/v1/actions\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("route=\"/v1/actions\",le=\"2.5\"} 2"), "{text}");
        assert!(text.contains("route=\"/v1/actions\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("method=\"POST\",status=\"404\"} 1"), "{text}");
    }
}
