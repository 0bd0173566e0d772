//! One job in the worker's hands: move its lease when its header asks, run it, and report how
//! it ended (or hand it back on shutdown).

use super::*;

/// One activated job, as the cluster sends it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivatedJob {
    pub(crate) job_key: String,
    #[serde(default)]
    pub(crate) retries: i64,
    #[serde(default)]
    deadline: i64,
    #[serde(default)]
    variables: Map<String, Value>,
    #[serde(default)]
    custom_headers: Map<String, Value>,
}

/// What to tell the cluster about a job.
pub(crate) enum Report {
    Outcome(Outcome),
    /// Shutdown: hand the job back untouched.
    Release {
        retries: i64,
    },
}

impl Worker {
    /// Runs one job and reports how it ended.
    pub(crate) async fn handle(&self, job: ActivatedJob, mut cancel: tokio::sync::watch::Receiver<bool>) {
        let now_ms = epoch_ms();
        let mut deadline = job.deadline;
        if let Some(timeout) = job_timeout(&job) {
            match self.extend(&job, timeout).await {
                Ok(()) => deadline = lease_end(now_ms, timeout),
                Err(Some(e)) => {
                    // The lease is gone (or was refused): running now could do the job twice.
                    tracing::warn!(job = %job.job_key, message = %e.message, "job not run: its timeout could not be set");
                    self.rejected();
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
        let kind = match &report {
            Report::Outcome(Outcome::Complete { .. }) => "complete",
            Report::Outcome(Outcome::Fail { .. }) => "fail",
            Report::Outcome(Outcome::BpmnError { .. }) => "bpmnError",
            Report::Release { .. } => "released",
        };
        match &report {
            Report::Outcome(_) => self.telemetry.jobs.ended(kind, started.elapsed()),
            Report::Release { .. } => self.telemetry.jobs.counted(kind),
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
    pub(crate) async fn send_report(&self, job: &ActivatedJob, report: Report) {
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
                    self.rejected();
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
        self.rejected();
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
}
