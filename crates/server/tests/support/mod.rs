//! A running service for tests: the embedded S3 store, a document store, and the app served
//! on a real socket on 127.0.0.1, stopped when dropped.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::DocumentStore;
use s3_connector::{ConnectionSettings, Connector, Secret};
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};
use s3_connector_server::{AppState, Limits, ServerConfig};

/// The token test services require.
pub const TOKEN: &str = "s3cr3t-t0ken-for-tests";

/// An S3 store the services talk to.
pub struct S3 {
    pub conn: Connector,
    pub settings: ConnectionSettings,
    /// The store's data directory (unfinished multipart uploads are under `.s3-connector/uploads`).
    pub data_dir: std::path::PathBuf,
    _store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

/// Starts the embedded store in a fresh directory.
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
        max_attempts: Some(2),
        ..Default::default()
    };
    let conn = Connector::connect(settings.clone()).await.expect("connect");
    S3 {
        conn,
        settings,
        data_dir: store.data_dir().to_path_buf(),
        _store: store,
        _dir: dir,
    }
}

/// A service on a socket; dropping it shuts the service down.
pub struct Service {
    pub addr: SocketAddr,
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Service {
    /// Asks the service to stop, as Ctrl-C would; returns the serving task.
    pub fn shutdown(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done.take().expect("not yet shut down")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `conn` and `documents` with `limits`, requiring [`TOKEN`] when `token` is set.
/// Secrets for jobs come from `secrets`.
pub async fn serve(
    conn: Connector,
    documents: Arc<dyn DocumentStore>,
    limits: Limits,
    token: bool,
    secrets: Vec<(&'static str, String)>,
) -> Service {
    let config = ServerConfig {
        token: token.then(|| Secret::new(TOKEN)),
        limits,
        ..Default::default()
    };
    let lookup = move |name: &str| secrets.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    let state = AppState::with_secrets(
        conn,
        documents,
        ExternalFetch::from_env().expect("external"),
        config,
        Box::new(lookup),
    );
    serve_state(state).await
}

/// Serves `state` on a fresh port of 127.0.0.1.
pub async fn serve_state(state: AppState) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(s3_connector_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    Service {
        addr,
        base: format!("http://{addr}"),
        stop: Some(tx),
        done: Some(done),
    }
}

/// A service on `s3` with a memory document store, default limits, the token required and
/// no secrets: what most tests need.
pub async fn serve_plain(s3: &S3) -> Service {
    serve(
        s3.conn.clone(),
        Arc::new(s3_connector::documents::MemoryStore::new()),
        Limits::default(),
        true,
        vec![],
    )
    .await
}

/// A `putObject` whose content is the body, the request in the `S3-Connector-Request` header.
pub fn put_streamed(c: &reqwest::Client, url: &str, bucket: &str, key: &str) -> reqwest::RequestBuilder {
    let request = serde_json::json!({"action": "putObject", "bucket": bucket, "key": key}).to_string();
    c.post(url)
        .header("S3-Connector-Request", s3_connector_server::body::ascii_json(&request))
}

/// POSTs JSON; returns the status and the answer (as JSON, or the text as a JSON string).
pub async fn post_json(c: &reqwest::Client, url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let resp = c.post(url).json(&body).send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// An HTTP client that sends the test token.
/// The body of a GET of `url`, as text.
#[allow(dead_code)]
pub async fn get_text(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.expect("send").text().await.expect("text")
}

pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

impl S3 {
    /// Creates `bucket`.
    pub async fn create_bucket(&self, bucket: &str) {
        self.conn
            .client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
    }

    /// Unfinished multipart uploads: the embedded store keeps each as a directory under
    /// `.s3-connector/uploads` (read directly, so that this works without a runtime).
    pub fn unfinished_uploads(&self) -> Vec<String> {
        std::fs::read_dir(self.data_dir.join(".s3-connector").join("uploads"))
            .expect("ls uploads")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Asserts that `bucket/key` does not exist and no multipart upload is unfinished.
    pub async fn assert_nothing_left(&self, bucket: &str, key: &str) {
        let head = self.conn.client().head_object().bucket(bucket).key(key).send().await;
        assert!(head.is_err(), "{key} exists");
        assert_eq!(
            self.unfinished_uploads(),
            Vec::<String>::new(),
            "unfinished uploads left"
        );
    }
}

#[allow(dead_code)]
#[path = "promtool.rs"]
mod promtool;
#[allow(unused_imports)]
pub use promtool::promtool_check;
