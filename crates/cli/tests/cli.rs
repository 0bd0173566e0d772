//! The `s3-connector` binary, run as a user would, against the embedded store (`--embedded`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

mod common;
use common::bin;

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn s3-connector");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

fn exec(dir: &Path, request: Value) -> Value {
    let out = run(
        &["--embedded", dir.to_str().expect("utf8"), "exec", "-"],
        Some(request.to_string().as_bytes()),
    );
    assert!(
        out.status.success(),
        "{request} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("using the embedded S3 store at"),
        "not announced: {stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{request}: stdout is not JSON ({e})"))
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).map(|r| r.display().to_string()).unwrap_or_default());
        }
    }
    out.sort();
    out
}

#[test]
fn exec_answers_every_action() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let src = tmp.path().join("src.txt");
    std::fs::write(&src, b"file content").expect("write");
    let back = tmp.path().join("back.txt");

    let r = exec(&data, json!({"action": "createBucket", "bucket": "cli-bucket"}));
    assert_eq!(r["bucket"], "cli-bucket");
    exec(&data, json!({"action": "createBucket", "bucket": "cli-other"}));
    let r = exec(&data, json!({"action": "listBuckets"}));
    assert_eq!(r["buckets"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        exec(&data, json!({"action": "headBucket", "bucket": "cli-bucket"}))["exists"],
        true
    );
    let r = exec(
        &data,
        json!({"action": "putObject", "bucket": "cli-bucket", "key": "dir/a file.txt", "file": src}),
    );
    assert_eq!(r["size"], 12);
    exec(
        &data,
        json!({"action": "putObject", "bucket": "cli-bucket", "key": "dir/b.json", "content": "{}"}),
    );
    let r = exec(
        &data,
        json!({"action": "listObjects", "bucket": "cli-bucket", "prefix": "dir/"}),
    );
    assert_eq!(r["objects"].as_array().map(Vec::len), Some(2));
    let r = exec(&data, json!({"action": "listPrefixes", "bucket": "cli-bucket"}));
    assert_eq!(r["prefixes"], json!([{"prefix": "dir/"}]));
    let r = exec(
        &data,
        json!({"action": "headObject", "bucket": "cli-bucket", "key": "dir/b.json"}),
    );
    assert_eq!(r["contentType"], "application/json");
    let r = exec(
        &data,
        json!({"action": "getObject", "bucket": "cli-bucket", "key": "dir/a file.txt", "file": back}),
    );
    assert_eq!(r["size"], 12);
    assert_eq!(std::fs::read(&back).expect("read"), b"file content");
    let r = exec(
        &data,
        json!({"action": "copyObject", "bucket": "cli-bucket", "key": "dir/b.json", "destinationBucket": "cli-other"}),
    );
    assert_eq!(r["destinationBucket"], "cli-other");
    let r = exec(
        &data,
        json!({"action": "moveObject", "bucket": "cli-other", "key": "dir/b.json", "destinationKey": "moved.json"}),
    );
    assert_eq!(r["sourceDeleted"], true);
    let r = exec(
        &data,
        json!({"action": "presignUrl", "bucket": "cli-other", "key": "moved.json", "method": "PUT"}),
    );
    assert!(r["url"].as_str().is_some_and(|u| u.contains("X-Amz-Signature=")), "{r}");
    let r = exec(
        &data,
        json!({"action": "deleteObject", "bucket": "cli-other", "key": "moved.json"}),
    );
    assert_eq!(r["key"], "moved.json");
    let r = exec(
        &data,
        json!({"action": "deleteObjects", "bucket": "cli-bucket", "prefix": "dir/"}),
    );
    assert_eq!(r["deleted"], 2);
    exec(&data, json!({"action": "deleteBucket", "bucket": "cli-bucket"}));
    exec(&data, json!({"action": "deleteBucket", "bucket": "cli-other"}));
    assert_eq!(exec(&data, json!({"action": "listBuckets"}))["buckets"], json!([]));

    // A request file leaves stdin free for putObject's content.
    exec(&data, json!({"action": "createBucket", "bucket": "cli-stdin"}));
    let req = tmp.path().join("req.json");
    std::fs::write(
        &req,
        json!({"action": "putObject", "bucket": "cli-stdin", "key": "piped"}).to_string(),
    )
    .expect("write");
    let out = run(
        &[
            "--embedded",
            data.to_str().expect("utf8"),
            "exec",
            req.to_str().expect("utf8"),
        ],
        Some(b"from stdin"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["size"], 10);
}

#[test]
fn bad_input_exits_non_zero_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    exec(&data, json!({"action": "createBucket", "bucket": "stays-empty"}));
    let before = files_under(&data);
    let never = tmp.path().join("never-written");
    for request in [
        json!({"action": "createBucket", "bucket": "Bad_Name"}),
        json!({"action": "putObject", "bucket": "stays-empty", "key": "", "content": "x"}),
        json!({"action": "putObject", "bucket": "stays-empty", "key": "k", "content": "x", "metadata": {"no spaces": "v"}}),
        json!({"action": "getObject", "bucket": "stays-empty", "key": "k", "range": "bytes=5-1", "file": never}),
        json!({"action": "presignUrl", "bucket": "stays-empty", "key": "k", "expiresIn": 999999999}),
        json!({"action": "deleteObjects", "bucket": "stays-empty"}),
        json!({"action": "moveObject", "bucket": "stays-empty", "key": "k"}),
        json!({"action": "nope"}),
        json!({"bucket": "stays-empty"}),
        json!("not an object"),
    ] {
        let out = run(
            &["--embedded", data.to_str().expect("utf8"), "exec", "-"],
            Some(request.to_string().as_bytes()),
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{request}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{request}: stdout must be empty");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().last().unwrap_or_default();
        let err: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{request}: stderr not JSON ({e}): {stderr}"));
        assert_eq!(err["error"]["code"], "InvalidInput", "{request}");
        assert!(err["error"]["message"].as_str().is_some_and(|m| m.len() > 10), "{err}");
    }
    let not_json = run(
        &["--embedded", data.to_str().expect("utf8"), "exec", "-"],
        Some(b"{broken"),
    );
    assert_eq!(not_json.status.code(), Some(2));
    // A forgotten --tag would otherwise remove every tag.
    let untagged = run(
        &[
            "--embedded",
            data.to_str().expect("utf8"),
            "put-object-tagging",
            "bkt",
            "k",
        ],
        None,
    );
    assert_eq!(
        untagged.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&untagged.stderr)
    );
    assert!(
        String::from_utf8_lossy(&untagged.stderr).contains("--tag"),
        "{}",
        String::from_utf8_lossy(&untagged.stderr)
    );
    // A KMS key without the algorithm names the flag that is missing.
    for flag in [
        &["--sse-kms-key-id", "alias/k"][..],
        &["--sse-kms-context", "a=b"],
        &["--sse-bucket-key", "true"],
    ] {
        let mut args = vec![
            "--embedded",
            data.to_str().expect("utf8"),
            "put-object",
            "stays-empty",
            "k",
            "--content",
            "x",
        ];
        args.extend_from_slice(flag);
        let out = run(&args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {stderr}");
        assert!(stderr.contains("--sse <ALGORITHM>"), "{flag:?}: {stderr}");
    }
    assert_eq!(files_under(&data), before, "bad input wrote something");
    assert!(!never.exists());
}

#[test]
fn errors_have_stable_codes_and_exit_statuses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "codes"], None)
        .status
        .success());
    let out = run(&["--embedded", data, "head-object", "codes", "missing"], None);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[NoSuchKey]"));
    let out = run(&["--embedded", data, "--json", "head-bucket", "no-such-bucket"], None);
    assert_eq!(out.status.code(), Some(3));
    let err: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()).expect("json");
    assert_eq!(err["error"]["code"], "NoSuchBucket");
    assert!(run(
        &["--embedded", data, "put-object", "codes", "k", "--content", "x"],
        None
    )
    .status
    .success());
    let out = run(&["--embedded", data, "delete-bucket", "codes"], None);
    assert_eq!(out.status.code(), Some(6), "BucketNotEmpty");
}

