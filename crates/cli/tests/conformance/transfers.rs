//! Transfers: large and streamed uploads, downloads, failures half-way, and multipart
//! uploads left behind.

use std::path::Path;
use std::sync::Arc;

use s3_connector::{ErrorCode, Streams, TransferSettings};
use serde_json::{json, Value};

use crate::front::Ctx;
use crate::support::{self, pseudo_random, FailingReader, Proxy};

fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba).unwrap_or(0);
        let mut nb = 0;
        while nb < na {
            match fb.read(&mut bb[nb..na]) {
                Ok(0) | Err(_) => return false,
                Ok(n) => nb += n,
            }
        }
        if na == 0 {
            return fb.read(&mut bb).map(|n| n == 0).unwrap_or(false);
        }
        if ba[..na] != bb[..na] {
            return false;
        }
    }
}

/// 100 MiB up in parts and down in parallel ranges, byte for byte, with no temp file left.
pub async fn large_multipart_round_trip(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    const SIZE: usize = 100 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("big.bin");
    std::fs::write(&src, pseudo_random(SIZE, 42)).expect("write 100 MiB");
    let put = t.put_file(b, "big/100mib.bin", &src, json!({})).await;
    assert_eq!(put["size"], SIZE);
    assert_eq!(put["parts"], 13, "{}: 100 MiB in 8 MiB parts", t.name);
    let head = t
        .ok(json!({"action": "headObject", "bucket": b, "key": "big/100mib.bin"}))
        .await;
    assert_eq!(head["size"], SIZE);
    let back = dir.path().join("back.bin");
    let got = t
        .get_file(b, "big/100mib.bin", &back)
        .await
        .unwrap_or_else(|e| panic!("{}: download: {e}", t.name));
    assert_eq!(got["size"], SIZE);
    assert!(same_file(&src, &back), "{}: 100 MiB round trip differs", t.name);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{}: temp files left: {leftovers:?}", t.name);
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "big/100mib.bin"}))
        .await;
}

/// An upload of unknown length: multipart when long, one PUT when short.
pub async fn stream_upload(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let content = pseudo_random(20 * 1024 * 1024 + 123, 7);
    let put = t.put_stream(b, "stream.bin", content.clone()).await;
    assert_eq!(put["size"], content.len());
    assert!(
        put["parts"].as_u64().unwrap_or(0) >= 2,
        "{}: stream upload should be multipart: {put}",
        t.name
    );
    assert_eq!(
        t.get_bytes(b, "stream.bin").await,
        content,
        "{}: stream round trip",
        t.name
    );
    // A short stream is one PUT.
    let put = t.put_stream(b, "short.txt", b"short".to_vec()).await;
    assert_eq!(put["parts"], 0);
    assert_eq!(t.get_bytes(b, "short.txt").await, b"short");
    t.ok(json!({"action": "deleteObjects", "bucket": b, "keys": ["stream.bin", "short.txt"]}))
        .await;
}

pub async fn no_uploads_in_progress(t: &Ctx, b: &str) {
    // Through the action, which reads rclone's NoSuchUpload for a bucket that never had an
    // upload as "none" (docs/stores.md).
    let listed = t.ok(json!({"action": "listMultipartUploads", "bucket": b})).await;
    assert_eq!(
        listed["uploads"],
        json!([]),
        "{}: orphaned multipart uploads: {listed}",
        t.name
    );
}

