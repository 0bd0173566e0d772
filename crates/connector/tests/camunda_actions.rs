//! Camunda's three operations, from job variables to results, against the embedded S3 store
//! over HTTP. Camunda's own example variables are used as given, with only the endpoint and
//! credentials pointed at the test store (through `configuration.endpoint`, which we honour).

mod support;

use s3_connector::camunda::CamundaInput;
use s3_connector::documents::external::{ExternalFetch, IpNet};
use s3_connector::documents::{DocumentMetadata, DocumentReference, DocumentStore, MemoryStore};
use s3_connector::net::AddressGuard;
use s3_connector::{Connector, ErrorCode};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

struct World {
    t: support::Target,
    store: MemoryStore,
    external: ExternalFetch,
    bucket: String,
}

impl World {
    async fn new() -> World {
        let t = support::embedded().await;
        let bucket = "connector-aws-s3-test".to_string();
        support::act(&t.conn, json!({"action": "createBucket", "bucket": bucket}))
            .await
            .expect("bucket");
        World {
            t,
            store: MemoryStore::new(),
            external: ExternalFetch::default(),
            bucket,
        }
    }

    /// Points job variables at the test store: endpoint and the store's keys.
    fn aim(&self, mut vars: Value) -> Value {
        vars["configuration"]["endpoint"] = json!(self.t.settings.endpoint.clone());
        let key = self.t.settings.access_key_id.clone();
        let secret = self
            .t
            .settings
            .secret_access_key
            .as_ref()
            .map(|s| s.expose().to_string());
        if vars.get("awsCredential").is_some() {
            vars["awsCredential"]["authentication"] =
                json!({"type": "credentials", "accessKey": key, "secretKey": secret});
        } else {
            vars["authentication"] = json!({"type": "credentials", "accessKey": key, "secretKey": secret});
        }
        vars
    }

    async fn run(&self, vars: Value) -> Result<Value, s3_connector::Error> {
        let input = CamundaInput::from_variables(&self.aim(vars))?;
        let conn = Connector::connect(input.connection).await?;
        input.operation.execute(&conn, &self.store, &self.external).await
    }

    async fn put(&self, key: &str, content_type: &str, body: &[u8]) {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("body");
        std::fs::write(&f, body).expect("write");
        support::act(
            &self.t.conn,
            json!({"action": "putObject", "bucket": self.bucket, "key": key, "file": f, "contentType": content_type}),
        )
        .await
        .expect("put");
    }