#[test]
fn streams_through_stdin_and_stdout() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "pipes"], None)
        .status
        .success());
    let payload: Vec<u8> = (0..(9 * 1024 * 1024 + 17)).map(|i| (i % 253) as u8).collect();
    let out = run(
        &["--embedded", data, "--json", "put-object", "pipes", "big.bin", "-"],
        Some(&payload),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let put: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(put["size"], payload.len());
    assert_eq!(put["parts"], 2, "a stream over 8 MiB goes multipart");
    let out = run(&["--embedded", data, "get-object", "pipes", "big.bin"], None);
    assert!(out.status.success());
    assert!(out.stdout == payload, "stdout must carry exactly the object's bytes");
    let out = run(
        &[
            "--embedded",
            data,
            "get-object",
            "pipes",
            "big.bin",
            "-",
            "--range",
            "bytes=0-2",
        ],
        None,
    );
    assert_eq!(out.stdout, payload[..3].to_vec());
}

#[test]
fn demo_prints_every_step() {
    let out = run(&["demo"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for action in s3_connector::ACTION_NAMES {
        assert!(
            text.contains(&format!("\"action\":\"{action}\"")),
            "demo never runs {action}"
        );
    }
    assert!(text.matches("result:").count() >= 20, "{text}");
    assert!(text.contains("\"code\":\"InvalidInput\""));
    assert!(text.contains("byte for byte"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("using the embedded S3 store at"));
}

#[test]
fn every_subcommand_has_an_example_in_help() {
    for sub in [
        "list-buckets",
        "create-bucket",
        "delete-bucket",
        "head-bucket",
        "list-objects",
        "list-prefixes",
        "head-object",
        "get-object",
        "put-object",
        "delete-object",
        "delete-objects",
        "copy-object",
        "move-object",
        "presign-url",
        "exec",
        "serve-s3",
        "demo",
    ] {
        let out = run(&[sub, "--help"], None);
        assert!(out.status.success(), "{sub} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{sub} --help has no example:\n{text}");
    }
}

#[test]
fn secrets_never_reach_output() {
    let secret = "VERY-SECRET-VALUE-123";
    let out = bin()
        .args([
            "-vv",
            "--endpoint",
            "http://127.0.0.1:9",
            "--max-attempts",
            "1",
            "--access-key-id",
            "AKIDTEST",
            "--secret-access-key",
            secret,
            "--session-token",
            "TOKEN-SECRET-456",
            "list-buckets",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("error[Network]"), "{all}");
    assert!(
        !all.contains(secret) && !all.contains("TOKEN-SECRET-456"),
        "a secret leaked:\n{all}"
    );
}

#[test]
fn batch_runs_every_line_in_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    // Lines run concurrently, so the bucket they need is made first, in its own run.
    assert!(run(&["--embedded", data, "create-bucket", "batch-bucket"], None)
        .status
        .success());
    let mut lines = vec![json!({"action": "headBucket", "bucket": "batch-bucket"}).to_string()];

    for i in 0..40 {
        lines.push(json!({"action": "putObject", "bucket": "batch-bucket", "key": format!("k{i:02}"), "content": format!("v{i}")}).to_string());
    }
    lines.push(json!({"action": "headObject", "bucket": "batch-bucket", "key": ""}).to_string());
    lines.push("not json".to_string());
    lines.push(json!({"action": "headBucket", "bucket": "batch-bucket"}).to_string());

    let input = lines.join("\n");
    let out = run(
        &["--embedded", data, "exec", "--batch", "--jobs", "8", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2), "first failure is InvalidInput");
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(results.len(), 44);
    assert_eq!(results[0]["result"]["bucket"], "batch-bucket");
    for i in 0..40 {
        assert_eq!(results[i + 1]["result"]["key"], format!("k{i:02}"), "order kept");
    }
    assert_eq!(results[41]["error"]["code"], "InvalidInput");
    assert_eq!(results[42]["error"]["code"], "InvalidInput");
    assert_eq!(results[43]["result"]["exists"], true, "lines after a failure still run");
    let listed = run(&["--embedded", data, "--json", "list-objects", "batch-bucket"], None);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(
        listed["objects"].as_array().map(Vec::len),
        Some(40),
        "every put in the batch landed"
    );
}

#[test]
fn missing_credentials_say_so() {
    // No keys, no profile, IMDS disabled: the default chain finds nothing.
    let out = run(
        &[
            "--endpoint",
            "http://127.0.0.1:9",
            "--max-attempts",
            "1",
            "list-buckets",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error[InvalidCredentials]") && stderr.contains("AWS_ACCESS_KEY_ID"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_aborts_an_upload_in_flight() {
    interrupt_an_upload("INT", 130, "stopping (Interrupt)");
}

#[test]
fn sigterm_aborts_an_upload_in_flight() {
    interrupt_an_upload("TERM", 143, "stopping (Terminate)");
}

#[test]
fn sighup_aborts_an_upload_in_flight() {
    interrupt_an_upload("HUP", 129, "stopping (Hangup)");
}

/// A store that takes connections and never answers: the first SIGTERM stops an upload whose
/// start is unanswered, and the clean-up (which looks for the upload it may have started) waits
/// on the silent store; a second SIGTERM exits at once, with the first signal's status.
#[test]
fn a_second_signal_skips_the_wait_for_the_clean_up() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let tmp = tempfile::tempdir().expect("tmp");
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 20 * 1024 * 1024]).expect("write");
    let mut child = bin()
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "testtesttest")
        .args(["--endpoint", &format!("http://{addr}"), "--region", "us-east-1"])
        .args(["--attempt-timeout", "60s", "--stall-timeout", "60s"])
        .args(["put-object", "silent", "big.bin", big.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let kill = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill")
            .success());
    };
    // Long enough to be waiting for CreateMultipartUpload's answer.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().expect("poll").is_none(), "still uploading");
    kill(child.id());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(
        child.try_wait().expect("poll").is_none(),
        "the first signal waits for the clean-up"
    );
    let second = std::time::Instant::now();
    kill(child.id());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(second.elapsed() < std::time::Duration::from_secs(5), "{stderr}");
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopping (Terminate)"), "{stderr}");
    assert!(stderr.contains("stopped again"), "{stderr}");
}

/// The embedded store keeps each unfinished multipart upload as a directory there.
fn unfinished_uploads(data: &Path) -> usize {
    std::fs::read_dir(data.join(".s3-connector").join("uploads"))
        .map(|entries| entries.flatten().count())
        .unwrap_or(0)
}

/// Sends `signal` to a command in the middle of a 300 MiB upload: it exits with `status`, having
/// aborted the multipart upload, and no object appears.
fn interrupt_an_upload(signal: &str, status: i32, says: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "interrupted"], None)
        .status
        .success());
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 300 * 1024 * 1024]).expect("write");
    // Small parts, one at a time: slow enough to be interrupted mid-way.
    let mut child = bin()
        .args([
            "--embedded",
            data,
            "--part-size",
            "5242880",
            "--multipart-threshold",
            "5242880",
            "--concurrency",
            "1",
        ])
        .args(["put-object", "interrupted", "big.bin", big.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while unfinished_uploads(&d) == 0 {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the upload finished before it could be interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(unfinished_uploads(&d), 0, "the multipart upload was left behind");
    let head = run(&["--embedded", data, "head-object", "interrupted", "big.bin"], None);
    assert_eq!(head.status.code(), Some(4), "no object may appear");
}

/// SIGTERM in the middle of a download to a file: exit 143, no temporary `.part` file, and the
/// target is not created.
#[test]
fn sigterm_mid_download_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "downloads"], None)
        .status
        .success());
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![9u8; 300 * 1024 * 1024]).expect("write");
    let put = run(
        &[
            "--embedded",
            data,
            "put-object",
            "downloads",
            "big.bin",
            big.to_str().expect("utf8"),
        ],
        None,
    );
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let target = out_dir.join("copy.bin");
    let mut child = bin()
        .args(["--embedded", data, "--part-size", "5242880", "--concurrency", "1"])
        .args(["get-object", "downloads", "big.bin", target.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let partial = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while partial(&out_dir) == 0 {
        assert!(std::time::Instant::now() < deadline, "the download never started");
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the download finished before it could be interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_eq!(partial(&out_dir), 0, "the temporary file was left behind");
    assert!(!target.exists(), "a partial download reached the target");
}

/// A server process that is stopped when the test ends, even by a failed assertion.
struct Server(Option<std::process::Child>);

impl Server {
    fn id(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or_default()
    }

    /// Waits for the server to exit (after it was told to) and returns its output.
    fn wait_with_output(mut self) -> std::io::Result<Output> {
        match self.0.take() {
            Some(child) => child.wait_with_output(),
            None => Err(std::io::Error::other("already stopped")),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `serve-s3` on a free loopback port; returns it and the settings it printed.
/// The value of `name` in the environment `serve_s3` printed, or "".
fn env_value(env: &[(String, String)], name: &str) -> String {
    env.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn serve_s3(data: &Path) -> (Server, Vec<(String, String)>) {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut server = bin()
        .args([
            "serve-s3",
            "--data",
            data.to_str().expect("utf8"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve-s3");
    // The export lines arrive on stdout; the generated secret is shown only there.
    let mut env = Vec::new();
    let mut lines = std::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    while env.len() < 4 {
        let line = lines
            .next()
            .expect("serve-s3 printed fewer than 4 export lines")
            .expect("line");
        let (k, v) = line
            .strip_prefix("export ")
            .and_then(|kv| kv.split_once('='))
            .expect("export K=V");
        env.push((k.to_string(), v.to_string()));
    }
    (Server(Some(server)), env)
}

#[test]
fn serve_s3_serves_a_directory_and_prints_how_to_connect() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("served");
    let (server, env) = serve_s3(&d);
    let client = |args: &[&str]| {
        let mut c = bin();
        c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.args(args).output().expect("client")
    };
    let made = client(&["create-bucket", "served-bucket"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(client(&["put-object", "served-bucket", "k.txt", "--content", "served"])
        .status
        .success());
    assert!(
        d.join("served-bucket").join("k.txt").is_file(),
        "objects are files under --data"
    );
    let got = client(&["get-object", "served-bucket", "k.txt"]);
    assert_eq!(got.stdout, b"served");
    let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
    let out = server.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("using the embedded S3 store at"), "{stderr}");
    let secret = env
        .iter()
        .find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        !secret.is_empty() && !stderr.contains(&secret),
        "the secret must not be logged"
    );
}

#[test]
fn documents_put_get_delete_on_local_and_s3_stores() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("invoice 42.pdf");
    std::fs::write(&src, b"%PDF-1.7 not really").expect("write");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "docs-bucket"], None)
        .status
        .success());
    let local = format!("local:{}", tmp.path().join("docs").display());
    for spec in [local.as_str(), "s3:docs-bucket/documents"] {
        let put = run(
            &[
                "--embedded",
                data,
                "--documents",
                spec,
                "documents",
                "put",
                src.to_str().expect("utf8"),
                "--property",
                "caseId=C-1",
            ],
            None,
        );
        assert!(put.status.success(), "{spec}: {}", String::from_utf8_lossy(&put.stderr));
        let reference: Value = serde_json::from_slice(&put.stdout).expect("reference JSON");
        assert_eq!(reference["camunda.document.type"], "camunda");
        assert_eq!(reference["metadata"]["fileName"], "invoice 42.pdf");
        assert_eq!(reference["metadata"]["contentType"], "application/pdf");
        assert_eq!(reference["metadata"]["size"], 19);
        assert_eq!(reference["metadata"]["customProperties"]["caseId"], "C-1");
        let ref_file = tmp.path().join("ref.json");
        std::fs::write(&ref_file, reference.to_string()).expect("write ref");
        let at_ref = format!("@{}", ref_file.display());

        let out = tmp.path().join("copy.pdf");
        let get = run(
            &[
                "--embedded",
                data,
                "--documents",
                spec,
                "documents",
                "get",
                &at_ref,
                out.to_str().expect("utf8"),
            ],
            None,
        );
        assert!(get.status.success(), "{spec}: {}", String::from_utf8_lossy(&get.stderr));
        assert_eq!(std::fs::read(&out).expect("read"), b"%PDF-1.7 not really");
        let to_stdout = run(
            &[
                "--embedded",
                data,
                "--documents",
                spec,
                "documents",
                "get",
                &reference.to_string(),
            ],
            None,
        );
        assert_eq!(to_stdout.stdout, b"%PDF-1.7 not really");

        // A reference with another hash is refused, and nothing is written.
        let mut tampered = reference.clone();
        tampered["contentHash"] = json!("0".repeat(64));
        let never = tmp.path().join("never.pdf");
        let bad = run(
            &[
                "--embedded",
                data,
                "--documents",
                spec,
                "documents",
                "get",
                &tampered.to_string(),
                never.to_str().expect("utf8"),
            ],
            None,
        );
        assert_eq!(
            bad.status.code(),
            Some(9),
            "{spec}: {}",
            String::from_utf8_lossy(&bad.stderr)
        );
        assert!(!never.exists());

        let id = reference["documentId"].as_str().expect("id");
        assert!(run(
            &["--embedded", data, "--documents", spec, "documents", "delete", id],
            None
        )
        .status
        .success());
        let gone = run(
            &["--embedded", data, "--documents", spec, "documents", "get", &at_ref],
            None,
        );
        assert_eq!(gone.status.code(), Some(4), "{spec}: deleted documents are NoSuchKey");
        let traversal = run(&["--documents", spec, "documents", "delete", "../../etc/passwd"], None);
        assert_eq!(traversal.status.code(), Some(2), "{spec}: ids are validated");
    }
    let bad_spec = run(&["--documents", "ftp:somewhere", "documents", "delete", "x"], None);
    assert_eq!(bad_spec.status.code(), Some(2));
    for sub in ["put", "get", "delete"] {
        let help = run(&["documents", sub, "--help"], None);
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("Example"),
            "documents {sub} --help"
        );
    }
}

#[test]
fn job_prints_how_a_camunda_job_ends() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (server, env) = serve_s3(&tmp.path().join("served"));
    let get = |k: &str| env_value(&env, k);
    let docs = tmp.path().join("docs");
    let job = |action: Value, headers: Value, extra: &[&str]| -> (Output, Value) {
        let vars = tmp.path().join("vars.json");
        let hdrs = tmp.path().join("headers.json");
        let variables = json!({
            "authentication": {"type": "credentials", "accessKey": "{{secrets.S3_KEY}}", "secretKey": "{{secrets.S3_SECRET}}"},
            "configuration": {"region": "us-east-1", "endpoint": get("AWS_ENDPOINT_URL")},
            "actionDiscriminator": action["discriminator"], "action": action["action"],
            "documentReturnFormat": action["format"]});
        std::fs::write(&vars, variables.to_string()).expect("vars");
        std::fs::write(&hdrs, headers.to_string()).expect("headers");
        let mut c = bin();
        // Secrets are environment variables with Camunda's prefix, as in its self-managed
        // runtime. The store's endpoint is the operator's (AWS_ENDPOINT_URL), so a job may name it.
        c.env("SECRET_S3_KEY", get("AWS_ACCESS_KEY_ID"));
        c.env("SECRET_S3_SECRET", get("AWS_SECRET_ACCESS_KEY"));
        c.env("AWS_ENDPOINT_URL", get("AWS_ENDPOINT_URL"));
        let mut args = vec![
            "--documents".to_string(),
            format!("local:{}", docs.display()),
            "job".into(),
        ];
        args.extend([
            "--variables".into(),
            vars.display().to_string(),
            "--headers".into(),
            hdrs.display().to_string(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = c.args(&args).output().expect("job");
        let value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, value)
    };
    let client = |args: &[&str]| {
        let mut c = bin();
        c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.args(args).output().expect("client")
    };
    assert!(client(&["create-bucket", "jobs"]).status.success());
    assert!(client(&["put-object", "jobs", "in/a.txt", "--content", "hello job"])
        .status
        .success());

    let download = |key: &str, format: &str| json!({"discriminator": "downloadObject", "action": {"bucket": "jobs", "key": key}, "format": {"choice": format}});
    let (out, v) = job(
        download("in/a.txt", "DOCUMENT"),
        json!({"resultVariable": "result", "retryBackoff": "PT30S"}),
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(v["outcome"], "complete", "{v}");
    let reference = &v["variables"]["result"]["element"]["document"];
    assert_eq!(reference["camunda.document.type"], "camunda");
    assert_eq!(reference["metadata"]["fileName"], "in/a.txt");
    let id = reference["documentId"].as_str().unwrap_or_default();
    assert_eq!(
        std::fs::read(docs.join(id)).unwrap_or_default(),
        b"hello job",
        "the document is in the local store"
    );

    // A missing key fails the job, not the command: exit 0 and the outcome on stdout.
    let (out, v) = job(
        download("in/none.txt", "TEXT"),
        json!({"retryBackoff": "PT30S"}),
        &["--retries", "2"],
    );
    assert!(out.status.success());
    assert_eq!(
        (v["outcome"].clone(), v["retries"].clone()),
        (json!("fail"), json!(1)),
        "{v}"
    );
    assert_eq!(v["variables"]["error"]["code"], "NoSuchKey");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(&get("AWS_SECRET_ACCESS_KEY")),
        "the secret must not show"
    );

    let (out, v) = job(
        download("in/none.txt", "TEXT"),
        json!({"errorExpression": "=if error.code = \"NoSuchKey\" then bpmnError(\"NOT_FOUND\", error.message) else null"}),
        &[],
    );
    assert!(out.status.success());
    assert_eq!(
        (v["outcome"].clone(), v["errorCode"].clone()),
        (json!("bpmnError"), json!("NOT_FOUND")),
        "{v}"
    );

    // Files the command cannot use are its own errors.
    let (out, _) = job(download("in/a.txt", "TEXT"), json!({"retries": 3}), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a string"));
    drop(server);
}

#[test]
fn serve_refuses_a_token_shorter_than_16_characters() {
    let out = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--token", "short-token"])
        .output()
        .expect("serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(
        !stderr.contains("short-token"),
        "the token must not be echoed: {stderr}"
    );
}

/// A listener on loopback that counts the connections it accepts.
fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// `s3-connector job` guards the endpoints a job names: loopback makes no connection and fails
/// at once, unless the operator allows it. The command's own secret never shows in the outcome.
#[test]
fn job_endpoints_and_secrets_are_guarded_in_the_job_command() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (port, count) = counting_listener();
    let vars = tmp.path().join("vars.json");
    std::fs::write(
        &vars,
        json!({
            "authentication": {"type": "credentials", "accessKey": "AKIA", "secretKey": "{{secrets.AWS_SECRET_ACCESS_KEY}}"},
            "configuration": {"region": "us-east-1", "endpoint": format!("http://127.0.0.1:{port}")},
            "actionDiscriminator": "deleteObject",
            "action": {"bucket": "bkt", "key": "k"}
        })
        .to_string(),
    )
    .expect("vars");
    let job = |allow: Option<&str>| {
        let mut c = bin();
        c.env("AWS_SECRET_ACCESS_KEY", "the-commands-own-secret");
        c.env("CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_PREFIX", "");
        if let Some(a) = allow {
            c.env("S3_CONNECTOR_ALLOW_ADDRESSES", a);
        }
        let out = c
            .args([
                "--documents",
                "memory",
                "job",
                "--variables",
                vars.to_str().expect("utf8"),
            ])
            .output()
            .expect("job");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains("the-commands-own-secret"), "{text}");
        serde_json::from_str::<Value>(&text).expect("outcome")
    };
    let refused = job(None);
    assert_eq!(refused["outcome"], "fail", "{refused}");
    assert_eq!(refused["retries"], 0, "{refused}");
    assert_eq!(refused["variables"]["error"]["code"], "InvalidInput", "{refused}");
    assert!(
        refused["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("S3_CONNECTOR_ALLOW_ADDRESSES")),
        "{refused}"
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a refused endpoint was reached"
    );
    let allowed = job(Some("127.0.0.1"));
    assert_eq!(allowed["outcome"], "fail", "the listener is no S3 store: {allowed}");
    assert!(
        count.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the allowed endpoint was not reached"
    );
}

/// With the widest secret scope (an empty prefix), a job's `{{secrets.NAME}}` still never
/// resolves the command's own settings: the document the job uploads keeps the placeholders as
/// written, and an ordinary variable resolves.
#[test]
fn job_secrets_never_resolve_the_commands_own_settings() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_server, env) = serve_s3(&tmp.path().join("served"));
    let get = |k: &str| env_value(&env, k);
    let client = |args: &[&str]| {
        let mut c = bin();
        c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.args(args).output().expect("client")
    };
    assert!(client(&["create-bucket", "leak"]).status.success());
    let content = "{{secrets.AWS_SECRET_ACCESS_KEY}}|{{secrets.S3_CONNECTOR_TOKEN}}|{{secrets.ZEEBE_CLIENT_SECRET}}|{{secrets.COPY_OF_TOKEN}}|{{secrets.COPY_OF_CLUSTER_SECRET}}|{{secrets.JOB_TEST_PLAIN}}";
    let vars = tmp.path().join("vars.json");
    std::fs::write(
        &vars,
        json!({
            "authentication": {"type": "credentials", "accessKey": get("AWS_ACCESS_KEY_ID"), "secretKey": get("AWS_SECRET_ACCESS_KEY")},
            "configuration": {"region": "us-east-1", "endpoint": get("AWS_ENDPOINT_URL")},
            "actionDiscriminator": "uploadObject",
            "action": {"bucket": "leak", "key": "leak.txt", "document": {"camunda.document.type": "inline", "content": content, "name": "leak.txt"}}
        })
        .to_string(),
    )
    .expect("vars");
    let mut c = bin();
    c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c.env("S3_CONNECTOR_TOKEN", "the-commands-own-token-0123456789");
    c.env("ZEEBE_CLIENT_SECRET", "the-commands-cluster-secret");
    // The same values under names no rule refuses: refused by value.
    c.env("COPY_OF_TOKEN", "the-commands-own-token-0123456789");
    c.env("COPY_OF_CLUSTER_SECRET", "the-commands-cluster-secret");
    c.env("JOB_TEST_PLAIN", "ordinary-value");
    c.env("CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_PREFIX", "");
    let out = c
        .args([
            "--documents",
            "memory",
            "job",
            "--variables",
            vars.to_str().expect("utf8"),
        ])
        .output()
        .expect("job");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("outcome");
    assert_eq!(outcome["outcome"], "complete", "{outcome}");
    let stored = client(&["get-object", "leak", "leak.txt"]);
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));
    assert_eq!(
        String::from_utf8_lossy(&stored.stdout),
        "{{secrets.AWS_SECRET_ACCESS_KEY}}|{{secrets.S3_CONNECTOR_TOKEN}}|{{secrets.ZEEBE_CLIENT_SECRET}}|{{secrets.COPY_OF_TOKEN}}|{{secrets.COPY_OF_CLUSTER_SECRET}}|ordinary-value"
    );
}

