//! The HTTP service under faults and hostile input: a streamed download whose store connection
//! breaks, bodies the client cuts off, a document form that fails half-way, keys that look like
//! paths, job endpoints on the service's own network, and secrets that name the service's own
//! settings.

mod support;

#[path = "../../connector/tests/support/faults.rs"]
#[allow(dead_code)]
mod faults;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faults::{ConnFault, FaultPlan, FaultProxy};
use s3_connector::camunda::secrets::SecretSource;
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::MemoryStore;
use s3_connector::net::AddressGuard;
use s3_connector::{Connector, Secret};
use s3_connector_server::{AppState, Limits, ServerConfig};
use serde_json::{json, Value};
use support::{bytes, client, post_json, put_streamed, s3, serve, serve_plain, serve_state, TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

/// The service's own connection goes through a proxy that cuts the first store connection off
/// after 3 MiB: the client still receives all 20 MiB, byte for byte, because the service resumes
/// from the store (pinned to the ETag) and keeps streaming.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_streamed_download_resumes_when_the_store_connection_breaks() {
    let s3 = s3().await;
    s3.create_bucket("big").await;
    let content = bytes(20 * MIB, 9);
    s3.conn
        .client()
        .put_object()
        .bucket("big")
        .key("twenty.bin")
        .body(content.clone().into())
        .send()
        .await
        .expect("put");
    let addr: SocketAddr = s3
        .settings
        .endpoint
        .as_deref()
        .and_then(|e| e.trim_start_matches("http://").parse().ok())
        .expect("store address");
    let proxy = FaultProxy::start(
        addr,
        FaultPlan {
            script: vec![ConnFault::Truncate(3 * MIB as u64)],
            ..Default::default()
        },
    )
    .await;
    let mut settings = s3.settings.clone();
    settings.endpoint = Some(format!("http://{}", proxy.addr));
    let via = Connector::connect(settings).await.expect("connect");
    let svc = serve(via, Arc::new(MemoryStore::new()), Limits::default(), true, vec![]).await;
    let resp = client()
        .post(format!("{}/v1/actions", svc.base))
        .json(&json!({"action": "getObject", "bucket": "big", "key": "twenty.bin"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let got = resp.bytes().await.expect("the whole body, resumed");
    assert_eq!(got.len(), content.len());
    assert!(got[..] == content[..], "the resumed bytes differ");
    assert_eq!(
        proxy.stats.truncations.load(Ordering::SeqCst),
        1,
        "{}",
        proxy.stats.summary()
    );
}

/// Sends raw bytes and reads the answer (the write side closed, so the server sees the end).
async fn raw(addr: SocketAddr, head: String, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    // A body shorter than its Content-Length ends only when the client closes its side. A
    // whole body must not be followed by that: hyper takes the half-close for the client
    // leaving and drops the answer it is preparing. Such requests say `Connection: close`.
    if !head.contains("Connection: close") {
        stream.shutdown().await.expect("half-close");
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A body that ends before its declared length, and a form that ends before its closing
/// boundary, are the client's fault: 400, never 500, and nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_off_body_is_a_client_error_and_leaves_nothing() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    post_json(
        &c,
        &format!("{}/v1/actions", svc.base),
        json!({"action": "createBucket", "bucket": "cut"}),
    )
    .await;

    let request = json!({"action": "putObject", "bucket": "cut", "key": "short"}).to_string();
    let head = format!(
        "POST /v1/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nS3-Connector-Request: {request}\r\nContent-Length: {}\r\n\r\n",
        12 * MIB
    );
    let answer = raw(svc.addr, head, &bytes(3 * MIB, 1)).await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(400)]
    );
    assert!(answer.contains("IncompleteBody"), "{answer}");
    s3.assert_nothing_left("cut", "short").await;

    // A form whose content part never ends.
    let boundary = "XyZ";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n{}",
        json!({"action": "putObject", "bucket": "cut", "key": "form"}),
        "z".repeat(100_000)
    );
    let head = format!(
        "POST /v1/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        form.len()
    );
    let answer = raw(svc.addr, head, form.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(400)]
    );
    s3.assert_nothing_left("cut", "form").await;

    // A streamed upload whose client gives up mid-way: nothing is left either (the answer may
    // not reach a client that is gone; what matters is the store and the log's status).
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..3).map(|i| Ok(bytes(MIB, i))).collect();
    chunks.push(Err(std::io::Error::other("gave up")));
    let _ = put_streamed(&c, &format!("{}/v1/actions", svc.base), "cut", "gone")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    let metrics = c
        .get(format!("{}/metrics", svc.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        !metrics
            .lines()
            .any(|l| l.contains("status=\"500\"") && !l.ends_with(" 0")),
        "a cut-off body was answered 500:\n{metrics}"
    );
}

