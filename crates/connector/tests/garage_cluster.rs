//! A real distributed store losing a node: three Garage processes on loopback, one layout,
//! `replication_factor = 3`. The connector talks to node 1; node 3 is stopped in the middle of 20
//! uploads and 20 downloads of 20 MiB, and started again later. Every transfer completes (at most
//! two may fail, with a typed, retryable error, leaving nothing behind); the bytes are identical; once
//! node 3 is back every object is there and whole.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use s3_connector::{Connector, ErrorCode, TimeoutSettings};
use serde_json::json;
use support::{act, free_port, garage_cmd, garage_key, garage_node_id, pseudo_random, wait_for_port, ChildGuard};

const MIB: usize = 1024 * 1024;

struct Node {
    config: PathBuf,
    s3_port: u16,
    rpc_port: u16,
    log: PathBuf,
    process: Option<ChildGuard>,
}

impl Node {
    fn start(&mut self, bin: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("garage log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start garage");
        self.process = Some(ChildGuard(child));
    }

    fn stop(&mut self) {
        // Dropping the guard kills the process and waits for it: a node that is simply gone.
        self.process = None;
    }
}

/// Three nodes, connected, with one layout over all three; returns them and the key for node 1.
async fn cluster(bin: &Path, dir: &Path) -> (Vec<Node>, String, String) {
    let secret: String = (0..32).map(|i| format!("{:02x}", (i * 53 + 7) % 256)).collect();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|n| {
            let (s3_port, rpc_port) = (free_port(), free_port());
            let root = dir.join(format!("node{n}"));
            std::fs::create_dir_all(&root).expect("node dir");
            let config = root.join("garage.toml");
            std::fs::write(
                &config,
                format!(
                    "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 3\n\
                     rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\nrpc_public_addr = \"127.0.0.1:{rpc_port}\"\nrpc_secret = \"{secret}\"\n\
                     [s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\nroot_domain = \".s3.garage.localhost\"\n",
                    d = root.display()
                ),
            )
            .expect("config");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600));
            }
            Node {
                config,
                s3_port,
                rpc_port,
                log: root.join("server.log"),
                process: None,
            }
        })
        .collect();
    for node in nodes.iter_mut() {
        node.start(bin);
    }
    for node in &nodes {
        wait_for_port(node.rpc_port, "garage rpc").await;
    }
    let mut ids = Vec::new();
    for node in &nodes {
        ids.push(garage_node_id(bin, &node.config).await);
    }
    for id in &ids[1..] {
        garage_cmd(bin, &nodes[0].config, &["node", "connect", id]);
    }
    for (i, id) in ids.iter().enumerate() {
        let short = id.split('@').next().unwrap_or_default();
        garage_cmd(
            bin,
            &nodes[0].config,
            &["layout", "assign", "-z", &format!("dc{}", i + 1), "-c", "1G", short],
        );
    }
    garage_cmd(bin, &nodes[0].config, &["layout", "apply", "--version", "1"]);
    let (key, secret_key) = garage_key(bin, &nodes[0].config, "cluster");
    for node in &nodes {
        wait_for_port(node.s3_port, "garage s3 api").await;
    }
    (nodes, key, secret_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_node_garage_loses_a_node_mid_transfer_and_nothing_is_lost() {
    let Some(bin) = support::find_binary("GARAGE_BIN", "garage", "garage") else {
        support::absent("garage", "it is not installed (cargo install garage@2.5.0 --locked)");
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut nodes, key, secret) = cluster(&bin, dir.path()).await;
    let mut settings = support::settings(format!("http://127.0.0.1:{}", nodes[0].s3_port), &key, &secret);
    settings.max_attempts = Some(5);
    settings.timeouts = Some(TimeoutSettings {
        attempt: Some(Duration::from_secs(20)),
        stall: Some(Duration::from_secs(20)),
        ..Default::default()
    });
    let conn = Connector::connect(settings).await.expect("connect");
    // The layout takes a moment to settle.
    let deadline = Instant::now() + Duration::from_secs(60);
    while act(&conn, json!({"action": "createBucket", "bucket": "cluster"}))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "garage cluster not ready after 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let data = pseudo_random(20 * MIB, 33);
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &data).expect("write");
    // Ten objects exist before the node goes, for the downloads.
    for i in 0..10 {
        act(
            &conn,
            json!({"action": "putObject", "bucket": "cluster", "key": format!("before/{i}"), "file": src}),
        )
        .await
        .expect("put before the fault");
    }
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).expect("mkdir");

    // 20 uploads and 20 downloads, 4 at a time; node 3 is stopped after the first few finish.
    let finished = Arc::new(AtomicUsize::new(0));
    let work = futures::stream::iter(0..40)
        .map(|i| {
            let (conn, src, downloads, finished) = (conn.clone(), src.clone(), downloads.clone(), finished.clone());
            async move {
                let outcome = if i % 2 == 0 {
                    let key = format!("during/{i}");
                    act(&conn, json!({"action": "putObject", "bucket": "cluster", "key": key, "file": src}))
                        .await
                        .map(|_| ())
                } else {
                    let target = downloads.join(format!("{i}.bin"));
                    act(
                        &conn,
                        json!({"action": "getObject", "bucket": "cluster", "key": format!("before/{}", i % 10), "file": target}),
                    )
                    .await
                    .map(|_| ())
                };
                finished.fetch_add(1, Ordering::SeqCst);
                (i, outcome)
            }
        })
        .buffer_unordered(4);
    tokio::pin!(work);
    let mut outcomes = Vec::new();
    let mut stopped_at = None;
    while let Some(done) = work.next().await {
        outcomes.push(done);
        if stopped_at.is_none() && finished.load(Ordering::SeqCst) >= 6 {
            nodes[2].stop();
            stopped_at = Some(Instant::now());
            eprintln!("node 3 stopped after {} transfers", outcomes.len());
        }
    }
    let while_down = stopped_at.map(|t| t.elapsed()).unwrap_or_default();

    let mut failed = Vec::new();
    for (i, outcome) in &outcomes {
        if let Err(e) = outcome {
            assert!(e.retryable(), "transfer {i} failed with a non-retryable error: {e}");
            assert!(
                matches!(
                    e.code,
                    ErrorCode::Network | ErrorCode::Timeout | ErrorCode::ServiceError | ErrorCode::Throttled
                ),
                "transfer {i}: {e}"
            );
            failed.push(format!("{i}: {e}"));
        }
    }
    eprintln!(
        "while node 3 was down ({while_down:?}): {} of 40 transfers failed: {failed:?}",
        failed.len()
    );
    // With one node of three gone the cluster keeps its quorum, so retries and resumes should
    // carry every transfer; a couple may still exhaust them while node 1 notices the loss.
    // More than that means the connector is not riding out the failure.
    assert!(
        failed.len() <= 2,
        "{} of 40 transfers failed while one node of three was down: {failed:?}",
        failed.len()
    );
    for (i, outcome) in &outcomes {
        if i % 2 == 1 && outcome.is_ok() {
            let got = std::fs::read(downloads.join(format!("{i}.bin"))).expect("download");
            assert!(got == data, "download {i} differs");
        }
    }
    let leftovers: Vec<String> = std::fs::read_dir(&downloads)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Node 3 comes back; every upload that succeeded is there, whole, and nothing is half-done.
    nodes[2].start(&bin);
    wait_for_port(nodes[2].s3_port, "garage node 3 again").await;
    let uploads = act(&conn, json!({"action": "listMultipartUploads", "bucket": "cluster"}))
        .await
        .expect("list uploads");
    assert_eq!(uploads["uploads"], json!([]), "open uploads left: {uploads}");
    for (i, outcome) in &outcomes {
        let key = format!("during/{i}");
        if i % 2 == 1 {
            continue;
        }
        let head = act(&conn, json!({"action": "headObject", "bucket": "cluster", "key": key})).await;
        match outcome {
            Ok(()) => {
                let back = dir.path().join("check.bin");
                act(
                    &conn,
                    json!({"action": "getObject", "bucket": "cluster", "key": key, "file": back}),
                )
                .await
                .unwrap_or_else(|e| panic!("{key} was uploaded but cannot be read back: {e}"));
                assert!(std::fs::read(&back).expect("read") == data, "{key} differs");
            }
            Err(_) => assert!(
                head.is_err() || head.as_ref().is_ok_and(|h| h["size"] == 20 * MIB),
                "a failed upload left a partial object: {head:?}"
            ),
        }
    }
    // Node 3 catches up: read an object through it directly.
    let mut via_node3 = conn.settings().clone();
    via_node3.endpoint = Some(format!("http://127.0.0.1:{}", nodes[2].s3_port));
    let node3 = Connector::connect(via_node3).await.expect("connect node 3");
    let back = dir.path().join("node3.bin");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = act(
            &node3,
            json!({"action": "getObject", "bucket": "cluster", "key": "before/0", "file": back}),
        )
        .await;
        if got.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 3 does not serve the objects again: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(std::fs::read(&back).expect("read") == data);
    // With two of three nodes gone there is no write quorum: a put fails with a typed,
    // retryable error, and nothing is left; once they are back, it goes through.
    nodes[1].stop();
    nodes[2].stop();
    let mut short = conn.settings().clone();
    short.max_attempts = Some(2);
    short.timeouts = Some(TimeoutSettings {
        attempt: Some(Duration::from_secs(5)),
        stall: Some(Duration::from_secs(5)),
        ..Default::default()
    });
    let short = Connector::connect(short).await.expect("connect");
    let t0 = Instant::now();
    let err = act(
        &short,
        json!({"action": "putObject", "bucket": "cluster", "key": "no-quorum", "content": "x"}),
    )
    .await
    .expect_err("no quorum");
    eprintln!("with two nodes gone, after {:?}: {err}", t0.elapsed());
    assert!(err.retryable(), "{err}");
    nodes[1].start(&bin);
    nodes[2].start(&bin);
    wait_for_port(nodes[1].s3_port, "garage node 2 again").await;
    wait_for_port(nodes[2].s3_port, "garage node 3 again").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while act(
        &conn,
        json!({"action": "putObject", "bucket": "cluster", "key": "no-quorum", "content": "x"}),
    )
    .await
    .is_err()
    {
        assert!(Instant::now() < deadline, "writes did not come back with the nodes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What node 1 said about the lost node, for docs/stores.md.
    let log = std::fs::read_to_string(&nodes[0].log).unwrap_or_default();
    for line in log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .take(12)
    {
        eprintln!("node 1: {line}");
    }
    eprintln!("the whole test took {:?}", started.elapsed());
}