#[test]
fn a_profile_brings_its_endpoint_and_an_unknown_one_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_server, env) = serve_s3(&tmp.path().join("served"));
    let endpoint = env_value(&env, "AWS_ENDPOINT_URL");
    let config = tmp.path().join("config");
    let credentials = tmp.path().join("credentials");
    std::fs::write(
        &config,
        format!(
            "[profile local]\nregion = us-east-1\nendpoint_url = {endpoint}\n\n[profile viaservices]\nregion = us-east-1\nservices = here\n\n[services here]\ns3 =\n  endpoint_url = {endpoint}\n"
        ),
    )
    .expect("config");
    let keys = format!(
        "aws_access_key_id = {}\naws_secret_access_key = {}\n",
        env_value(&env, "AWS_ACCESS_KEY_ID"),
        env_value(&env, "AWS_SECRET_ACCESS_KEY")
    );
    std::fs::write(&credentials, format!("[local]\n{keys}\n[viaservices]\n{keys}")).expect("credentials");
    let client = |args: &[&str], profile_env: Option<&str>| {
        let mut c = bin();
        c.env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
        if let Some(p) = profile_env {
            c.env("AWS_PROFILE", p);
        }
        c.args(args).output().expect("client")
    };
    let made = client(&["--profile", "local", "create-bucket", "from-profile"], None);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    for (args, profile_env) in [
        (vec!["--profile", "local", "list-buckets"], None),
        (vec!["--profile", "viaservices", "list-buckets"], None),
        (vec!["list-buckets"], Some("local")),
    ] {
        let out = client(&args, profile_env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("from-profile"),
            "{args:?} {profile_env:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = client(&["--profile", "nosuch", "list-buckets"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the config profile (nosuch) could not be found") && stderr.contains("local, viaservices")
            || stderr.contains("viaservices, local"),
        "{stderr}"
    );
    assert!(!stderr.contains("IMDS"), "{stderr}");
}

