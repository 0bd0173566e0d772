//! `s3-connector worker`: builds a Camunda job worker from the command line and runs it
//! until Ctrl-C or SIGTERM. The worker itself lives in the `s3-connector-worker` crate.

use std::sync::Arc;
use std::time::Duration;

use s3_connector::cluster::{ClusterAuth, OAuthSettings};
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::{CamundaClusterStore, DocumentStore};
use s3_connector::Error;
use s3_connector_worker::{Worker, WorkerConfig};

use crate::args::{Global, WorkerArgs};

/// The cluster credentials the flags describe.
fn auth(args: &WorkerArgs) -> Result<ClusterAuth, Error> {
    match (&args.oauth_url, &args.token) {
        (Some(url), _) => {
            let client_id = args
                .client_id
                .clone()
                .ok_or_else(|| Error::invalid_input("client-id", "is required with --oauth-url"))?;
            let client_secret = args.client_secret.clone().ok_or_else(|| {
                Error::invalid_input("client-secret", "is required with --oauth-url (CAMUNDA_CLIENT_SECRET)")
            })?;
            ClusterAuth::oauth(OAuthSettings {
                token_url: url.clone(),
                client_id,
                client_secret,
                audience: args.audience.clone(),
                scope: args.scope.clone(),
            })
        }
        (None, Some(token)) => Ok(ClusterAuth::Bearer(token.clone())),
        (None, None) => Ok(ClusterAuth::None),
    }
}

/// Runs the worker.
pub async fn run(g: &Global, args: &WorkerArgs) -> Result<(), Error> {
    let auth = Arc::new(auth(args)?);
    // Jobs carry their own S3 connection; this one serves an s3 document store. Kept alive
    // while the worker runs: dropping it stops an embedded store.
    let (settings, _store) = crate::settings(g, g.embedded.clone()).await?;
    let cluster = args.cluster.trim_end_matches('/').trim_end_matches("/v2").to_string();
    let documents: Arc<dyn DocumentStore> = match &g.documents {
        Some(spec) => {
            let conn = crate::document_connection(spec, &settings).await?;
            Arc::from(s3_connector::documents::open_store("documents", spec, conn.as_ref())?)
        }
        None => Arc::new(CamundaClusterStore::with_auth(&cluster, None, auth.clone())?),
    };
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let jobs = s3_connector::camunda::job::JobConnections {
        endpoints: s3_connector::net::EndpointPolicy::from_env()?.trusting(settings.endpoint.as_deref()),
        timeouts: settings.timeouts.clone(),
        max_attempts: settings.max_attempts,
        // One registry for all jobs: a job's clean-up never aborts another job's running upload;
        // each stopped job still waits for its own clean-up only.
        cleanup: Some(s3_connector::CleanupTasks::default()),
        // The worker puts in its own, which its /metrics shows.
        metrics: None,
    };
    let mut own = crate::own_secret_values(&settings).await;
    own.extend(args.client_secret.iter().map(|s| s.expose().to_string()));
    own.extend(args.token.iter().map(|s| s.expose().to_string()));
    let secrets = s3_connector::camunda::secrets::SecretSource::from_env()?.refusing(own);
    let config = WorkerConfig {
        cluster,
        job_type: args.job_type.clone(),
        worker_name: args
            .worker_name
            .clone()
            .unwrap_or_else(|| format!("s3-connector-{host}")),
        job_timeout: args.job_timeout.max(Duration::from_secs(1)),
        max_jobs: args.max_jobs,
        poll_timeout: args.poll_timeout,
        shutdown_grace: args.shutdown_grace,
        jobs,
        ..WorkerConfig::new("")
    };
    eprintln!(
        "worker {} taking {} jobs from {} ({} at once); documents in store {:?}; Ctrl-C stops",
        config.worker_name,
        config.job_type,
        s3_connector::documents::external::redact_url_text(&config.cluster),
        config.max_jobs,
        documents.store_id()
    );
    let worker = Arc::new(Worker::new(
        config,
        auth,
        documents,
        ExternalFetch::from_env()?,
        Box::new(move |name| secrets.lookup(name)),
    )?);
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
        Error::new(
            s3_connector::ErrorCode::LocalIo,
            format!("cannot listen on {}: {e}", args.listen),
        )
    })?;
    eprintln!(
        "probes and metrics on http://{}/health, /ready, /metrics",
        listener.local_addr().unwrap_or(args.listen)
    );
    let (probes_stop, probes_stopped) = tokio::sync::oneshot::channel::<()>();
    let probes = tokio::spawn(s3_connector_worker::probes::serve(listener, worker.clone(), async {
        let _ = probes_stopped.await;
    }));
    let _stops_are_ours = crate::Waiting::new();
    let report = worker.run(crate::serve::stop_signal()).await;
    let _ = probes_stop.send(());
    let _ = probes.await;
    eprintln!(
        "stopped: {} completed, {} failed, {} BPMN errors, {} handed back, {} reports refused",
        report.completed, report.failed, report.bpmn_errors, report.released, report.rejected
    );
    Ok(())
}
