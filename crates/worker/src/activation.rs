//! The activation loop: ask for as many jobs as there are free slots, hand each to a task,
//! back off while the cluster fails, and wind down on shutdown.

use super::*;

impl Worker {
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
            self.busy(slots.available_permits() == 0);
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = &mut shutdown => break,
            };
            self.busy(false);
            let mut held = vec![first];
            while let Ok(p) = slots.clone().try_acquire_owned() {
                held.push(p);
            }
            let activated = tokio::select! {
                r = self.activate(held.len()) => r,
                _ = &mut shutdown => break,
            };
            self.contacted(activated.as_ref().err().map(|e| e.code));
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
        // Stopping, not busy: /ready must not keep reporting the slots as the reason it waits.
        self.busy(false);
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
}
