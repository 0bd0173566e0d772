//! Faults are normal: transfers through a proxy that resets, stalls and truncates connections and
//! answers SlowDown or 200-with-an-error, and stores that never answer. Every transfer either
//! succeeds with identical bytes or fails with a typed error, and nothing is left behind: no
//! multipart upload, no temporary file.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use s3_connector::{ConnectionSettings, Connector, ErrorCode, Streams, TimeoutSettings};
use serde_json::json;
use support::faults::{ConnFault, Direction, FaultPlan, FaultProxy, ERROR_200, SLOW_DOWN};
use support::{act, act_with, pseudo_random, FailingReader, SharedBuf, Target};

const MIB: usize = 1024 * 1024;

/// Settings for a connector to `addr` (a proxy in front of `t`), with short timeouts so that a
/// stall costs seconds, not minutes.
fn settings_via(t: &Target, addr: std::net::SocketAddr, attempts: u32) -> ConnectionSettings {
    let mut s = t.settings.clone();
    s.endpoint = Some(format!("http://{addr}"));
    s.max_attempts = Some(attempts);
    s.timeouts = Some(TimeoutSettings {
        connect: Some(Duration::from_secs(2)),
        attempt: Some(Duration::from_secs(5)),
        stall: Some(Duration::from_secs(2)),
        deadline: None,
    });
    s
}

async fn uploads_left(t: &Target, bucket: &str) -> Vec<String> {
    let v = act(&t.conn, json!({"action": "listMultipartUploads", "bucket": bucket}))
        .await
        .expect("list uploads");
    v["uploads"]
        .as_array()
        .map(|u| u.iter().map(|x| x["key"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn canned_answers_have_the_length_they_declare() {
    for answer in [SLOW_DOWN, ERROR_200] {
        let text = String::from_utf8_lossy(answer);
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .expect("length");
        assert_eq!(declared, body.len(), "{head}");
    }
}

/// A named upload that does not exist is a failure even when the store throttled the first
/// abort: a SlowDown answer aborted nothing, so the NoSuchUpload that follows is about the id,
/// not about an earlier attempt that went through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mistyped_upload_id_fails_even_after_a_slow_down() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("typo-throttled").await;
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            slow_down_first: 1,
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 3))
        .await
        .expect("connect");
    let out = act(
        &conn,
        json!({"action": "abortMultipartUploads", "bucket": bucket, "key": "k.bin", "uploadId": "no-such-upload"}),
    )
    .await
    .expect("a result naming the failure");
    assert_eq!(proxy.stats.slow_downs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(out["aborted"], json!([]), "{out}");
    assert_eq!(out["failed"][0]["code"], "NoSuchKey", "{out}");
}

/// A reset in the middle of an upload reaches the client as a broken connection, never as the
/// store's answer to the cut-off body (400 IncompleteBody, which no client retries): the proxy
/// once closed the store side first, and the store's answer sometimes slipped through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_mid_upload_never_lets_the_stores_answer_through() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("reset-up").await;
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src.bin");
    std::fs::write(&src, pseudo_random(2 * MIB, 7)).expect("write");
    const ROUNDS: usize = 30;
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            script: vec![ConnFault::Reset(Direction::Up, MIB as u64); ROUNDS],
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 1))
        .await
        .expect("connect");
    for round in 0..ROUNDS {
        let err = act(
            &conn,
            json!({"action": "putObject", "bucket": bucket, "key": "k.bin", "file": src}),
        )
        .await
        .expect_err("every connection is reset");
        assert_eq!(err.code, ErrorCode::Network, "round {round}: {err}");
    }
    assert_eq!(
        proxy.stats.resets.load(std::sync::atomic::Ordering::SeqCst),
        ROUNDS as u64
    );
}

