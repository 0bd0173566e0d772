//! The three front ends a case runs through, behind one interface: the library (an
//! `Action` executed in-process), the HTTP service (`POST /v1/actions` on a real socket) and
//! the CLI (`s3-connector exec`, a child process). A case says what it does once; `Ctx` sends
//! it the way a user of that front end would, and turns the answer back into the library's
//! terms (a JSON result, or an error code and message) so that the same assertions hold.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use s3_connector::{ErrorCode, Streams};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::support::{self, SharedBuf, Target};

/// Which front end a case runs through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// `Action::execute` in this process.
    Library,
    /// `POST /v1/actions` on the HTTP service.
    Http,
    /// `s3-connector exec`, one child process per request (`exec --batch` for many).
    Cli,
}

impl Front {
    /// The name in test names and bucket names.
    pub fn name(self) -> &'static str {
        match self {
            Front::Library => "library",
            Front::Http => "http",
            Front::Cli => "cli",
        }
    }
}

/// Every front end.
pub const ALL: &[Front] = &[Front::Library, Front::Http, Front::Cli];
/// The library only: the case needs hooks only a library caller has (a proxy between the
/// connector and the store, a reader that fails, other transfer settings).
pub const LIBRARY: &[Front] = &[Front::Library];
/// The front ends that read and write local files.
pub const WITH_FILES: &[Front] = &[Front::Library, Front::Cli];

/// A store under test and the HTTP service in front of it.
pub struct UnderTest {
    /// The store, with a library connector to it.
    pub target: Target,
    /// The service's base URL and token; it runs until the suite ends.
    pub http: support_http::Service,
}

/// The HTTP service for a store, in-process on a socket of 127.0.0.1.
pub mod support_http {
    use std::sync::Arc;

    use s3_connector::Secret;
    use s3_connector_server::{AppState, ServerConfig};

    /// The token the suite's services require.
    pub const TOKEN: &str = "conformance-token-0123456789";

    /// A running service; dropping it stops it.
    pub struct Service {
        /// `http://127.0.0.1:PORT`.
        pub base: String,
        _stop: tokio::sync::oneshot::Sender<()>,
    }

    /// Serves `conn` with the default limits and [`TOKEN`] required.
    pub async fn start(conn: s3_connector::Connector) -> Service {
        let config = ServerConfig {
            token: Some(Secret::new(TOKEN)),
            ..Default::default()
        };
        let state = AppState::new(
            conn,
            Arc::new(s3_connector::documents::MemoryStore::new()),
            s3_connector::documents::external::ExternalFetch::from_env().expect("external"),
            config,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(s3_connector_server::serve(listener, state, async move {
            let _ = rx.await;
        }));
        Service { base, _stop: tx }
    }
}

/// An action's failure as any front end reports it: the stable code and the message.
#[derive(Debug)]
pub struct Failure {
    /// The library's code (HTTP's `error.code`, the CLI's `error.code` and exit status).
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl From<s3_connector::Error> for Failure {
    fn from(e: s3_connector::Error) -> Self {
        Failure {
            code: e.code,
            message: e.message,
        }
    }
}

/// What a case sees: one store, one front end, and the buckets it made.
pub struct Ctx {
    under_test: Arc<UnderTest>,
    /// The front end requests go through.
    pub front: Front,
    buckets: Mutex<Vec<String>>,
    http: reqwest::Client,
}

impl std::ops::Deref for Ctx {
    type Target = Target;
    fn deref(&self) -> &Target {
        &self.under_test.target
    }
}

static BUCKETS: AtomicU64 = AtomicU64::new(0);

impl Ctx {
    /// A context for one case.
    pub fn new(under_test: Arc<UnderTest>, front: Front) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", support_http::TOKEN).parse().expect("header"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("http client");
        Ctx {
            under_test,
            front,
            buckets: Mutex::default(),
            http,
        }
    }

    /// Creates a bucket through this front end, unique to the case, and removes it (with what
    /// is left in it) when the case has passed.
    pub async fn new_bucket(&self, purpose: &str) -> String {
        let n = BUCKETS.fetch_add(1, Ordering::SeqCst);
        // Fixed width, so that no bucket's name is a prefix of another's (listBuckets' prefix).
        let bucket = format!("c-{}-{}-{purpose}-{n:05}", self.name, self.front.name());
        let created = self.ok(json!({"action": "createBucket", "bucket": bucket})).await;
        assert_eq!(created["bucket"], bucket, "{}: {created}", self.name);
        self.buckets.lock().expect("lock").push(bucket.clone());
        bucket
    }

