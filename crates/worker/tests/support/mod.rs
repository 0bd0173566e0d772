//! Worker test harness: the embedded S3 store, the fake cluster's job API, and the fake
//! cluster document API shared with the library's tests.

#![allow(dead_code)]

#[path = "../../../connector/tests/support/fake_cluster.rs"]
pub mod documents_cluster;
pub mod jobs_cluster;

use std::path::PathBuf;
use std::sync::Arc;

use s3_connector::cluster::{ClusterAuth, OAuthSettings};
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::CamundaClusterStore;
use s3_connector::{ConnectionSettings, Connector, Secret};
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};
use s3_connector_worker::{Worker, WorkerConfig, WorkerReport};
use serde_json::{json, Value};

/// The embedded store and a connector to it.
pub struct S3 {
    pub conn: Connector,
    pub settings: ConnectionSettings,
    _store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

pub async fn s3() -> S3 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::start(EmbeddedOptions::new(dir.path().join("s3")))
        .await
        .expect("embedded store");
    let settings = ConnectionSettings {
        endpoint: Some(store.endpoint()),
        region: Some("us-east-1".into()),
        access_key_id: Some(store.access_key().into()),
        secret_access_key: Some(Secret::new(store.secret_key())),
        max_attempts: Some(1),
        ..Default::default()
    };
    let conn = Connector::connect(settings.clone()).await.expect("connect");
    conn.client()
        .create_bucket()
        .bucket("jobs")
        .send()
        .await
        .expect("bucket");
    S3 {
        conn,
        settings,
        _store: store,
        _dir: dir,
    }
}

impl S3 {
    /// Job variables for one of Camunda's operations on this store, the secret key as a secret.
    pub fn variables(&self, operation: &str, action: Value) -> Value {
        json!({
            "authentication": {"type": "credentials", "accessKey": self.settings.access_key_id, "secretKey": "{{secrets.S3_SECRET}}"},
            "configuration": {"region": "us-east-1", "endpoint": self.settings.endpoint},
            "actionDiscriminator": operation,
            "action": action,
        })
    }

    pub fn secret(&self) -> String {
        self.settings
            .secret_access_key
            .as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    }
}

/// OAuth against the fake cluster's token endpoint.
pub fn oauth(cluster: &jobs_cluster::FakeCluster) -> Arc<ClusterAuth> {
    Arc::new(
        ClusterAuth::oauth(OAuthSettings {
            token_url: format!("{}/oauth/token", cluster.base),
            client_id: jobs_cluster::CLIENT_ID.into(),
            client_secret: Secret::new(jobs_cluster::CLIENT_SECRET),
            audience: Some("zeebe.camunda.io".into()),
            scope: None,
        })
        .expect("oauth"),
    )
}

/// `promtool check metrics`, as the server's tests run it.
#[allow(dead_code)]
#[path = "../../../server/tests/support/promtool.rs"]
mod promtool;
#[allow(unused_imports)]
pub use promtool::promtool_check;

/// A running worker; `stop` asks it to shut down and returns its report. `probes` is the
/// base URL of its /health, /ready and /metrics.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<WorkerReport>,
    #[allow(dead_code)]
    pub probes: String,
}

impl Running {
    pub async fn stop(self) -> WorkerReport {
        let _ = self.stop.send(());
        self.task.await.expect("worker task")
    }
}

/// Starts a worker named `name` against `cluster`, documents in `documents_base`.
pub async fn start_worker(
    cluster: &jobs_cluster::FakeCluster,
    documents_base: &str,
    name: &str,
    secret: String,
    tune: impl FnOnce(&mut WorkerConfig),
) -> Running {
    let auth = oauth(cluster);
    let documents = Arc::new(CamundaClusterStore::with_auth(documents_base, None, auth.clone()).expect("documents"));
    let mut config = WorkerConfig::new(cluster.base.clone());
    config.worker_name = name.into();
    config.poll_timeout = std::time::Duration::from_millis(300);
    // The test stores listen on loopback, which the guard refuses for job endpoints unless the
    // operator allows it: these tests play an operator who does.
    config.jobs.endpoints = s3_connector::net::EndpointPolicy::new(
        s3_connector::net::AddressGuard::new().allowing("127.0.0.0/8".parse().expect("net")),
    );
    tune(&mut config);
    let lookup = move |n: &str| (n == "S3_SECRET").then(|| secret.clone());
    let worker =
        Arc::new(Worker::new(config, auth, documents, ExternalFetch::default(), Box::new(lookup)).expect("worker"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let probes = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(s3_connector_worker::probes::serve(
        listener,
        worker.clone(),
        std::future::pending(),
    ));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    Running { stop, task, probes }
}

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../connector/tests/node")
}

/// Checks every request and answer the fake saw against Camunda's published schemas.
/// Skipped loudly without node and the schemas; failing under CI.
pub async fn check_shapes(cluster: &jobs_cluster::FakeCluster) {
    let dir = node_dir();
    if !dir.join("node_modules/@camunda/camunda-api-zod-schemas").exists() {
        let msg = "Camunda's API schemas are not installed: run `npm ci --prefix crates/connector/tests/node`";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("\n*** SKIPPED: the shape check: {msg} ***\n");
        return;
    }
    let exchanges = cluster.inner.exchanges.lock().expect("lock").clone();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), serde_json::to_vec(&exchanges).expect("json")).expect("write");
    let out = tokio::process::Command::new("node")
        .arg(dir.join("check-cluster-shapes.mjs"))
        .arg(file.path())
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exchanges that do not fit Camunda's schemas:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("shape check: {}", stdout.trim());
}