/// An upload cancelled (Ctrl-C, SIGTERM, a deadline) while its CreateMultipartUpload waits for
/// an answer has started an upload on the store whose id it never learnt: the clean-up finds
/// and aborts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_cancelled_while_it_starts_leaves_no_upload() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("cancel-create").await;
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src.bin");
    std::fs::write(&src, pseudo_random(20 * MIB, 11)).expect("write");
    // The create reaches the store; its answer never comes back.
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            script: vec![ConnFault::Stall(Direction::Down, 0)],
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 3))
        .await
        .expect("connect");
    let put = act(
        &conn,
        json!({"action": "putObject", "bucket": bucket, "key": "k.bin", "file": src}),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let watch = async {
        while uploads_left(&t, &bucket).await.is_empty() {
            assert!(Instant::now() < deadline, "the create never reached the store");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        done = put => panic!("the upload ended before it was cancelled: {done:?}"),
        () = watch => {}
    }
    // The upload's future is dropped here, with its create unanswered.
    assert_eq!(
        conn.finish_cleanup(Duration::from_secs(20)).await,
        0,
        "clean-up in time"
    );
    assert_eq!(uploads_left(&t, &bucket).await, Vec::<String>::new());
    assert_eq!(proxy.stats.stalls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Under 10% connection faults (resets, stalls, truncations at random bytes) and 5% of
/// completions answered 200 with an error: 20 uploads and 20 downloads of 20 MiB, half from and
/// to files, half streamed, all succeed byte for byte and leave nothing behind.
///
/// About fifteen requests of the run fault. With 5 attempts per request (resumes included) the
/// chance that some request faults every time is about 0.1% per run; at the default 3 it is
/// about 5%, and the test would be flaky, not wrong: such a transfer fails with a typed,
/// retryable error and leaves nothing, which the other tests check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_uploads_and_downloads_of_20_mib_survive_ten_percent_faults() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("faults").await;
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            seed: 20261201,
            connection_faults: 0.10,
            error_200: 0.05,
            max_offset: 9 * MIB as u64,
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 5))
        .await
        .expect("connect");
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("source.bin");
    let bytes = pseudo_random(20 * MIB, 7);
    std::fs::write(&src, &bytes).expect("write source");
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).expect("mkdir");

    let uploads = futures::stream::iter(0..20)
        .map(|i| {
            let (conn, bucket, src) = (conn.clone(), bucket.clone(), src.clone());
            async move {
                let key = format!("up/{i:02}.bin");
                let outcome = if i % 2 == 0 {
                    act(
                        &conn,
                        json!({"action": "putObject", "bucket": bucket, "key": key, "file": src}),
                    )
                    .await
                } else {
                    let file = tokio::fs::File::open(&src).await.expect("open");
                    let streams = Streams {
                        input: Some(Box::new(file)),
                        ..Default::default()
                    };
                    act_with(
                        &conn,
                        json!({"action": "putObject", "bucket": bucket, "key": key}),
                        streams,
                    )
                    .await
                };
                (key, outcome)
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for (key, outcome) in &uploads {
        let v = outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("upload {key} failed: {e} ({})", proxy.stats.summary()));
        assert_eq!(v["size"], 20 * MIB, "{key}");
    }

    let gets = futures::stream::iter(0..20)
        .map(|i| {
            let (conn, bucket, downloads) = (conn.clone(), bucket.clone(), downloads.clone());
            async move {
                let key = format!("up/{i:02}.bin");
                if i % 2 == 0 {
                    let target = downloads.join(format!("{i:02}.bin"));
                    let got = act(
                        &conn,
                        json!({"action": "getObject", "bucket": bucket, "key": key, "file": target}),
                    )
                    .await;
                    (key, got.map(|_| std::fs::read(&target).unwrap_or_default()))
                } else {
                    let sink = SharedBuf::default();
                    let streams = Streams {
                        output: Some(Box::new(sink.clone())),
                        ..Default::default()
                    };
                    let got = act_with(
                        &conn,
                        json!({"action": "getObject", "bucket": bucket, "key": key}),
                        streams,
                    )
                    .await;
                    (key, got.map(|_| sink.bytes()))
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for (key, got) in gets {
        let back = got.unwrap_or_else(|e| panic!("download {key} failed: {e} ({})", proxy.stats.summary()));
        assert!(
            back == bytes,
            "{key}: the bytes differ ({} of {})",
            back.len(),
            bytes.len()
        );
    }

    let stats = proxy.stats.summary();
    assert!(
        proxy.stats.connection_faults() >= 3,
        "the proxy must really have faulted: {stats}"
    );
    assert!(
        uploads_left(&t, &bucket).await.is_empty(),
        "open uploads left ({stats})"
    );
    let names = files_in(&downloads);
    assert_eq!(names.len(), 10, "only the ten downloads, no temp files: {names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
    eprintln!("fault mix: {stats}");
}

/// Small objects go up in one PUT; a PUT whose connection breaks is retried by the SDK (its
/// body is a file re-read from the start, or bytes in memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_puts_are_retried_through_resets_and_stalls() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("puts").await;
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            seed: 5,
            connection_faults: 0.25,
            max_offset: 300 * 1024,
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 4))
        .await
        .expect("connect");
    let dir = tempfile::tempdir().expect("tmp");
    for i in 0..30u64 {
        let body = pseudo_random(256 * 1024, i + 1);
        let f = dir.path().join(format!("{i}.bin"));
        std::fs::write(&f, &body).expect("write");
        let key = format!("small/{i}.bin");
        let put = act(
            &conn,
            json!({"action": "putObject", "bucket": bucket, "key": key, "file": f}),
        )
        .await
        .unwrap_or_else(|e| panic!("{key}: {e} ({})", proxy.stats.summary()));
        assert_eq!(put["parts"], 0, "one PUT");
        let sink = SharedBuf::default();
        act_with(
            &t.conn,
            json!({"action": "getObject", "bucket": bucket, "key": key}),
            Streams {
                output: Some(Box::new(sink.clone())),
                ..Default::default()
            },
        )
        .await
        .expect("read back directly");
        assert!(sink.bytes() == body, "{key} differs");
    }
    assert!(proxy.stats.connection_faults() >= 3, "{}", proxy.stats.summary());
}

/// A listener that accepts connections and reads whatever comes, but never answers.
async fn black_hole() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                // Keep the socket open without answering until the peer gives up.
                tokio::time::sleep(Duration::from_secs(600)).await;
            });
        }
    });
    (addr, task)
}

