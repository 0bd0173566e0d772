//! `s3-connector serve` as a user starts it: no configuration, the embedded store under
//! --data, a token from the environment. Checks the token, the curl-style requests of the
//! README, and that a 1 GiB upload through POST /v1/actions keeps the process under 128 MiB.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "readme-token";

struct Service {
    child: Child,
    base: String,
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

async fn start() -> Service {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("S3_CONNECTOR_TOKEN", TOKEN)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let base = format!("http://127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Service { child, base, _dir: dir };
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
    let svc = start().await;
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