    /// Empties and deletes the case's buckets, and checks that they are gone.
    pub async fn clean_up(&self) {
        let buckets = std::mem::take(&mut *self.buckets.lock().expect("lock"));
        for bucket in buckets {
            self.ok(json!({"action": "deleteObjects", "bucket": bucket, "prefix": ""}))
                .await;
            self.ok(json!({"action": "deleteBucket", "bucket": bucket})).await;
            self.fails(
                json!({"action": "headBucket", "bucket": bucket}),
                ErrorCode::NoSuchBucket,
            )
            .await;
        }
    }

    /// Runs one request.
    pub async fn act(&self, request: Value) -> Result<Value, Failure> {
        match self.front {
            Front::Library => support::act(&self.conn, request).await.map_err(Failure::from),
            Front::Http => self.http_json(&request).await.map(|(result, _)| result),
            Front::Cli => self.cli(&["exec", "-"], Some(request.to_string().into_bytes())).await,
        }
    }

    /// Runs one request that must succeed.
    pub async fn ok(&self, request: Value) -> Value {
        match self.act(request.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{}/{}: {request} failed: {e}", self.name, self.front.name()),
        }
    }

    /// Runs one request that must fail with `code`; returns the message.
    pub async fn fails(&self, request: Value, code: ErrorCode) -> String {
        match self.act(request.clone()).await {
            Ok(v) => panic!(
                "{}/{}: {request} should fail with {code} but gave {v}",
                self.name,
                self.front.name()
            ),
            Err(e) => {
                assert_eq!(e.code, code, "{}/{}: {request}: {e}", self.name, self.front.name());
                assert!(!e.message.is_empty(), "{request}: no message");
                e.message
            }
        }
    }

    /// Runs many requests, up to 16 at once; the outcomes in request order. The CLI sends them
    /// as one `exec --batch`.
    pub async fn act_many(&self, requests: Vec<Value>) -> Vec<Result<Value, Failure>> {
        if self.front == Front::Cli {
            let dir = tempfile::tempdir().expect("tmp");
            let file = dir.path().join("requests.jsonl");
            let lines: Vec<String> = requests.iter().map(Value::to_string).collect();
            std::fs::write(&file, lines.join("\n")).expect("write batch");
            let out = self
                .cli_raw(&["exec", "--batch", path_str(&file), "--jobs", "16"], None)
                .await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let outcomes: Vec<Result<Value, Failure>> = stdout
                .lines()
                .map(|line| {
                    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("batch line {line}: {e}"));
                    match v.get("error") {
                        Some(err) => Err(failure_of(err)),
                        None => Ok(v["result"].clone()),
                    }
                })
                .collect();
            assert_eq!(outcomes.len(), requests.len(), "{}: batch answered {stdout}", self.name);
            let first_error = outcomes
                .iter()
                .find_map(|o| o.as_ref().err().map(|e| e.code.exit_code()));
            assert_eq!(
                out.status.code(),
                Some(first_error.unwrap_or(0)),
                "exit status of a batch"
            );
            return outcomes;
        }
        futures::stream::iter(requests)
            .map(|r| self.act(r))
            .buffered(16)
            .collect()
            .await
    }

    /// A streamed upload through `POST /v1/actions`: `request` in its header, the body to come.
    fn http_upload(&self, request: &Value) -> reqwest::RequestBuilder {
        self.http.post(self.url()).header(
            "S3-Connector-Request",
            s3_connector_server::body::ascii_json(&request.to_string()),
        )
    }

    /// Uploads `file` (a path for the library and the CLI; the body of the request for HTTP).
    /// `extra` adds fields to the putObject request.
    pub async fn put_file(&self, bucket: &str, key: &str, file: &Path, extra: Value) -> Value {
        let mut request = json!({"action": "putObject", "bucket": bucket, "key": key});
        merge(&mut request, extra);
        if self.front == Front::Http {
            let body = tokio::fs::File::open(file).await.expect("open upload");
            let len = body.metadata().await.expect("stat").len();
            let stream = tokio_util::io::ReaderStream::new(body);
            let resp = self
                .http_upload(&request)
                .header(reqwest::header::CONTENT_LENGTH, len)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .expect("send");
            return self.expect_ok(&request, http_answer(resp).await.map(|(v, _)| v));
        }
        request["file"] = json!(file);
        self.ok(request).await
    }