/// A store that claims an object of 2^64 - 1 bytes (and answers every ranged GET with its
/// first 10 bytes) fails the download with a typed error and leaves nothing: the parts are not
/// planned all at once (that would take 16 TiB of memory and abort the process), and no range
/// end overflows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_claiming_an_endless_object_fails_the_download_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    // Requests without bodies (HEAD, GET): one per blank line.
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_string();
                        seen.drain(..end + 4);
                        let body: &[u8] = if head.starts_with("HEAD") { b"" } else { b"0123456789" };
                        let answer = "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/18446744073709551615\r\nETag: \"e\"\r\nLast-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n";
                        if socket.write_all(answer.as_bytes()).await.is_err() || socket.write_all(body).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let settings = ConnectionSettings {
        endpoint: Some(format!("http://{addr}")),
        region: Some("us-east-1".into()),
        access_key_id: Some("AK".into()),
        secret_access_key: Some(s3_connector::Secret::new("SK")),
        max_attempts: Some(2),
        ..Default::default()
    };
    let conn = Connector::connect(settings).await.expect("connect");
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("down.bin");
    let err = act(
        &conn,
        json!({"action": "getObject", "bucket": "endless", "key": "k", "file": target}),
    )
    .await
    .expect_err("no such object can be downloaded");
    assert!(
        matches!(err.code, ErrorCode::Network | ErrorCode::ServiceError),
        "{err}"
    );
    assert!(!target.exists(), "no partial download");
    assert!(files_in(dir.path()).is_empty(), "no temp files");
    server.abort();
}