#[test]
fn a_reader_that_goes_away_is_a_normal_end() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "big"], None)
        .status
        .success());
    let payload: Vec<u8> = (0..(3 * 1024 * 1024)).map(|i| (i % 251) as u8).collect();
    assert!(run(
        &["--embedded", data, "put-object", "big", "big.bin", "-"],
        Some(&payload)
    )
    .status
    .success());
    for i in 0..5 {
        let request = json!({"action": "putObject", "bucket": "big", "key": format!("many/{i:04}"), "content": "x"});
        let _ = exec(&d, request);
    }
    // `| head -c 10` and `| head -1`: the reader closes after a few bytes.
    for args in [
        vec!["--embedded", data, "get-object", "big", "big.bin", "-"],
        vec!["--embedded", data, "--output", "jsonl", "list-objects", "big"],
        vec!["--embedded", data, "completions", "bash"],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 10];
        std::io::Read::read_exact(&mut stdout, &mut first).expect("first bytes");
        drop(stdout);
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn stdin_is_read_only_on_an_explicit_dash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    assert!(run(&["--embedded", data, "create-bucket", "typos"], None)
        .status
        .success());
    for args in [
        vec!["--embedded", data, "put-object", "typos", "typo.bin"],
        vec!["--embedded", data, "exec"],
        vec!["--documents", "memory", "documents", "put"],
    ] {
        // Stdin is a pipe that is never closed: a command that read it would hang here.
        let mut child = bin()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let _stdin = child.stdin.take();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{args:?} waits for stdin"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
    let listed = exec(&d, json!({"action": "listObjects", "bucket": "typos"}));
    assert_eq!(listed["objects"], json!([]), "nothing was uploaded");
    let out = run(
        &[
            "--embedded",
            data,
            "put-object",
            "typos",
            "k",
            "--metadata",
            "novalue",
            "-",
        ],
        Some(b"x"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));
}