    /// Uploads `bytes` (from a file, as [`Ctx::put_file`]).
    pub async fn put_bytes(&self, bucket: &str, key: &str, bytes: &[u8]) -> Value {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("upload");
        std::fs::write(&f, bytes).expect("write");
        self.put_file(bucket, key, &f, json!({})).await
    }

    /// Uploads `bytes` from a stream of unknown length: the library's input stream, a chunked
    /// HTTP body, the CLI's stdin (with the request in a file).
    pub async fn put_stream(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Value {
        let request = json!({"action": "putObject", "bucket": bucket, "key": key});
        let outcome = match self.front {
            Front::Library => {
                let streams = Streams {
                    input: Some(Box::new(std::io::Cursor::new(bytes))),
                    ..Default::default()
                };
                support::act_with(&self.conn, request.clone(), streams)
                    .await
                    .map_err(Failure::from)
            }
            Front::Http => {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    bytes.chunks(256 * 1024).map(|c| Ok(c.to_vec())).collect();
                let resp = self
                    .http_upload(&request)
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
                    .send()
                    .await
                    .expect("send");
                http_answer(resp).await.map(|(v, _)| v)
            }
            Front::Cli => {
                let dir = tempfile::tempdir().expect("tmp");
                let file = dir.path().join("request.json");
                std::fs::write(&file, request.to_string()).expect("write request");
                self.cli(&["exec", path_str(&file)], Some(bytes)).await
            }
        };
        self.expect_ok(&request, outcome)
    }

    /// Downloads an object's bytes (`extra` adds fields such as `range`): to a stream for the
    /// library, the response body for HTTP, a file for the CLI (whose stdout is the result).
    pub async fn get(&self, bucket: &str, key: &str, extra: Value) -> Result<Vec<u8>, Failure> {
        let mut request = json!({"action": "getObject", "bucket": bucket, "key": key});
        merge(&mut request, extra);
        match self.front {
            Front::Library => {
                let sink = SharedBuf::default();
                let streams = Streams {
                    output: Some(Box::new(sink.clone())),
                    ..Default::default()
                };
                support::act_with(&self.conn, request, streams)
                    .await
                    .map_err(Failure::from)?;
                Ok(sink.bytes())
            }
            Front::Http => self.http_json(&request).await.map(|(_, body)| body),
            Front::Cli => {
                let dir = tempfile::tempdir().expect("tmp");
                let out = dir.path().join("download");
                request["file"] = json!(out);
                self.act(request).await?;
                Ok(std::fs::read(&out).expect("read the download"))
            }
        }
    }

    /// An object's bytes, which must be there.
    pub async fn get_bytes(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.get(bucket, key, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{}/{}: get {key}: {e}", self.name, self.front.name()))
    }

    /// Downloads to `file`: the action's own atomic download for the library and the CLI; for
    /// HTTP, the response body written there by the test.
    pub async fn get_file(&self, bucket: &str, key: &str, file: &Path) -> Result<Value, Failure> {
        let mut request = json!({"action": "getObject", "bucket": bucket, "key": key});
        if self.front == Front::Http {
            let resp = self.http.post(self.url()).json(&request).send().await.expect("send");
            if !resp.status().is_success() {
                return http_answer(resp).await.map(|(v, _)| v);
            }
            let result = result_header(&resp);
            let mut out = tokio::fs::File::create(file).await.expect("create");
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                out.write_all(&chunk.expect("body chunk")).await.expect("write");
            }
            out.flush().await.expect("flush");
            return Ok(result);
        }
        request["file"] = json!(file);
        self.act(request).await
    }

    /// The names of all buckets, sorted (stores differ in order).
    pub async fn bucket_names(&self) -> Vec<String> {
        let v = self.ok(json!({"action": "listBuckets"})).await;
        let mut names: Vec<String> = v["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b["name"].as_str().unwrap_or("").to_string())
            .collect();
        names.sort();
        names
    }

    /// The keys under `prefix`.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        keys_of(
            &self
                .ok(json!({"action": "listObjects", "bucket": bucket, "prefix": prefix}))
                .await,
        )
    }