/// Metadata, a file, then a second file: refused (one document per form), and the first
/// document, already stored, is removed again, so no document exists with an id nobody got.
#[tokio::test]
async fn a_refused_document_form_keeps_no_document() {
    let s3 = s3().await;
    let documents = Arc::new(MemoryStore::new());
    let svc = serve(s3.conn.clone(), documents.clone(), Limits::default(), true, vec![]).await;
    let form = reqwest::multipart::Form::new()
        .text("metadata", json!({"fileName": "a.txt"}).to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"first".to_vec()).file_name("a.txt"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"second".to_vec()).file_name("b.txt"),
        );
    let resp = client()
        .post(format!("{}/v2/documents", svc.base))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert!(documents.is_empty(), "the first document was left behind");
}

/// Keys that look like paths are names: `../victim/secret.txt` in bucket `trav` is its own
/// object, and never reads, overwrites or lists anything of bucket `victim`. `..` does not
/// crash the store.
#[tokio::test]
async fn keys_that_look_like_paths_are_names_over_http() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    for b in ["trav", "victim"] {
        let (status, body) = post_json(&c, &url, json!({"action": "createBucket", "bucket": b})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = post_json(
        &c,
        &url,
        json!({"action": "putObject", "bucket": "victim", "key": "secret.txt", "content": "victim's"}),
    )
    .await;
    assert_eq!(status, 200);
    let get = |bucket: &str, key: &str| {
        let c = c.clone();
        let url = url.clone();
        let body = json!({"action": "getObject", "bucket": bucket, "key": key});
        async move {
            let r = c.post(&url).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
        }
    };
    assert_eq!(
        get("trav", "../victim/secret.txt").await.0,
        404,
        "it reached another bucket"
    );
    let keys = [
        "../victim/secret.txt",
        "..",
        ".",
        "/abs",
        "a//b",
        "../../../etc/passwd",
        "nul\u{0}in-key",
        ".s3-connector/uploads/x",
    ];
    for (i, key) in keys.iter().enumerate() {
        let content = format!("trav-{i}");
        let (status, body) = post_json(
            &c,
            &url,
            json!({"action": "putObject", "bucket": "trav", "key": key, "content": content}),
        )
        .await;
        assert_eq!(status, 200, "{key:?}: {body}");
        assert_eq!(get("trav", key).await, (200, content.into_bytes()), "{key:?}");
    }
    assert_eq!(
        get("victim", "secret.txt").await,
        (200, b"victim's".to_vec()),
        "overwritten"
    );
    let (_, listed) = post_json(&c, &url, json!({"action": "listObjects", "bucket": "victim"})).await;
    let victim_keys: Vec<&str> = listed["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(victim_keys, ["secret.txt"]);
    let (_, listed) = post_json(&c, &url, json!({"action": "listObjects", "bucket": "trav"})).await;
    let mut trav_keys: Vec<String> = listed["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str().map(str::to_string))
        .collect();
    trav_keys.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(trav_keys, expected);
    // Nothing was written outside the data directory's buckets and the store's own directory.
    let top: Vec<String> = std::fs::read_dir(&s3.data_dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in &top {
        assert!(
            ["trav", "victim", ".s3-connector"].contains(&name.as_str()),
            "unexpected entry in the data directory: {name}"
        );
    }
}

/// A listener that counts the connections it accepts and answers nothing useful.
async fn counting_listener() -> (u16, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world")
                    .await;
            });
        }
    });
    (port, count)
}

fn job_to(endpoint: &str) -> Value {
    json!({"variables": {
        "authentication": {"type": "credentials", "accessKey": "AKIA", "secretKey": "x"},
        "configuration": {"region": "us-east-1", "endpoint": endpoint},
        "actionDiscriminator": "downloadObject",
        "action": {"bucket": "bkt", "key": "k"},
        "documentReturnFormat": {"choice": "TEXT"}
    }, "retries": 3})
}