#[test]
fn quiet_and_output_formats() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    let out = run(&["--embedded", data, "--quiet", "create-bucket", "fmt"], None);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "--quiet prints no banner");
    for key in ["a.txt", "b.txt", "dir/c.txt"] {
        assert!(run(
            &["-q", "--embedded", data, "put-object", "fmt", key, "--content", key],
            None
        )
        .status
        .success());
    }
    let out = run(
        &[
            "-q",
            "--embedded",
            data,
            "--output",
            "jsonl",
            "list-objects",
            "fmt",
            "--delimiter",
            "/",
        ],
        None,
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        (lines[0]["key"].as_str(), lines[1]["key"].as_str()),
        (Some("a.txt"), Some("b.txt"))
    );
    assert_eq!(lines[2], json!({"prefix": "dir/"}));
    let out = run(
        &[
            "-q",
            "--embedded",
            data,
            "--output",
            "jsonl",
            "head-object",
            "fmt",
            "a.txt",
        ],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = run(
        &["-q", "--embedded", data, "--json", "head-object", "fmt", "a.txt"],
        None,
    );
    let head: Value = serde_json::from_slice(&out.stdout).expect("--json is JSON");
    assert_eq!(head["size"], 5);
}

#[test]
fn completions_and_man_pages_are_made_from_the_parser() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("put-object"), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh"], None).status.code(), Some(2));
    let out = run(&["man"], None);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && page.contains(".TH s3-connector") && page.contains("list\\-objects"),
        "{page}"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("man1");
    assert!(run(&["man", "--dir", dir.to_str().expect("utf8")], None)
        .status
        .success());
    for page in ["s3-connector.1", "s3-connector-put-object.1", "s3-connector-serve.1"] {
        assert!(dir.join(page).is_file(), "{page} in {:?}", files_under(&dir));
    }
}