/// listMultipartUploads and abortMultipartUploads on uploads another client left behind: ages
/// are respected, a prefix-wide abort needs an age, `maxUploads` truncates, a dry run aborts
/// nothing, a mistyped upload id is a failure, and in the end nothing is left open.
///
/// The keys have no `/`: rclone keeps the folder of an aborted upload's key on disk, and then
/// refuses to delete the bucket (docs/stores.md).
pub async fn uploads_left_behind(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    // moto reports every upload as started on 2010-11-10, so all of them look old there.
    let ages_known = t.name != "moto";
    let c = t.conn.client();
    let mut started = Vec::new();
    for key in ["stale-a.bin", "stale-b.bin", "stale-c d+e.bin"] {
        let up = c
            .create_multipart_upload()
            .bucket(b)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: CreateMultipartUpload: {e:?}", t.name));
        let id = up.upload_id().expect("upload id").to_string();
        c.upload_part()
            .bucket(b)
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(aws_sdk_s3::primitives::ByteStream::from(vec![b'p'; 4096]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: UploadPart: {e:?}", t.name));
        started.push((key.to_string(), id));
    }
    let listed_keys = |v: &Value, field: &str| -> Vec<String> {
        let mut keys: Vec<String> = v[field]
            .as_array()
            .map(|a| a.iter().filter_map(|u| u["key"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        keys.sort();
        keys
    };
    let all: Vec<String> = started.iter().map(|(k, _)| k.clone()).collect();
    let list = |age: Option<&str>| {
        let mut req = json!({"action": "listMultipartUploads", "bucket": b, "prefix": "stale-"});
        if let Some(a) = age {
            req["olderThan"] = json!(a);
        }
        t.ok(req)
    };
    let listed = list(None).await;
    assert_eq!(listed_keys(&listed, "uploads"), all, "{}: {listed}", t.name);
    assert!(
        listed["uploads"]
            .as_array()
            .is_some_and(|a| a.iter().all(|u| u["uploadId"].as_str().is_some_and(|i| !i.is_empty()))),
        "{}: {listed}",
        t.name
    );
    let young_ones = if ages_known { Vec::new() } else { all.clone() };
    assert_eq!(
        listed_keys(&list(Some("1h")).await, "uploads"),
        young_ones,
        "{}: all are young",
        t.name
    );

    let message = t
        .fails(
            json!({"action": "abortMultipartUploads", "bucket": b, "prefix": "stale-"}),
            ErrorCode::InvalidInput,
        )
        .await;
    assert!(message.contains("olderThan"), "{}: {message}", t.name);
    if ages_known {
        let young = t
            .ok(json!({"action": "abortMultipartUploads", "bucket": b, "prefix": "stale-", "olderThan": "1h"}))
            .await;
        assert_eq!(
            listed_keys(&young, "aborted"),
            Vec::<String>::new(),
            "{}: {young}",
            t.name
        );
    }
    let dry = t.ok(json!({"action": "abortMultipartUploads", "bucket": b, "prefix": "stale-", "olderThan": "0s", "maxUploads": 2, "dryRun": true}),
    )
    .await;
    assert_eq!(dry["aborted"].as_array().map(Vec::len), Some(2), "{}: {dry}", t.name);
    assert_eq!(dry["truncated"], true, "{}: {dry}", t.name);
    assert_eq!(
        listed_keys(&list(None).await, "uploads"),
        all,
        "{}: a dry run or an age aborts nothing",
        t.name
    );

    for dry_run in [true, false] {
        let typo = t.ok(json!({"action": "abortMultipartUploads", "bucket": b, "key": started[0].0, "uploadId": format!("{}x", started[0].1), "dryRun": dry_run}),
        )
        .await;
        assert_eq!(typo["aborted"], json!([]), "{}: {typo}", t.name);
        assert_eq!(typo["failed"][0]["code"], "NoSuchKey", "{}: {typo}", t.name);
    }
    let dry_one = t.ok(json!({"action": "abortMultipartUploads", "bucket": b, "key": started[0].0, "uploadId": started[0].1, "dryRun": true}),
    )
    .await;
    assert_eq!(
        listed_keys(&dry_one, "aborted"),
        vec![started[0].0.clone()],
        "{}: {dry_one}",
        t.name
    );
    let one = t
        .ok(json!({"action": "abortMultipartUploads", "bucket": b, "key": started[0].0, "uploadId": started[0].1}))
        .await;
    assert_eq!(
        listed_keys(&one, "aborted"),
        vec![started[0].0.clone()],
        "{}: {one}",
        t.name
    );
    let rest = t
        .ok(json!({"action": "abortMultipartUploads", "bucket": b, "prefix": "stale-", "olderThan": "0s"}))
        .await;
    assert_eq!(listed_keys(&rest, "aborted"), all[1..].to_vec(), "{}: {rest}", t.name);
    assert_eq!(
        (rest["failed"].clone(), rest["truncated"].clone()),
        (json!([]), json!(false)),
        "{}: {rest}",
        t.name
    );
    no_uploads_in_progress(t, b).await;
}

/// A source that fails mid-upload: the old object survives, no new one appears, and no
/// multipart upload is left open.
pub async fn failed_upload_leaves_nothing(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    t.ok(json!({"action": "putObject", "bucket": b, "key": "fail/target", "content": "original"}))
        .await;
    let streams = Streams {
        input: Some(Box::new(FailingReader { left: 12 * 1024 * 1024 })),
        ..Default::default()
    };
    let err = support::act_with(
        &t.conn,
        json!({"action": "putObject", "bucket": b, "key": "fail/target"}),
        streams,
    )
    .await
    .expect_err("the upload must fail");
    assert_eq!(err.code, ErrorCode::LocalIo, "{}: {err}", t.name);
    assert_eq!(
        t.get_bytes(b, "fail/target").await,
        b"original",
        "{}: the old object must survive",
        t.name
    );
    no_uploads_in_progress(t, b).await;
    // The same for a key that did not exist: no half-written object appears.
    let streams = Streams {
        input: Some(Box::new(FailingReader { left: 9 * 1024 * 1024 })),
        ..Default::default()
    };
    support::act_with(
        &t.conn,
        json!({"action": "putObject", "bucket": b, "key": "fail/new"}),
        streams,
    )
    .await
    .expect_err("fails");
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "fail/new"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    no_uploads_in_progress(t, b).await;
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "fail/target"}))
        .await;
}

/// A failed download leaves an existing target as it was, and creates no new one.
pub async fn failed_download_leaves_the_target_alone(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("target.bin");
    std::fs::write(&target, b"keep me").expect("write");
    let err = t.get_file(b, "no/such", &target).await.expect_err("no such key");
    assert_eq!(err.code, ErrorCode::NoSuchKey, "{}: {err}", t.name);
    assert_eq!(std::fs::read(&target).expect("read"), b"keep me");
    let fresh = dir.path().join("fresh.bin");
    let err = t.get_file(b, "no/such", &fresh).await.expect_err("no such key");
    assert_eq!(err.code, ErrorCode::NoSuchKey, "{}: {err}", t.name);
    assert!(!fresh.exists());
}

/// The object is replaced after the first part of a parallel download arrives: the remaining
/// ranged GETs are pinned to the first ETag, so the download fails and nothing lands at the
/// target.
pub async fn download_of_a_changing_object_fails(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("target.bin");
    std::fs::write(&target, b"keep me").expect("write");
    let v1 = pseudo_random(24 * 1024 * 1024, 3);
    t.put_bytes(b, "changing.bin", &v1).await;
    // v2 has the same size, so only the ETag pin (If-Match) can tell the versions apart.
    let conn = t.conn.clone();
    let bucket = b.to_string();
    let hook: support::Hook = Arc::new(move || {
        let (conn, bucket) = (conn.clone(), bucket.clone());
        Box::pin(async move {
            let dir = tempfile::tempdir().expect("tmp");
            let f = dir.path().join("v2");
            std::fs::write(&f, pseudo_random(24 * 1024 * 1024, 4)).expect("write v2");
            support::act(
                &conn,
                json!({"action": "putObject", "bucket": bucket, "key": "changing.bin", "file": f}),
            )
            .await
            .expect("replace mid-download");
        })
    });
    let proxy = Proxy::start(t.addr(), Some(("range: bytes=8388608-".into(), hook))).await;
    let via = t
        .with_transfer_through(
            &proxy,
            TransferSettings {
                concurrency: 2,
                ..Default::default()
            },
        )
        .await;
    let outcome = support::act(
        &via,
        json!({"action": "getObject", "bucket": b, "key": "changing.bin", "file": target}),
    )
    .await;
    if t.name == "rclone" {
        // rclone ignores If-Match on GET, and may go on serving the version it had open; every
        // part's ETag is compared with the first's, so what arrives is one version or an error.
        if outcome.is_ok() {
            let got = std::fs::read(&target).expect("read");
            let v2 = pseudo_random(24 * 1024 * 1024, 4);
            assert!(got == v1 || got == v2, "rclone: a download mixed two versions");
            t.put_bytes(b, "changing.bin", b"reset").await;
            std::fs::write(&target, b"keep me").expect("write");
            t.ok(json!({"action": "deleteObject", "bucket": b, "key": "changing.bin"}))
                .await;
            return;
        }
    }
    let err = outcome.expect_err("download of a changing object must fail");
    assert_eq!(err.code, ErrorCode::PreconditionFailed, "{}: {err}", t.name);
    assert_eq!(
        std::fs::read(&target).expect("read"),
        b"keep me",
        "{}: target must be untouched",
        t.name
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "{}: temp files left behind: {left:?}", t.name);
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "changing.bin"}))
        .await;
}

trait ThroughProxy {
    async fn with_transfer_through(&self, proxy: &Proxy, transfer: TransferSettings) -> s3_connector::Connector;
}

impl ThroughProxy for crate::support::Target {
    async fn with_transfer_through(&self, proxy: &Proxy, transfer: TransferSettings) -> s3_connector::Connector {
        let mut s = self.settings.clone();
        s.endpoint = Some(format!("http://{}", proxy.addr));
        s.transfer = Some(transfer);
        s3_connector::Connector::connect(s).await.expect("connector")
    }
}