/// A job that names an endpoint on the service's own network makes no connection at all, and
/// fails at once (retries 0) naming the setting; with the operator's allow-list, it connects.
#[tokio::test]
async fn job_endpoints_on_internal_addresses_make_no_connection() {
    let s3 = s3().await;
    let (port, count) = counting_listener().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/jobs", svc.base);
    for endpoint in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://0.0.0.0:{port}"),
        "http://169.254.169.254".to_string(),
        "http://[fd00:ec2::254]".to_string(),
    ] {
        let (status, outcome) = post_json(&c, &url, job_to(&endpoint)).await;
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["outcome"], "fail", "{endpoint}: {outcome}");
        assert_eq!(outcome["retries"], 0, "{endpoint}: {outcome}");
        assert_eq!(
            outcome["variables"]["error"]["code"], "InvalidInput",
            "{endpoint}: {outcome}"
        );
        let message = outcome["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains(s3_connector::net::ALLOW_SETTING),
            "{endpoint}: {message}"
        );
    }
    assert_eq!(count.load(Ordering::SeqCst), 0, "a refused endpoint was connected to");

    // The service's own endpoint is always allowed (the other tests use it), and an operator
    // may allow more.
    let config = ServerConfig {
        token: Some(Secret::new(TOKEN)),
        guard: AddressGuard::new().allowing("127.0.0.1".parse().expect("ip")),
        ..Default::default()
    };
    let allowing = serve_configured(&s3, config).await;
    let (status, outcome) = post_json(
        &c,
        &format!("{}/v1/jobs", allowing.base),
        job_to(&format!("http://127.0.0.1:{port}")),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert!(
        count.load(Ordering::SeqCst) > 0,
        "the allowed endpoint was not reached: {outcome}"
    );
}

/// A service on `s3` with `config`, a memory document store and no external documents.
async fn serve_configured(s3: &support::S3, config: ServerConfig) -> support::Service {
    serve_state(AppState::new(
        s3.conn.clone(),
        Arc::new(MemoryStore::new()),
        ExternalFetch::default(),
        config,
    ))
    .await
}

/// With the widest secret scope (an empty prefix: any variable), a job still cannot read the
/// service's own settings, by name or by value; an ordinary variable resolves.
#[tokio::test]
async fn job_secrets_never_reach_the_services_own_settings() {
    let s3 = s3().await;
    s3.create_bucket("leak").await;
    // The environment the service would see; setting the process's own while other tests run
    // on other threads would be a data race.
    let env = |name: &str| match name {
        "S3_CONNECTOR_TOKEN" | "HARDENING_TEST_TOKEN_COPY" => Some(TOKEN.to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("a-key-of-the-service".to_string()),
        "HARDENING_TEST_PLAIN" => Some("ordinary-value".to_string()),
        _ => None,
    };
    let config = ServerConfig {
        token: Some(Secret::new(TOKEN)),
        secrets: SecretSource::new(Some(""), None).with_env(env),
        ..Default::default()
    };
    let svc = serve_configured(&s3, config).await;
    let content = "{{secrets.S3_CONNECTOR_TOKEN}}|{{secrets.HARDENING_TEST_TOKEN_COPY}}|{{secrets.AWS_SECRET_ACCESS_KEY}}|{{secrets.HARDENING_TEST_PLAIN}}";
    let job = json!({"variables": {
        "authentication": {"type": "credentials", "accessKey": s3.settings.access_key_id, "secretKey": s3.settings.secret_access_key.as_ref().map(|s| s.expose().to_string())},
        "configuration": {"region": "us-east-1", "endpoint": s3.settings.endpoint},
        "actionDiscriminator": "uploadObject",
        "action": {"bucket": "leak", "key": "leak.txt", "document": {"camunda.document.type": "inline", "content": content, "name": "leak.txt"}}
    }});
    let (status, outcome) = post_json(&client(), &format!("{}/v1/jobs", svc.base), job).await;
    assert_eq!(status, 200);
    assert_eq!(outcome["outcome"], "complete", "{outcome}");
    let stored = s3
        .conn
        .client()
        .get_object()
        .bucket("leak")
        .key("leak.txt")
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    let text = String::from_utf8_lossy(&stored);
    assert_eq!(
        text,
        "{{secrets.S3_CONNECTOR_TOKEN}}|{{secrets.HARDENING_TEST_TOKEN_COPY}}|{{secrets.AWS_SECRET_ACCESS_KEY}}|ordinary-value"
    );
    assert!(!text.contains(TOKEN));
}

/// SIGTERM (here: the shutdown signal) with an upload still running past the grace period:
/// the request is dropped, its multipart upload is aborted before `serve` returns, and no
/// object appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_past_the_grace_aborts_the_upload_in_flight() {
    let s3 = s3().await;
    s3.create_bucket("stop").await;
    let limits = Limits {
        shutdown_grace: Duration::from_millis(300),
        ..Limits::default()
    };
    let mut svc = serve(s3.conn.clone(), Arc::new(MemoryStore::new()), limits, true, vec![]).await;
    // 9 MiB at once (a multipart upload starts with its first 8 MiB part), then a trickle that
    // outlasts the grace.
    let chunks = futures::stream::unfold(0u64, |i| async move {
        match i {
            0 => Some((Ok::<_, std::io::Error>(bytes(9 * MIB, 1)), 1)),
            n if n < 100 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Some((Ok(bytes(1024, n)), n + 1))
            }
            _ => None,
        }
    });
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    let upload = tokio::spawn(
        put_streamed(&c, &url, "stop", "long")
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s3.unfinished_uploads().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the multipart upload never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let serving = svc.shutdown();
    serving.await.expect("task").expect("stopped");
    assert!(
        s3.unfinished_uploads().is_empty(),
        "the upload was not aborted before serve returned"
    );
    let _ = upload.await;
    s3.assert_nothing_left("stop", "long").await;
}