    fn url(&self) -> String {
        format!("{}/v1/actions", self.under_test.http.base)
    }

    fn expect_ok(&self, request: &Value, outcome: Result<Value, Failure>) -> Value {
        outcome.unwrap_or_else(|e| panic!("{}/{}: {request} failed: {e}", self.name, self.front.name()))
    }

    /// POSTs a JSON request; the result (getObject's from its header) and the body.
    async fn http_json(&self, request: &Value) -> Result<(Value, Vec<u8>), Failure> {
        let resp = self.http.post(self.url()).json(request).send().await.expect("send");
        http_answer(resp).await
    }

    async fn cli(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Result<Value, Failure> {
        let out = self.cli_raw(args, stdin).await;
        if out.status.success() {
            return Ok(serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr
            .lines()
            .rev()
            .find_map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .filter(|v| v.get("error").is_some())
            })
            .unwrap_or_else(|| panic!("{:?}: no JSON error on stderr: {stderr}", out.status));
        let failure = failure_of(&error["error"]);
        assert_eq!(
            out.status.code(),
            Some(failure.code.exit_code()),
            "exit status of {failure}"
        );
        Err(failure)
    }

    async fn cli_raw(&self, args: &[&str], stdin: Option<Vec<u8>>) -> std::process::Output {
        let s = &self.settings;
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3-connector"));
        // Hermetic: no AWS settings or config file from the machine running the tests.
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("S3_CONNECTOR") {
                c.env_remove(k);
            }
        }
        c.env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", std::env::temp_dir().join("s3-connector-conformance-home"))
            .env("AWS_ACCESS_KEY_ID", s.access_key_id.clone().unwrap_or_default())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                s.secret_access_key
                    .as_ref()
                    .map(|k| k.expose().to_string())
                    .unwrap_or_default(),
            )
            .arg("--endpoint")
            .arg(s.endpoint.clone().unwrap_or_default())
            .arg("--region")
            .arg(s.region.clone().unwrap_or_default())
            .arg("--max-attempts")
            .arg(s.max_attempts.unwrap_or(2).to_string())
            .arg("--allow-sse-c-over-http")
            .arg(s.allow_sse_c_over_http.unwrap_or(false).to_string())
            .arg("--no-progress")
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = c.spawn().expect("spawn s3-connector");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(&input).await.expect("write stdin");
        }
        child.wait_with_output().await.expect("wait")
    }
}

/// The keys of a listObjects result.
pub fn keys_of(v: &Value) -> Vec<String> {
    v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().unwrap_or("").to_string())
        .collect()
}

fn merge(request: &mut Value, extra: Value) {
    if let (Some(r), Value::Object(extra)) = (request.as_object_mut(), extra) {
        r.extend(extra);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn failure_of(error: &Value) -> Failure {
    let code: ErrorCode = serde_json::from_value(error["code"].clone())
        .unwrap_or_else(|e| panic!("not a library error code ({e}): {error}"));
    Failure {
        code,
        message: error["message"].as_str().unwrap_or_default().to_string(),
    }
}

fn result_header(resp: &reqwest::Response) -> Value {
    let text = resp
        .headers()
        .get("S3-Connector-Result")
        .and_then(|v| v.to_str().ok())
        .expect("getObject answers with its result header");
    serde_json::from_str(text).expect("result header is JSON")
}

/// The service's answer: on success the JSON result (from the header for getObject, whose
/// body is the content) and the body; on failure the error body's code and message.
async fn http_answer(resp: reqwest::Response) -> Result<(Value, Vec<u8>), Failure> {
    let status = resp.status();
    let streamed = resp.headers().contains_key("S3-Connector-Result");
    let result = streamed.then(|| result_header(&resp));
    let body = resp.bytes().await.expect("body").to_vec();
    if status.is_success() {
        return Ok(match result {
            Some(result) => (result, body),
            None => (serde_json::from_slice(&body).expect("JSON result"), Vec::new()),
        });
    }
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{status}: not a JSON error: {}", String::from_utf8_lossy(&body)));
    let failure = failure_of(&v["error"]);
    assert!(
        v["error"]["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{status}: no request id: {v}"
    );
    Err(failure)
}