#[test]
fn ls_and_cat_take_s3_addresses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("data");
    let data = d.to_str().expect("utf8");
    let q = |args: &[&str]| {
        let mut all = vec!["-q", "--embedded", data];
        all.extend_from_slice(args);
        let out = run(&all, None);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(q(&["create-bucket", "verbs"]).0, Some(0));
    // 1,005 keys under many/: more than one page of 1,000.
    let mut batch = String::new();
    for i in 0..1005 {
        batch.push_str(
            &json!({"action": "putObject", "bucket": "verbs", "key": format!("many/{i:04}.txt"), "content": "x"})
                .to_string(),
        );
        batch.push('\n');
    }
    for (key, content) in [
        ("top.txt", "top"),
        ("logs/2026-01.gz", "g1"),
        ("logs/2026/02.gz", "g22"),
        ("logs/2025-12.gz", "old"),
    ] {
        batch.push_str(&json!({"action": "putObject", "bucket": "verbs", "key": key, "content": content}).to_string());
        batch.push('\n');
    }
    let out = run(
        &["-q", "--embedded", data, "exec", "--batch", "-", "--jobs", "32"],
        Some(batch.as_bytes()),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (code, buckets, _) = q(&["ls"]);
    assert_eq!(code, Some(0));
    assert!(buckets.lines().any(|l| l.ends_with(" verbs")), "{buckets}");

    let (_, top, _) = q(&["ls", "s3://verbs"]);
    let names: Vec<&str> = top.lines().map(|l| l.rsplit(' ').next().unwrap_or_default()).collect();
    assert_eq!(names, ["logs/", "many/", "top.txt"], "{top}");
    assert!(
        top.lines()
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with("PRE logs/"),
        "{top}"
    );

    let (_, logs, _) = q(&["ls", "s3://verbs/logs/"]);
    let names: Vec<&str> = logs.lines().map(|l| l.rsplit(' ').next().unwrap_or_default()).collect();
    assert_eq!(
        names,
        ["2026/", "2025-12.gz", "2026-01.gz"],
        "names relative to the prefix: {logs}"
    );

    let (_, all, _) = q(&["ls", "--recursive", "--summarize", "s3://verbs/many/"]);
    let objects = all.lines().filter(|l| l.contains(" many/")).count();
    assert_eq!(objects, 1005, "every page");
    assert!(
        all.contains("Total Objects: 1005") && all.contains("Total Size: 1005"),
        "{all}"
    );

    let (_, matched, _) = q(&["ls", "s3://verbs/logs/2026*.gz"]);
    let keys: Vec<&str> = matched
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        ["logs/2026-01.gz", "logs/2026/02.gz"],
        "`*` crosses `/`: {matched}"
    );

    let (_, human, _) = q(&["ls", "-H", "s3://verbs/logs/2026-01.gz"]);
    assert!(human.contains("2 B "), "{human}");

    let (_, lines, _) = q(&["--output", "jsonl", "ls", "s3://verbs/logs/"]);
    let parsed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(parsed[0], json!({"prefix": "logs/2026/"}));
    assert_eq!(parsed[1]["key"], "logs/2025-12.gz");
    assert_eq!(parsed[1]["size"], 3);

    let (code, body, _) = q(&["cat", "s3://verbs/logs/2026/02.gz"]);
    assert_eq!((code, body.as_str()), (Some(0), "g22"));
    for (args, status) in [
        (vec!["cat", "s3://verbs/logs/"], 2),
        (vec!["cat", "verbs/top.txt"], 2),
        (vec!["cat", "s3://verbs/nosuch"], 4),
        (vec!["ls", "s3://no-such-bucket-here/"], 3),
        (vec!["ls", "s3://verbs/[x"], 2),
    ] {
        let (code, _, stderr) = q(&args);
        assert_eq!(code, Some(status), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error["), "{args:?}: {stderr}");
    }
}