/// The grace ends while a request still waits for a slot (the only one is held by a download
/// whose client reads slowly): the waiting upload is answered 503 before `serve` returns and
/// never starts, so no upload runs on in a process that is about to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_waiting_for_a_slot_at_shutdown_is_stopped_too() {
    let s3 = s3().await;
    s3.create_bucket("slot").await;
    s3.conn
        .client()
        .put_object()
        .bucket("slot")
        .key("big.bin")
        .body(bytes(32 * MIB, 4).into())
        .send()
        .await
        .expect("put");
    let limits = Limits {
        shutdown_grace: Duration::from_millis(300),
        max_concurrent: 1,
        ..Limits::default()
    };
    let mut svc = serve(s3.conn.clone(), Arc::new(MemoryStore::new()), limits, true, vec![]).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    // Holds the one slot until its last byte is read, which it is not, yet.
    let download = c
        .post(&url)
        .json(&json!({"action": "getObject", "bucket": "slot", "key": "big.bin"}))
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    let upload = tokio::spawn(put_streamed(&c, &url, "slot", "waiting").body(bytes(MIB, 5)).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!upload.is_finished(), "the upload should be waiting for the slot");
    svc.shutdown().await.expect("task").expect("stopped");
    // The slot frees only now, after serve returned.
    let _ = download.bytes().await;
    let answer = tokio::time::timeout(Duration::from_secs(30), upload)
        .await
        .expect("the waiting upload got no answer")
        .expect("task")
        .expect("an answer");
    assert_eq!(answer.status(), 503, "{:?}", answer.text().await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    s3.assert_nothing_left("slot", "waiting").await;
}

/// A body whose declared length is over the upload limit is refused at once, even while every
/// slot is taken: it neither queues behind running transfers nor takes a slot of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declared_body_over_the_limit_is_refused_without_waiting_for_a_slot() {
    let s3 = s3().await;
    s3.create_bucket("full").await;
    s3.conn
        .client()
        .put_object()
        .bucket("full")
        .key("big.bin")
        .body(bytes(32 * MIB, 6).into())
        .send()
        .await
        .expect("put");
    let limits = Limits {
        max_concurrent: 1,
        max_upload_bytes: 4 * MIB as u64,
        ..Limits::default()
    };
    let svc = serve(s3.conn.clone(), Arc::new(MemoryStore::new()), limits, true, vec![]).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    // Holds the one slot until its last byte is read.
    let download = c
        .post(&url)
        .json(&json!({"action": "getObject", "bucket": "full", "key": "big.bin"}))
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        put_streamed(&c, &url, "full", "too-big").body(bytes(5 * MIB, 7)).send(),
    )
    .await
    .expect("the refusal waited for the slot");
    // The answer comes while the client still sends; the connection then closes, so the
    // client may see the reset before it reads the 413. Either way it was not kept waiting.
    if let Ok(answer) = refused {
        assert_eq!(answer.status(), 413);
    }
    drop(download);
    s3.assert_nothing_left("full", "too-big").await;
}