/// A store that accepts and never answers ends every kind of request in `Timeout` within the
/// configured bound, retries included: a HEAD, a download, a single PUT and a multipart upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_never_answers_ends_in_timeout_within_the_bound() {
    let (addr, _hole) = black_hole().await;
    let settings = ConnectionSettings {
        endpoint: Some(format!("http://{addr}")),
        region: Some("us-east-1".into()),
        access_key_id: Some("AK".into()),
        secret_access_key: Some(s3_connector::Secret::new("SK")),
        max_attempts: Some(2),
        timeouts: Some(TimeoutSettings {
            connect: Some(Duration::from_secs(1)),
            attempt: Some(Duration::from_secs(1)),
            stall: Some(Duration::from_secs(1)),
            deadline: None,
        }),
        transfer: Some(s3_connector::TransferSettings {
            multipart_threshold: 5 * MIB as u64,
            part_size: 5 * MIB as u64,
            ..Default::default()
        }),
        ..Default::default()
    };
    let conn = Connector::connect(settings).await.expect("connect");
    let dir = tempfile::tempdir().expect("tmp");
    let small = dir.path().join("small.bin");
    std::fs::write(&small, vec![1u8; 1024]).expect("write");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![2u8; 12 * MIB]).expect("write");
    let target = dir.path().join("down.bin");
    let requests = [
        json!({"action": "headObject", "bucket": "hole", "key": "k"}),
        json!({"action": "getObject", "bucket": "hole", "key": "k", "file": target}),
        json!({"action": "putObject", "bucket": "hole", "key": "k", "file": small}),
        json!({"action": "putObject", "bucket": "hole", "key": "k", "file": big}),
    ];
    for request in requests {
        let started = Instant::now();
        let err = act(&conn, request.clone()).await.expect_err("nothing answers");
        let took = started.elapsed();
        assert_eq!(err.code, ErrorCode::Timeout, "{request}: {err}");
        // Two attempts of at most a second each, plus the SDK's backoff between them.
        assert!(took < Duration::from_secs(10), "{request}: took {took:?}");
    }
    assert!(!target.exists(), "no partial download");
    assert_eq!(files_in(dir.path()), ["big.bin", "small.bin"], "no temp files");

    // With a deadline, the whole action is bounded too.
    let mut s = conn.settings().clone();
    s.timeouts = Some(TimeoutSettings {
        stall: Some(Duration::from_secs(30)),
        attempt: Some(Duration::from_secs(30)),
        deadline: Some(Duration::from_millis(1500)),
        ..Default::default()
    });
    let bounded = Connector::connect(s).await.expect("connect");
    let started = Instant::now();
    let err = act(&bounded, json!({"action": "headObject", "bucket": "hole", "key": "k"}))
        .await
        .expect_err("deadline");
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    assert!(err.message.contains("deadline"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Half of all requests answered 503 SlowDown: 20 uploads that fail half-way are each aborted;
/// the abort keeps trying with backoff, so no upload is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborts_finish_while_the_store_throttles() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("throttled").await;
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            seed: 50,
            slow_down: 0.5,
            ..Default::default()
        },
    )
    .await;
    let mut s = settings_via(&t, proxy.addr, 3);
    s.transfer = Some(s3_connector::TransferSettings {
        multipart_threshold: 5 * MIB as u64,
        part_size: 5 * MIB as u64,
        concurrency: 2,
        ..Default::default()
    });
    let conn = Connector::connect(s).await.expect("connect");
    let failed = futures::stream::iter(0..20)
        .map(|i| {
            let (conn, bucket) = (conn.clone(), bucket.clone());
            async move {
                let streams = Streams {
                    input: Some(Box::new(FailingReader { left: 12 * MIB })),
                    ..Default::default()
                };
                act_with(
                    &conn,
                    json!({"action": "putObject", "bucket": bucket, "key": format!("broken/{i}.bin")}),
                    streams,
                )
                .await
            }
        })
        .buffer_unordered(5)
        .collect::<Vec<_>>()
        .await;
    for outcome in &failed {
        let err = outcome.as_ref().expect_err("the source breaks");
        assert!(
            !err.message.contains("could not be aborted"),
            "an abort gave up: {} ({})",
            err.message,
            proxy.stats.summary()
        );
    }
    assert!(
        proxy.stats.slow_downs.load(std::sync::atomic::Ordering::SeqCst) >= 20,
        "{}",
        proxy.stats.summary()
    );
    let left = uploads_left(&t, &bucket).await;
    assert!(
        left.is_empty(),
        "uploads left open: {left:?} ({})",
        proxy.stats.summary()
    );
    let objects = act(&t.conn, json!({"action": "listObjects", "bucket": bucket}))
        .await
        .expect("list");
    assert_eq!(objects["objects"], json!([]), "no half-written object");
}

/// A download cut off part-way resumes from the last byte, pinned to the ETag; if the object
/// was replaced in between, the resume fails as PreconditionFailed and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_download_resumes_and_a_replaced_object_fails_the_resume() {
    let t = support::embedded().await;
    let bucket = t.new_bucket("resume").await;
    let dir = tempfile::tempdir().expect("tmp");
    let v1 = pseudo_random(6 * MIB, 1);
    let src = dir.path().join("v1.bin");
    std::fs::write(&src, &v1).expect("write");
    act(
        &t.conn,
        json!({"action": "putObject", "bucket": bucket, "key": "k.bin", "file": src}),
    )
    .await
    .expect("put v1");

    // Cut off after about 1 MiB of the answer, then let the resume through.
    let cut = ConnFault::Truncate(MIB as u64 + 700);
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            script: vec![cut],
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 3))
        .await
        .expect("connect");
    let sink = SharedBuf::default();
    let got = act_with(
        &conn,
        json!({"action": "getObject", "bucket": bucket, "key": "k.bin"}),
        Streams {
            output: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    )
    .await
    .expect("resumed download");
    assert_eq!(got["size"], 6 * MIB);
    assert!(sink.bytes() == v1, "the resumed bytes differ");
    assert_eq!(proxy.stats.truncations.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        proxy.stats.requests.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "a second GET resumed"
    );

    // Now the object is replaced (same size) while the connection is down.
    let (store_conn, b) = (t.conn.clone(), bucket.clone());
    let v2 = Arc::new(pseudo_random(6 * MIB, 2));
    let v2_path: PathBuf = dir.path().join("v2.bin");
    std::fs::write(&v2_path, v2.as_slice()).expect("write");
    let hook: support::Hook = Arc::new(move || {
        let (store_conn, b, v2_path) = (store_conn.clone(), b.clone(), v2_path.clone());
        Box::pin(async move {
            act(
                &store_conn,
                json!({"action": "putObject", "bucket": b, "key": "k.bin", "file": v2_path}),
            )
            .await
            .expect("replace");
        })
    });
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            script: vec![ConnFault::Reset(Direction::Down, MIB as u64)],
            before_fault: Some(hook),
            ..Default::default()
        },
    )
    .await;
    let conn = Connector::connect(settings_via(&t, proxy.addr, 3))
        .await
        .expect("connect");
    let target = dir.path().join("out.bin");
    let err = act(
        &conn,
        json!({"action": "getObject", "bucket": bucket, "key": "k.bin", "file": target}),
    )
    .await
    .expect_err("the object changed");
    assert_eq!(err.code, ErrorCode::PreconditionFailed, "{err}");
    assert!(err.message.contains("changed during the download"), "{}", err.message);
    assert!(!target.exists(), "nothing at the target");
    assert_eq!(files_in(dir.path()), ["v1.bin", "v2.bin"], "no temp file");
}

