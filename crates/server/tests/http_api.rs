//! The HTTP API over a real socket, against the embedded S3 store: authentication, every
//! way to send an action, streamed uploads and downloads, jobs, Camunda's document API,
//! errors, limits, probes, metrics, OpenAPI and graceful shutdown.

mod support;

use std::sync::Arc;
use std::time::Duration;

use s3_connector::documents::MemoryStore;
use s3_connector_server::Limits;
use serde_json::{json, Value};
use support::{bytes, client, post_json, put_streamed, s3, serve, serve_plain, TOKEN};

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn requests_need_the_token_and_probes_do_not() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let anonymous = reqwest::Client::new();
    let url = format!("{}/v1/actions", svc.base);
    let resp = anonymous
        .post(&url)
        .json(&json!({"action": "listBuckets"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body: Value = resp.json().await.expect("json");
    assert_error(&body, "Unauthorized");
    assert!(!body.to_string().contains(TOKEN));

    let wrong = anonymous
        .post(&url)
        .bearer_auth(format!("{TOKEN}x"))
        .json(&json!({"action": "listBuckets"}))
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
    for path in ["/metrics", "/v1/jobs", "/v2/documents"] {
        let r = anonymous
            .post(format!("{}{path}", svc.base))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401, "{path}");
    }
    for path in ["/health", "/ready", "/openapi.json"] {
        let r = anonymous.get(format!("{}{path}", svc.base)).send().await.expect("send");
        assert_eq!(r.status(), 200, "{path}");
    }
    let (status, _) = post_json(&client(), &url, json!({"action": "listBuckets"})).await;
    assert_eq!(status, 200);
}

#[test]
fn binding_beyond_loopback_needs_a_token() {
    let lan: std::net::SocketAddr = "0.0.0.0:8080".parse().expect("addr");
    let local: std::net::SocketAddr = "127.0.0.1:8080".parse().expect("addr");
    assert!(s3_connector_server::check_bind(&lan, false).is_err());
    assert!(s3_connector_server::check_bind(&lan, true).is_ok());
    assert!(s3_connector_server::check_bind(&local, false).is_ok());
}

#[tokio::test]
async fn actions_stream_both_ways() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    let (status, body) = post_json(&c, &url, json!({"action": "createBucket", "bucket": "reports"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bucket"], "reports");

    // Inline content in a JSON body.
    let (status, body) = post_json(
        &c,
        &url,
        json!({"action": "putObject", "bucket": "reports", "key": "a.txt", "content": "hello"}),
    )
    .await;
    assert_eq!((status, body["size"].as_u64()), (200, Some(5)), "{body}");

    // A 20 MiB body streamed with the request in a header: multipart upload to S3.
    let big = bytes(20 * 1024 * 1024 + 17, 7);
    // The key's ü travels escaped, as a header must be ASCII.
    let resp = put_streamed(&c, &url, "reports", "big/ü.bin")
        .header("content-type", "application/x-custom")
        .body(big.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let put: Value = resp.json().await.expect("json");
    assert_eq!(put["size"].as_u64(), Some(big.len() as u64), "{put}");
    assert!(put["parts"].as_u64().unwrap_or(0) > 1, "a multipart upload: {put}");
    assert_eq!(put["contentType"], "application/x-custom");

    // Read back: the bytes as the body, the result in a header.
    let resp = c
        .post(&url)
        .json(&json!({"action": "getObject", "bucket": "reports", "key": "big/ü.bin"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-custom");
    assert_eq!(resp.headers()["content-length"], big.len().to_string().as_str());
    let result: Value =
        serde_json::from_str(resp.headers()["s3-connector-result"].to_str().expect("ascii")).expect("result JSON");
    assert_eq!(result["key"], "big/ü.bin");
    assert_eq!(result["size"].as_u64(), Some(big.len() as u64));
    let got = resp.bytes().await.expect("body");
    assert!(got[..] == big[..], "the bytes read back differ");

    // A ranged read.
    let resp = c
        .post(&url)
        .json(&json!({"action": "getObject", "bucket": "reports", "key": "big/ü.bin", "range": "bytes=10-19"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.bytes().await.expect("body")[..], big[10..20]);

    // A multipart form: request, then content.
    let form = reqwest::multipart::Form::new()
        .text(
            "request",
            json!({"action": "putObject", "bucket": "reports", "key": "form.csv"}).to_string(),
        )
        .part(
            "content",
            reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec())
                .file_name("x.csv")
                .mime_str("text/csv")
                .expect("mime"),
        );
    let resp = c.post(&url).multipart(form).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let put: Value = resp.json().await.expect("json");
    assert_eq!(
        (put["size"].as_u64(), &put["contentType"]),
        (Some(8), &json!("text/csv"))
    );

    // The other actions answer JSON, exactly as exec prints it.
    let (status, listed) = post_json(&c, &url, json!({"action": "listObjects", "bucket": "reports"})).await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(keys, ["a.txt", "big/ü.bin", "form.csv"]);
}

#[tokio::test]
async fn errors_have_a_code_a_status_and_a_request_id() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    post_json(&c, &url, json!({"action": "createBucket", "bucket": "reports"})).await;
    let cases = [
        (
            json!({"action": "getObject", "bucket": "reports", "key": "nope"}),
            404,
            "NoSuchKey",
        ),
        (
            json!({"action": "headObject", "bucket": "missing-bucket", "key": "k"}),
            404,
            "NoSuchBucket",
        ),
        (json!({"action": "fly", "bucket": "reports"}), 400, "InvalidInput"),
        (
            json!({"action": "headObject", "bucket": "reports"}),
            400,
            "InvalidInput",
        ),
        (
            json!({"action": "createBucket", "bucket": "reports"}),
            409,
            "BucketAlreadyExists",
        ),
        // Paths on the service's machine are not the caller's to read or write.
        (
            json!({"action": "getObject", "bucket": "reports", "key": "k", "file": "/etc/passwd"}),
            400,
            "InvalidInput",
        ),
        (
            json!({"action": "putObject", "bucket": "reports", "key": "k", "file": "/etc/passwd"}),
            400,
            "InvalidInput",
        ),
        (
            json!({"action": "putObject", "bucket": "reports", "key": "k"}),
            400,
            "InvalidInput",
        ),
    ];
    for (request, status, code) in cases {
        let (got, body) = post_json(&c, &url, request.clone()).await;
        assert_eq!(got, status, "{request} -> {body}");
        assert_error(&body, code);
    }
    let resp = c
        .post(&url)
        .header("x-request-id", "trace-42")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-request-id"], "trace-42");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["requestId"], "trace-42");

    let resp = c.get(&url).send().await.expect("send");
    assert_eq!(resp.status(), 405);
    assert_error(&resp.json().await.expect("json"), "MethodNotAllowed");
    let resp = c.get(format!("{}/v1/nothing", svc.base)).send().await.expect("send");
    assert_eq!(resp.status(), 404);
    assert_error(&resp.json().await.expect("json"), "NotFound");
    let resp = c
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body("abc")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn server_errors_keep_their_details_in_the_log() {
    // A service whose S3 endpoint does not answer: a closed port on loopback.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let settings = s3_connector::ConnectionSettings {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(s3_connector::Secret::new("wJalrXUtnFEMI/K7MDENG")),
        max_attempts: Some(1),
        ..Default::default()
    };
    let conn = s3_connector::Connector::connect(settings).await.expect("connect");
    let svc = serve(conn, Arc::new(MemoryStore::new()), Limits::default(), true, vec![]).await;
    let (status, body) = post_json(
        &client(),
        &format!("{}/v1/actions", svc.base),
        json!({"action": "listBuckets"}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "Network");
    let text = body.to_string();
    assert!(
        !text.contains(&port.to_string()),
        "the answer names the endpoint: {text}"
    );
    assert!(!text.contains("wJalr"), "{text}");
    let ready = reqwest::get(format!("{}/ready", svc.base)).await.expect("send");
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["checks"]["s3"], "Network", "{ready}");
    assert_eq!(ready["checks"]["documents"], "ok", "{ready}");
}

#[tokio::test]
async fn limits_refuse_large_bodies_and_leave_nothing_behind() {
    let s3 = s3().await;
    let limits = Limits {
        max_upload_bytes: 10 * 1024 * 1024,
        max_request_bytes: 1024,
        ..Limits::default()
    };
    let svc = serve(s3.conn.clone(), Arc::new(MemoryStore::new()), limits, true, vec![]).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    post_json(&c, &url, json!({"action": "createBucket", "bucket": "bkt"})).await;

    // A JSON body over the request limit.
    let (status, body) = post_json(
        &c,
        &url,
        json!({"action": "putObject", "bucket": "bkt", "key": "k", "content": "x".repeat(2000)}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "PayloadTooLarge");

    // A streamed body with no declared length, cut off past the upload limit mid-way through a
    // multipart upload: refused, and neither an object nor an unfinished upload is left.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|i| Ok(bytes(1024 * 1024, i))).collect();
    let resp = put_streamed(&c, &url, "bkt", "too-big")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("send");
    // The answer comes before the client has sent everything; the connection then closes,
    // so the client may or may not get to read the body.
    assert_eq!(resp.status(), 413);
    s3.assert_nothing_left("bkt", "too-big").await;

    // A declared length over the limit is refused before any byte is read.
    let resp = put_streamed(&c, &url, "bkt", "declared")
        .body(vec![0u8; 11 * 1024 * 1024])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
    // The body limit's own refusal gets our error body too (when the client gets to read it).
    if let Ok(text) = resp.text().await {
        assert!(text.is_empty() || text.contains("\"PayloadTooLarge\""), "{text}");
    }
    s3.assert_nothing_left("bkt", "declared").await;
}

#[tokio::test]
async fn a_client_that_breaks_off_an_upload_leaves_nothing_behind() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    post_json(&c, &url, json!({"action": "createBucket", "bucket": "bkt"})).await;
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..12).map(|i| Ok(bytes(1024 * 1024, i))).collect();
    chunks.push(Err(std::io::Error::other("the client gave up")));
    let sent = put_streamed(&c, &url, "bkt", "half")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The service may answer the broken body before the client notices its own error.
    assert!(
        sent.as_ref().map_or(true, |r| !r.status().is_success()),
        "a broken-off upload succeeded: {sent:?}"
    );
    // The service may still be reading, starting or aborting the upload when the client has
    // already given up: wait until the request is no longer in flight (the metrics request
    // itself is the only one) and the abort has landed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = c
            .get(format!("{}/metrics", svc.base))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        let idle = metrics.contains("s3_connector_http_in_flight_requests 1\n");
        if (idle && s3.unfinished_uploads().is_empty()) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s3.assert_nothing_left("bkt", "half").await;
}

#[tokio::test]
async fn jobs_end_as_the_job_command_reports_them() {
    let s3 = s3().await;
    s3.conn
        .client()
        .create_bucket()
        .bucket("jobs")
        .send()
        .await
        .expect("bucket");
    let documents = Arc::new(MemoryStore::new());
    let secret_key = s3.settings.secret_access_key.clone().expect("secret");
    let svc = serve(
        s3.conn.clone(),
        documents.clone(),
        Limits::default(),
        true,
        vec![("S3_SECRET", secret_key.expose().to_string())],
    )
    .await;
    let c = client();
    let url = format!("{}/v1/jobs", svc.base);
    let variables = |discriminator: &str, operation: Value| {
        json!({
            "authentication": {"type": "credentials", "accessKey": s3.settings.access_key_id, "secretKey": "{{secrets.S3_SECRET}}"},
            "configuration": {"region": "us-east-1", "endpoint": s3.settings.endpoint},
            "actionDiscriminator": discriminator,
            "action": operation,
        })
    };
    let upload = variables(
        "uploadObject",
        json!({
            "bucket": "jobs", "key": "hello.txt",
            "document": {"camunda.document.type": "inline", "content": "hi there", "name": "hello.txt"}
        }),
    );
    let (status, outcome) = post_json(
        &c,
        &url,
        json!({"variables": upload, "headers": {"resultVariable": "uploaded"}, "retries": 3}),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["outcome"], "complete", "{outcome}");
    assert_eq!(outcome["variables"]["uploaded"]["key"], "hello.txt", "{outcome}");
    assert!(!outcome.to_string().contains(secret_key.expose()));

    let download = variables("downloadObject", json!({"bucket": "jobs", "key": "missing.txt"}));
    let (status, outcome) = post_json(&c, &url, json!({"variables": download, "retries": 3})).await;
    assert_eq!(status, 200);
    assert_eq!(outcome["outcome"], "fail", "{outcome}");
    assert_eq!(outcome["retries"], 2, "{outcome}");
    assert_eq!(outcome["variables"]["error"]["code"], "NoSuchKey", "{outcome}");

    let (status, body) = post_json(&c, &url, json!({"variables": {}, "retries": -1})).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "InvalidInput");
    let (status, body) = post_json(&c, &url, json!({"variables": {}, "headers": {"retryBackoff": 5}})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_json(&c, &url, json!({"variable": {}})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn documents_api_round_trip() {
    let s3 = s3().await;
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(s3_connector::documents::LocalStore::open(dir.path()).expect("store"));
    let svc = serve(s3.conn.clone(), store, Limits::default(), true, vec![]).await;
    let c = client();
    let content = bytes(3 * 1024 * 1024 + 5, 11);
    let mut ids = Vec::new();
    // Metadata before the file (streamed straight to the store), and after it (spooled).
    for metadata_first in [true, false] {
        let metadata = json!({
            "contentType": "application/pdf",
            "customProperties": {"case": 42},
            "processDefinitionId": "invoice",
            "expiresAt": "2099-01-01T00:00:00Z"
        })
        .to_string();
        let file = reqwest::multipart::Part::bytes(content.clone())
            .file_name("Rechnung März.pdf")
            .mime_str("application/octet-stream")
            .expect("mime");
        let meta = reqwest::multipart::Part::text(metadata)
            .mime_str("application/json")
            .expect("mime");
        let form = match metadata_first {
            true => reqwest::multipart::Form::new()
                .part("metadata", meta)
                .part("file", file),
            false => reqwest::multipart::Form::new()
                .part("file", file)
                .part("metadata", meta),
        };
        let resp = c
            .post(format!("{}/v2/documents", svc.base))
            .multipart(form)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 201);
        let reference: Value = resp.json().await.expect("json");
        assert_eq!(reference["camunda.document.type"], "camunda");
        assert_eq!(reference["storeId"], "local");
        let m = &reference["metadata"];
        assert_eq!(m["contentType"], "application/pdf", "{reference}");
        assert_eq!(m["fileName"], "Rechnung März.pdf");
        assert_eq!(m["size"].as_u64(), Some(content.len() as u64));
        assert_eq!(m["customProperties"]["case"], 42);
        assert_eq!(m["processInstanceKey"], Value::Null);
        ids.push((
            reference["documentId"].as_str().expect("id").to_string(),
            reference["contentHash"].as_str().expect("hash").to_string(),
        ));
    }
    let (id, hash) = &ids[0];
    let resp = c
        .get(format!(
            "{}/v2/documents/{id}?storeId=local&contentHash={hash}",
            svc.base
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .contains("Rechnung"));
    assert!(resp.bytes().await.expect("body")[..] == content[..]);

    let stale = "0".repeat(64);
    let resp = c
        .get(format!("{}/v2/documents/{id}?contentHash={stale}", svc.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 412);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: Value = resp.json().await.expect("json");
    assert_eq!(problem["status"], 412);
    assert_eq!(problem["title"], "PreconditionFailed");
    assert_error(&problem, "PreconditionFailed");

    let resp = c
        .get(format!("{}/v2/documents/{id}?storeId=elsewhere", svc.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let resp = c
        .get(format!("{}/v2/documents/..%2Fetc", svc.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);

    for (id, _) in &ids {
        let resp = c
            .delete(format!("{}/v2/documents/{id}", svc.base))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 204);
        let resp = c
            .get(format!("{}/v2/documents/{id}", svc.base))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 404);
    }
    let resp = c
        .post(format!("{}/v2/documents", svc.base))
        .multipart(reqwest::multipart::Form::new().text("metadata", "{}"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400, "a form without a file");
}

#[tokio::test]
async fn metrics_and_openapi_describe_the_service() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    post_json(&c, &url, json!({"action": "listBuckets"})).await;
    post_json(&c, &url, json!({"action": "createBucket", "bucket": "counted"})).await;
    post_json(
        &c,
        &url,
        json!({"action": "getObject", "bucket": "counted", "key": "k"}),
    )
    .await;
    // Presigning sends nothing to the store, so it counts no S3 request.
    post_json(
        &c,
        &url,
        json!({"action": "presignUrl", "bucket": "counted", "key": "k"}),
    )
    .await;
    // A made-up method must not become a label value of its own.
    let odd = reqwest::Method::from_bytes(b"BREW").expect("a method");
    let _ = c.request(odd, &url).send().await.expect("send");
    let text = support::get_text(&c, &format!("{}/metrics", svc.base)).await;
    assert!(!text.contains("BREW"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(
        !text.contains("operation=\"GetObject\",status=\"error\""),
        "the presign was counted:\n{text}"
    );
    assert!(
        text.contains("s3_connector_http_requests_total{method=\"POST\",route=\"/v1/actions\",status=\"200\"} 3"),
        "{text}"
    );
    // The S3 side, counted by the connection's interceptor: one attempt each.
    for line in [
        "s3_connector_s3_requests_total{operation=\"ListBuckets\",status=\"200\"} 1",
        "s3_connector_s3_requests_total{operation=\"CreateBucket\",status=\"200\"} 1",
        "s3_connector_s3_requests_total{operation=\"GetObject\",status=\"404\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert!(
        text.contains(&format!(
            "s3_connector_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
    support::promtool_check(&text);
    assert!(
        text.contains("s3_connector_http_errors_total{code=\"NoSuchKey\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("s3_connector_actions_total{action=\"listBuckets\",outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("s3_connector_http_request_duration_seconds_count{route=\"/v1/actions\"} 5"),
        "{text}"
    );
    assert!(text.contains("s3_connector_http_bytes_in_total "), "{text}");

    let doc: Value = c
        .get(format!("{}/openapi.json", svc.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/actions",
        "/v1/jobs",
        "/v2/documents",
        "/v2/documents/{documentId}",
        "/ready",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    // Generated from the library's types: every action is in the request schema.
    let schemas = doc["components"]["schemas"].to_string();
    for action in s3_connector::ACTION_NAMES {
        assert!(
            schemas.contains(&format!("\"{action}\"")),
            "{action} missing from the schemas"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_an_upload_in_flight_finish() {
    let s3 = s3().await;
    s3.conn
        .client()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let mut svc = serve_plain(&s3).await;
    let c = client();
    let url = format!("{}/v1/actions", svc.base);
    // A slow body: 8 chunks, 150 ms apart.
    let chunks = futures::stream::unfold(0u64, |i| async move {
        if i == 8 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        Some((Ok::<_, std::io::Error>(bytes(256 * 1024, i)), i + 1))
    });
    let upload = tokio::spawn(
        put_streamed(&c, &url, "bkt", "slow")
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let serving = svc.shutdown();
    let resp = upload.await.expect("task").expect("the upload finished");
    assert_eq!(resp.status(), 200);
    serving.await.expect("task").expect("clean stop");
    let head = s3
        .conn
        .client()
        .head_object()
        .bucket("bkt")
        .key("slow")
        .send()
        .await
        .expect("stored");
    assert_eq!(head.content_length(), Some(8 * 256 * 1024));
    // Stopped: no new connections.
    assert!(reqwest::get(format!("{}/health", svc.base)).await.is_err());
}

#[tokio::test]
async fn two_services_share_an_s3_document_store() {
    let s3 = s3().await;
    s3.conn
        .client()
        .create_bucket()
        .bucket("shared-docs")
        .send()
        .await
        .expect("bucket");
    let store = || -> Arc<dyn s3_connector::documents::DocumentStore> {
        Arc::new(s3_connector::documents::S3Store::new(s3.conn.clone(), "shared-docs", "documents/").expect("store"))
    };
    let a = serve(s3.conn.clone(), store(), Limits::default(), true, vec![]).await;
    let b = serve(s3.conn.clone(), store(), Limits::default(), true, vec![]).await;
    let c = client();
    // 20 documents created concurrently, alternating between the two services.
    let creates = (0..20).map(|i| {
        let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
        let c = c.clone();
        async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes(100_000 + i, i as u64)).file_name(format!("d{i}.bin")),
            );
            let r: Value = c
                .post(format!("{base}/v2/documents"))
                .multipart(form)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            (i, r["documentId"].as_str().expect("id").to_string())
        }
    });
    let created = futures::future::join_all(creates).await;
    // Each is read back in full through the other service.
    for (i, id) in &created {
        let other = if i % 2 == 0 { &b.base } else { &a.base };
        let got = c
            .get(format!("{other}/v2/documents/{id}"))
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .expect("body");
        assert!(got[..] == bytes(100_000 + i, *i as u64)[..], "document {i} differs");
    }
    // Deleted through one service, gone for both.
    let (_, first) = &created[0];
    c.delete(format!("{}/v2/documents/{first}", b.base))
        .send()
        .await
        .expect("send");
    for base in [&a.base, &b.base] {
        let r = c
            .get(format!("{base}/v2/documents/{first}"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404);
    }
}

#[tokio::test]
async fn readiness_probes_do_not_each_call_the_store() {
    let s3 = s3().await;
    let svc = serve_plain(&s3).await;
    let c = client();
    for _ in 0..50 {
        let resp = c.get(format!("{}/ready", svc.base)).send().await.expect("send");
        assert_eq!(resp.status(), 200);
    }
    let ready: Value =
        serde_json::from_str(&support::get_text(&c, &format!("{}/ready", svc.base)).await).expect("json");
    assert_eq!(ready["checks"]["s3"], "ok", "{ready}");
    assert!(ready["checkedSecondsAgo"].is_u64(), "{ready}");
    let text = support::get_text(&c, &format!("{}/metrics", svc.base)).await;
    // 51 probes within the check interval: one ListBuckets.
    assert!(
        text.contains("s3_connector_s3_requests_total{operation=\"ListBuckets\",status=\"200\"} 1\n"),
        "{text}"
    );
}