    async fn get(&self, key: &str) -> (Vec<u8>, Value) {
        let sink = support::SharedBuf::default();
        let streams = s3_connector::Streams {
            output: Some(Box::new(sink.clone())),
            ..Default::default()
        };
        let r = support::act_with(
            &self.t.conn,
            json!({"action": "getObject", "bucket": self.bucket, "key": key}),
            streams,
        )
        .await
        .expect("get");
        (sink.bytes(), r)
    }
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/camunda")
        .join(name);
    serde_json::from_str::<Value>(&std::fs::read_to_string(path).expect("fixture")).expect("json")[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_object_with_camundas_example_variables() {
    let w = World::new().await;
    let content = vec![b'a'; 41730];
    let created = w
        .store
        .create(
            Box::new(std::io::Cursor::new(content.clone())),
            DocumentMetadata {
                content_type: Some("text/plain".into()),
                file_name: Some("test.txt".into()),
                ..Default::default()
            },
        )
        .await
        .expect("document");
    let mut vars = fixture("uploadActionsExample.json");
    vars["action"]["document"]["documentId"] = json!(created.document_id);
    let result = w.run(vars.clone()).await.expect("upload");
    let endpoint = w.t.settings.endpoint.clone().unwrap_or_default();
    assert_eq!(
        result,
        json!({"bucket": "connector-aws-s3-test", "key": "attachment", "link": format!("{endpoint}/connector-aws-s3-test/attachment")})
    );
    let (bytes, head) = w.get("attachment").await;
    assert_eq!(bytes, content);
    assert_eq!(head["contentType"], "text/plain");

    // Without a key, the document's file name is the key, and the result says so.
    vars["action"].as_object_mut().expect("action").remove("key");
    let result = w.run(vars.clone()).await.expect("upload by file name");
    assert_eq!(result["key"], "test.txt");
    assert_eq!(result["link"], format!("{endpoint}/connector-aws-s3-test/test.txt"));
    // As a one-element array (Camunda's document pickers produce that).
    vars["action"]["document"] = json!([vars["action"]["document"].clone()]);
    vars["action"]["key"] = json!("array/with space+plus.txt");
    let result = w.run(vars.clone()).await.expect("upload from array");
    assert_eq!(
        result["link"],
        format!("{endpoint}/connector-aws-s3-test/array/with%20space%2Bplus.txt")
    );
    // A reference with another hash is refused, and nothing is written.
    vars["action"]["document"][0]["contentHash"] = json!("0".repeat(64));
    vars["action"]["key"] = json!("never");
    assert_eq!(
        w.run(vars).await.err().map(|e| e.code),
        Some(ErrorCode::PreconditionFailed)
    );
    assert_eq!(
        support::act(
            &w.t.conn,
            json!({"action": "headObject", "bucket": w.bucket, "key": "never"})
        )
        .await
        .err()
        .map(|e| e.code),
        Some(ErrorCode::NoSuchKey)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_inline_documents_of_template_v3_and_later() {
    let w = World::new().await;
    let base = json!({"actionDiscriminator": "uploadObject", "configuration": {"region": "eu-central-1"},
        "action": {"bucket": "connector-aws-s3-test", "document": null}});
    let mut vars = base.clone();
    vars["action"]["document"] = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/camunda/docref-inline-input-adr0005.json"),
        )
        .expect("fixture"),
    )
    .expect("json");
    let result = w.run(vars).await.expect("inline upload");
    assert_eq!(result["key"], "report.json");
    let (bytes, head) = w.get("report.json").await;
    assert_eq!(bytes, br#"{"name":"Jane","age":30}"#);
    assert_eq!(head["contentType"], "application/json");
    // v6 with awsCredential, inline text without a type: guessed from the name.
    let mut vars = base.clone();
    vars["awsCredential"] = json!({"authentication": {}, "region": "eu-central-1"});
    vars["action"]["key"] = json!("notes/hello.txt");
    vars["action"]["document"] = json!({"camunda.document.type": "inline", "content": "hello", "name": "x.txt"});
    assert_eq!(w.run(vars).await.expect("v6 inline")["key"], "notes/hello.txt");
    assert_eq!(w.get("notes/hello.txt").await.1["contentType"], "text/plain");
    // The v6 template's null document: a clear validation error, nothing sent.
    let err = w.run(base).await.expect_err("null document");
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(
        err.message
            .contains("action.document: Validation failed. Original message: must not be null"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_object_in_every_format() {
    let w = World::new().await;
    w.put("attachment", "text/plain", "héllo".as_bytes()).await;
    w.put("data.json", "application/json", br#"{"total": 42, "items": [1, 2]}"#)
        .await;
    w.put(
        "latin1.txt",
        "text/plain; charset=ISO-8859-1",
        &[0x63, 0x61, 0x66, 0xe9],
    )
    .await;
    w.put("utf8.txt", "text/plain; charset=utf-8", "ünïcode".as_bytes())
        .await;
    w.put("pixel.png", "image/png", &[0x89, b'P', b'N', b'G']).await;
    w.put("broken.json", "application/json", b"{not json").await;

    // v1/v2: Camunda's example, asFile false: by content type.
    let vars = fixture("downloadActionsExample.json");
    let r = w.run(vars.clone()).await.expect("download");
    assert_eq!(
        r,
        json!({"bucket": "connector-aws-s3-test", "key": "attachment", "element": {"content": "héllo"}})
    );
    let legacy = |key: &str| {
        let mut v = vars.clone();
        v["action"]["key"] = json!(key);
        v
    };
    assert_eq!(
        w.run(legacy("data.json")).await.expect("json")["element"]["content"],
        json!({"total": 42, "items": [1, 2]})
    );
    assert_eq!(
        w.run(legacy("latin1.txt")).await.expect("latin1")["element"]["content"],
        "café"
    );
    assert_eq!(
        w.run(legacy("utf8.txt")).await.expect("charset param")["element"]["content"],
        "ünïcode"
    );
    assert_eq!(
        w.run(legacy("pixel.png")).await.expect("binary")["element"]["content"],
        "iVBORw=="
    );

    // asFile true (v1/v2) and DOCUMENT (v5+): a reference into the store, named by the full key.
    let mut as_file = legacy("data.json");
    as_file["action"]["asFile"] = json!(true);
    let r = w.run(as_file).await.expect("asFile");
    let doc = DocumentReference::from_value("element.document", &r["element"]["document"]).expect("reference");
    let DocumentReference::Camunda(reference) = doc else {
        panic!("{r}")
    };
    assert_eq!(reference.metadata.file_name.as_deref(), Some("data.json"));
    assert_eq!(reference.metadata.content_type.as_deref(), Some("application/json"));
    let (_, mut reader) = w.store.open(&reference).await.expect("open");
    let mut back = Vec::new();
    reader.read_to_end(&mut back).await.expect("read");
    assert_eq!(back, br#"{"total": 42, "items": [1, 2]}"#);

    // v5+: documentReturnFormat wins over asFile.
    let v5 = |key: &str, choice: Value| {
        let mut v = legacy(key);
        v["action"]["asFile"] = json!(true);
        v["documentReturnFormat"] = choice;
        v
    };
    let r = w
        .run(v5("latin1.txt", json!({"choice": "TEXT", "encoding": "ISO-8859-1"})))
        .await
        .expect("text");
    assert_eq!(r["element"]["content"], "café");
    let r = w.run(v5("data.json", json!({"choice": "JSON"}))).await.expect("JSON");
    assert_eq!(r["element"]["content"]["total"], 42);
    let err = w
        .run(v5("broken.json", json!({"choice": "JSON"})))
        .await
        .expect_err("invalid JSON");
    assert!(
        err.message
            .starts_with("JSON response format selected but payload is not valid JSON: "),
        "{}",
        err.message
    );
    let err = w
        .run(v5("attachment", json!({"choice": "TEXT", "encoding": "klingon-8"})))
        .await
        .expect_err("charset");
    assert_eq!(err.code, ErrorCode::InvalidInput);

    // 1.5 MiB is the most an inline result holds; one byte more is an input error that says what to do.
    w.put("limit.txt", "text/plain", &vec![b'x'; 1_572_864]).await;
    w.put("over.txt", "text/plain", &vec![b'x'; 1_572_865]).await;
    let r = w
        .run(v5("limit.txt", json!({"choice": "TEXT"})))
        .await
        .expect("exactly 1.5 MiB");
    assert_eq!(r["element"]["content"].as_str().map(str::len), Some(1_572_864));
    let err = w
        .run(v5("over.txt", json!({"choice": "TEXT"})))
        .await
        .expect_err("over");
    assert!(
        err.code == ErrorCode::InvalidInput && err.message.contains("DOCUMENT"),
        "{}",
        err.message
    );
    let err = w.run(legacy("over.txt")).await.expect_err("legacy over");
    assert!(
        err.code == ErrorCode::InvalidInput && err.message.contains("asFile"),
        "{}",
        err.message
    );

    let mut missing = legacy("no/such/key");
    missing["documentReturnFormat"] = json!({"choice": "DOCUMENT"});
    assert_eq!(w.run(missing).await.err().map(|e| e.code), Some(ErrorCode::NoSuchKey));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_object_with_camundas_example_variables() {
    let w = World::new().await;
    w.put("test", "text/plain", b"bye").await;
    let vars = fixture("deleteActionsExample.json");
    assert_eq!(
        w.run(vars.clone()).await.expect("delete"),
        json!({"bucket": "connector-aws-s3-test", "key": "test"})
    );
    // Deleting a missing key succeeds with the same result.
    assert_eq!(
        w.run(vars).await.expect("again"),
        json!({"bucket": "connector-aws-s3-test", "key": "test"})
    );
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for external documents; counts connections.
async fn document_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && sock.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let path = String::from_utf8_lossy(&head)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_string();
                let port = addr.port();
                let resp: Vec<u8> = match path.as_str() {
                    "/docs/invoice.pdf" => {
                        [&b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"[..], b"%PDF-fetched"].concat()
                    }
                    "/redirect" => format!("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:{port}/docs/invoice.pdf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
                    "/big" => [b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n".to_vec(), vec![b'b'; 2000]].concat(),
                    "/big-unsized" => [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec(), vec![b'u'; 2000]].concat(),
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_external_documents_with_an_ssrf_guard() {
    let mut w = World::new().await;
    let (addr, hits) = document_server().await;
    let upload = |url: String, key: Option<&str>| {
        let mut v = json!({"actionDiscriminator": "uploadObject", "configuration": {"region": "us-east-1"},
            "action": {"bucket": "connector-aws-s3-test", "document": {"camunda.document.type": "external", "url": url}}});
        if let Some(k) = key {
            v["action"]["key"] = json!(k);
        }
        v
    };
    let seen = || hits.load(std::sync::atomic::Ordering::SeqCst);

    // By default loopback, names resolving to it, and the metadata service are refused, before
    // any connection is made; the error names the setting to change.
    for url in [
        format!("http://{addr}/docs/invoice.pdf"),
        format!("http://localhost:{}/docs/invoice.pdf", addr.port()),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::ffff:127.0.0.1]:9/x".to_string(),
    ] {
        let err = w
            .run(upload(url.clone(), Some("x")))
            .await
            .expect_err("must be refused");
        assert_eq!(err.code, ErrorCode::InvalidInput, "{url}: {err}");
        assert!(
            err.message.contains(s3_connector::net::ALLOW_SETTING),
            "{url}: {}",
            err.message
        );
    }
    assert_eq!(seen(), 0, "a refused fetch must not connect");
    // Credentials in a URL never reach an error message.
    let with_password = format!("http://user:hunter2@{addr}/docs/invoice.pdf");
    let err = w
        .run(upload(with_password.clone(), Some("x")))
        .await
        .expect_err("refused");
    assert!(
        !err.message.contains("hunter2") && err.message.contains("refused"),
        "{}",
        err.message
    );
    let err = w
        .run(upload("ftp://example.com/x".into(), Some("x")))
        .await
        .expect_err("scheme");
    assert_eq!(err.code, ErrorCode::InvalidInput);

    // Allowed explicitly: fetched and uploaded, content type from the response, the key from the URL.
    w.external = ExternalFetch {
        guard: AddressGuard::new().allowing("127.0.0.1".parse::<IpNet>().expect("ip")),
        ..Default::default()
    };
    let r = w
        .run(upload(format!("http://{addr}/docs/invoice.pdf"), None))
        .await
        .expect("external upload");
    assert_eq!(r["key"], "invoice.pdf");
    let (bytes, head) = w.get("invoice.pdf").await;
    assert_eq!(bytes, b"%PDF-fetched");
    assert_eq!(head["contentType"], "application/pdf");
    // A redirect to an address that is not allowed is refused at the hop.
    let err = w
        .run(upload(format!("http://{addr}/redirect"), Some("redirected")))
        .await
        .expect_err("redirect");
    assert!(err.message.contains("127.0.0.2"), "{}", err.message);
    // Missing documents, and documents over the size limit, with or without a length.
    let err = w
        .run(upload(format!("http://{addr}/missing"), Some("m")))
        .await
        .expect_err("404");
    assert_eq!(err.code, ErrorCode::NoSuchKey);
    let err = w
        .run(upload(format!("http://user:hunter2@{addr}/missing"), Some("m")))
        .await
        .expect_err("404");
    assert!(!err.message.contains("hunter2"), "{}", err.message);
    let dead = format!("http://user:hunter2@127.0.0.1:{}/x", closed_port());
    let err = w.run(upload(dead, Some("m"))).await.expect_err("no server");
    assert_eq!(err.code, ErrorCode::Network, "{err}");
    assert!(!err.message.contains("hunter2"), "{}", err.message);
    w.external.max_bytes = 1000;
    for path in ["big", "big-unsized"] {
        let err = w
            .run(upload(format!("http://{addr}/{path}"), Some(path)))
            .await
            .expect_err("too large");
        assert!(err.message.contains("1000-byte limit"), "{path}: {}", err.message);
        // Sized or not, an oversize document is the caller's input, not a local I/O failure.
        assert_eq!(err.code, ErrorCode::InvalidInput, "{path}: {}", err.message);
        let head = support::act(
            &w.t.conn,
            json!({"action": "headObject", "bucket": w.bucket, "key": path}),
        )
        .await;
        assert_eq!(
            head.err().map(|e| e.code),
            Some(ErrorCode::NoSuchKey),
            "{path}: nothing may be written"
        );
    }
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}