/// A CreateMultipartUpload whose answer is lost started an upload nobody knows the id of; once
/// a retry succeeds it is aborted. Another upload of the same key that this process has
/// running on another connection (another job) shares the registry and is spared: it
/// completes, and nothing is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_create_answer_is_cleaned_up_and_other_jobs_uploads_are_spared() {
    use tokio::io::AsyncWriteExt;
    let t = support::embedded().await;
    let bucket = t.new_bucket("lost-create").await;
    let registry = s3_connector::CleanupTasks::default();
    let connect = |settings: ConnectionSettings| {
        Connector::connect_with(
            settings,
            s3_connector::ConnectOptions {
                cleanup: Some(registry.clone()),
                ..Default::default()
            },
        )
    };
    // Job A writes the key through a source that pauses after its first part.
    let direct = connect(t.settings.clone()).await.expect("connect");
    let (mut writer, reader) = tokio::io::duplex(MIB);
    let (resume_tx, resume_rx) = tokio::sync::oneshot::channel::<()>();
    let feeder = tokio::spawn(async move {
        writer.write_all(&vec![1u8; 9 * MIB]).await.expect("first part");
        let _ = resume_rx.await;
        writer.write_all(&vec![2u8; 3 * MIB]).await.expect("the rest");
        writer.shutdown().await.expect("end");
    });
    let a = {
        let (conn, bucket) = (direct.clone(), bucket.clone());
        tokio::spawn(async move {
            let streams = Streams {
                input: Some(Box::new(reader)),
                ..Default::default()
            };
            act_with(
                &conn,
                json!({"action": "putObject", "bucket": bucket, "key": "same.bin"}),
                streams,
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while uploads_left(&t, &bucket).await.is_empty() {
        assert!(Instant::now() < deadline, "job A's upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Job B writes the same key through a proxy that loses the answer to its first request.
    let proxy = FaultProxy::start(
        t.addr(),
        FaultPlan {
            script: vec![ConnFault::Truncate(0)],
            ..Default::default()
        },
    )
    .await;
    let via = connect(settings_via(&t, proxy.addr, 3)).await.expect("connect");
    let b_bytes = pseudo_random(9 * MIB, 8);
    let b = act_with(
        &via,
        json!({"action": "putObject", "bucket": bucket, "key": "same.bin"}),
        Streams {
            input: Some(Box::new(std::io::Cursor::new(b_bytes.clone()))),
            ..Default::default()
        },
    )
    .await;
    assert!(b.is_ok(), "job B: {b:?} ({})", proxy.stats.summary());
    assert_eq!(
        proxy.stats.truncations.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "{}",
        proxy.stats.summary()
    );
    assert_eq!(
        uploads_left(&t, &bucket).await,
        vec!["same.bin".to_string()],
        "job B's lost upload is aborted, job A's is still running"
    );
    let _ = resume_tx.send(());
    feeder.await.expect("feeder");
    let a = a.await.expect("task");
    assert!(a.is_ok(), "job A's upload was cut off: {a:?}");
    assert!(uploads_left(&t, &bucket).await.is_empty());
}
