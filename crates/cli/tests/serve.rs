//! `s3-connector serve` as a user starts it: no configuration, the embedded store under
//! --data, a token from the environment. Checks the token, the curl-style requests of the
//! README, and that a 1 GiB upload through POST /v1/actions keeps the process under 128 MiB.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "readme-token-0123456789";

struct Service {
    child: Child,
    base: String,
    /// Where the service's stderr (its log) goes.
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start(env: &[(&str, &str)], args: &[&str]) -> Service {
    start_with(env, args, &[]).await
}

/// [`start`], with `serve_args` after the subcommand.
async fn start_with(env: &[(&str, &str)], args: &[&str], serve_args: &[&str]) -> Service {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .args(args)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(serve_args)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .env("S3_CONNECTOR_TOKEN", TOKEN)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start serve");
    let base = format!("http://127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Service {
                child,
                base,
                log,
                _dir: dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not come up");
}

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .expect("VmHWM")
        / 1024
}

#[tokio::test]
async fn serve_needs_the_token_and_streams_a_gibibyte_in_flat_memory() {
    let svc = start(&[], &[]).await;
    let url = format!("{}/v1/actions", svc.base);
    let anonymous = reqwest::Client::new()
        .post(&url)
        .json(&json!({"action": "listBuckets"}))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), 401);

    let c = reqwest::Client::new();
    let send = |body: Value| c.post(&url).bearer_auth(TOKEN).json(&body).send();
    assert_eq!(
        send(json!({"action": "createBucket", "bucket": "big"}))
            .await
            .expect("send")
            .status(),
        200
    );

    const GIB: u64 = 1024 * 1024 * 1024;
    const CHUNK: usize = 1024 * 1024;
    let chunks = futures::stream::iter((0..GIB / CHUNK as u64).map(|i| {
        let mut chunk = vec![0u8; CHUNK];
        chunk[..8].copy_from_slice(&i.to_le_bytes());
        Ok::<_, std::io::Error>(chunk)
    }));
    let resp = c
        .post(&url)
        .bearer_auth(TOKEN)
        .header(
            "S3-Connector-Request",
            json!({"action": "putObject", "bucket": "big", "key": "one.gib"}).to_string(),
        )
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 200);
    let put: Value = resp.json().await.expect("json");
    assert_eq!(put["size"].as_u64(), Some(GIB), "{put}");
    let peak = peak_rss_mib(svc.child.id());
    eprintln!(
        "serve: peak RSS {peak} MiB after a 1 GiB upload ({} parts)",
        put["parts"]
    );
    assert!(peak < 128, "serve peaked at {peak} MiB during a 1 GiB upload");

    let head: Value = send(json!({"action": "headObject", "bucket": "big", "key": "one.gib"}))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(head["size"].as_u64(), Some(GIB), "{head}");
}

#[tokio::test]
async fn json_logs_name_requests_but_never_tokens_secrets_or_content() {
    const SECRET: &str = "v3ry-s3cret-value";
    const CONTENT: &str = "confidential-object-content";
    let svc = start(&[("SECRET_S3_SECRET_FOR_JOBS", SECRET)], &["--log-format", "json"]).await;
    let c = reqwest::Client::new();
    let url = format!("{}/v1/actions", svc.base);
    // A wrong token, then real work with content in the body and a secret in a job.
    let _ = c.post(&url).bearer_auth("guessed-token").body("{}").send().await;
    let ok = |r: reqwest::Response| assert!(r.status().is_success(), "{}", r.status());
    ok(c.post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"action": "createBucket", "bucket": "logs"}))
        .send()
        .await
        .expect("send"));
    ok(c.post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"action": "putObject", "bucket": "logs", "key": "k", "content": CONTENT}))
        .send()
        .await
        .expect("send"));
    let job = json!({"variables": {
        "authentication": {"type": "credentials", "accessKey": "AKIA", "secretKey": "{{secrets.S3_SECRET_FOR_JOBS}}"},
        "configuration": {"region": "us-east-1", "endpoint": "http://127.0.0.1:1"},
        "actionDiscriminator": "deleteObject",
        "action": {"bucket": "logs", "key": "k"}
    }});
    let outcome: Value = c
        .post(format!("{}/v1/jobs", svc.base))
        .bearer_auth(TOKEN)
        .json(&job)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(outcome["outcome"], "fail", "{outcome}");
    assert!(!outcome.to_string().contains(SECRET));
    let log = std::fs::read_to_string(&svc.log).expect("log");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.len() >= 4, "one JSON line per request: {log}");
    for line in &lines {
        let entry: Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(entry["level"].is_string(), "{line}");
    }
    assert!(log.contains("\"route\":\"/v1/jobs\""), "{log}");
    for needle in [TOKEN, "guessed-token", SECRET, CONTENT] {
        assert!(!log.contains(needle), "the log holds {needle:?}:\n{log}");
    }
}

/// A real SIGTERM to `serve` with an upload still streaming: the service drains for its grace,
/// aborts the upload, and exits 0. A second SIGTERM during the drain does not cut it short
/// (the service owns the signals while it serves); only the grace ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_serve_and_a_second_one_does_not_cut_the_drain_short() {
    let mut svc = start_with(&[], &[], &["--shutdown-grace", "2"]).await;
    let c = reqwest::Client::new();
    let url = format!("{}/v1/actions", svc.base);
    let created = c
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"action": "createBucket", "bucket": "draining"}))
        .send()
        .await
        .expect("send");
    assert!(created.status().is_success());
    // 9 MiB at once (a multipart upload starts with its first part), then a trickle.
    let chunks = futures::stream::unfold(0u64, |i| async move {
        match i {
            0 => Some((Ok::<_, std::io::Error>(vec![7u8; 9 * 1024 * 1024]), 1)),
            n if n < 200 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok(vec![8u8; 1024]), n + 1))
            }
            _ => None,
        }
    });
    let request = json!({"action": "putObject", "bucket": "draining", "key": "long"}).to_string();
    let upload = tokio::spawn(
        c.post(&url)
            .bearer_auth(TOKEN)
            .header("S3-Connector-Request", request)
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    );
    let uploads = svc._dir.path().join("s3-connector-data/s3/.s3-connector/uploads");
    let open = || std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    let until = Instant::now() + Duration::from_secs(20);
    while open() == 0 {
        assert!(Instant::now() < until, "the multipart upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let term = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill")
            .success())
    };
    let stopped = Instant::now();
    term(svc.child.id());
    tokio::time::sleep(Duration::from_millis(500)).await;
    term(svc.child.id());
    let status = loop {
        if let Some(status) = svc.child.try_wait().expect("poll") {
            break status;
        }
        assert!(stopped.elapsed() < Duration::from_secs(60), "serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(&svc.log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        stopped.elapsed() >= Duration::from_millis(1900),
        "the second signal cut the drain short: {log}"
    );
    assert_eq!(open(), 0, "the upload was not aborted: {log}");
    let _ = upload.await;
}
