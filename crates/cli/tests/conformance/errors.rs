//! Refusals: bad input, missing things, wrong credentials, dead stores.

use s3_connector::ErrorCode;
use serde_json::json;

use crate::front::{Ctx, Failure, Front};
use crate::support::{self, Proxy};

/// Requests the connector must refuse before sending anything: each is InvalidInput with a
/// message, and nothing is written.
pub async fn bad_input_sends_nothing(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    t.ok(json!({"action": "putObject", "bucket": b, "key": "bad/existing", "content": "unchanged"}))
        .await;
    let before_keys = t.keys(b, "").await;
    // The library's requests go through a proxy that counts bytes: none may reach the server.
    // The other front ends' go straight to the store; what is there afterwards must not change.
    let proxy = Proxy::start(t.addr(), None).await;
    let via = t.through(&proxy).await;
    let long_key = "k".repeat(1025);
    let rows = vec![
        json!({"action": "createBucket", "bucket": "Bad_Bucket"}),
        json!({"action": "createBucket", "bucket": "ab"}),
        json!({"action": "createBucket", "bucket": "192.168.0.1"}),
        json!({"action": "createBucket", "bucket": "xn--punycode"}),
        json!({"action": "createBucket", "bucket": "a..b"}),
        json!({"action": "createBucket", "bucket": "ends-with--ol-s3"}),
        json!({"action": "deleteBucket", "bucket": "-bad-"}),
        json!({"action": "putObject", "bucket": b, "key": "", "content": "x"}),
        json!({"action": "putObject", "bucket": b, "key": long_key, "content": "x"}),
        json!({"action": "putObject", "bucket": "UPPER", "key": "k", "content": "x"}),
        json!({"action": "putObject", "bucket": b, "key": "bad/existing", "content": "x", "metadata": {"bad name": "v"}}),
        json!({"action": "putObject", "bucket": b, "key": "bad/existing", "content": "x", "file": "/etc/hostname"}),
        json!({"action": "putObject", "bucket": b, "key": "bad/existing", "file": "/no/such/file"}),
        json!({"action": "putObject", "bucket": b, "key": "bad/existing"}),
        json!({"action": "getObject", "bucket": b, "key": "bad/existing", "range": "bytes=9-1", "file": "/tmp/x"}),
        json!({"action": "getObject", "bucket": b, "key": "bad/existing", "range": "lines=1-2", "file": "/tmp/x"}),
        json!({"action": "presignUrl", "bucket": b, "key": "k", "expiresIn": 0}),
        json!({"action": "presignUrl", "bucket": b, "key": "k", "expiresIn": 604801}),
        json!({"action": "presignUrl", "bucket": b, "key": "k", "method": "DELETE"}),
        json!({"action": "deleteObjects", "bucket": b}),
        json!({"action": "deleteObjects", "bucket": b, "keys": []}),
        json!({"action": "deleteObjects", "bucket": b, "keys": ["a"], "prefix": "b"}),
        json!({"action": "copyObject", "bucket": b, "key": "bad/existing"}),
        json!({"action": "moveObject", "bucket": b, "key": "bad/existing", "destinationBucket": b}),
        json!({"action": "moveObject", "bucket": b, "key": "bad/existing", "destinationBucket": "No_Such"}),
        json!({"action": "listObjects", "bucket": b, "maxKeys": 0}),
        json!({"action": "listObjects", "bucket": b, "delimiter": ""}),
        json!({"action": "listPrefixes", "bucket": "x"}),
        json!({"action": "headObject", "bucket": b}),
        json!({"action": "headObject", "bucket": b, "key": "k", "bukcet": "typo"}),
        json!({"action": "noSuchAction", "bucket": b}),
        json!({"bucket": b, "key": "k"}),
        json!({"action": "putObject", "bucket": b, "key": 42, "content": "x"}),
    ];
    for row in rows {
        let outcome = match t.front {
            Front::Library => support::act(&via, row.clone()).await.map_err(Failure::from),
            _ => t.act(row.clone()).await,
        };
        match outcome {
            Ok(v) => panic!("{}: {row} should be InvalidInput, gave {v}", t.name),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidInput, "{row}: {e}");
                assert!(!e.message.is_empty());
            }
        }
    }
    assert_eq!(
        proxy.client_bytes.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{}: bad input reached the server",
        t.name
    );
    assert_eq!(t.keys(b, "").await, before_keys);
    let names = t.bucket_names().await;
    for bad in [
        "Bad_Bucket",
        "ab",
        "192.168.0.1",
        "xn--punycode",
        "a..b",
        "ends-with--ol-s3",
        "UPPER",
    ] {
        assert!(
            !names.contains(&bad.to_string()),
            "{}: bucket {bad} was created",
            t.name
        );
    }
    assert_eq!(t.get_bytes(b, "bad/existing").await, b"unchanged");
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "bad/existing"}))
        .await;
}

/// The store's refusals, each with its code: a missing key or bucket.
pub async fn errors(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let missing = t.bucket("gone");
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "no/such/key"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    t.fails(
        json!({"action": "headObject", "bucket": missing, "key": "k"}),
        ErrorCode::NoSuchBucket,
    )
    .await;
    let err = t.get(b, "no/such/key", json!({})).await.expect_err("no such key");
    assert_eq!(err.code, ErrorCode::NoSuchKey, "{}: {err}", t.name);
    t.fails(
        json!({"action": "listObjects", "bucket": missing}),
        ErrorCode::NoSuchBucket,
    )
    .await;
    t.fails(
        json!({"action": "putObject", "bucket": missing, "key": "k", "content": "x"}),
        ErrorCode::NoSuchBucket,
    )
    .await;
}

/// Credentials the store refuses are InvalidCredentials, with no secret in the message; a
/// store that does not answer is a retryable Network error, quickly.
pub async fn wrong_credentials_and_dead_stores(t: &Ctx) {
    if t.checks_auth {
        let mut s = t.settings.clone();
        s.secret_access_key = Some(s3_connector::Secret::new("definitely-not-the-secret"));
        let wrong = s3_connector::Connector::connect(s).await.expect("connect");
        let err = support::act(&wrong, json!({"action": "listBuckets"}))
            .await
            .expect_err("wrong secret");
        assert_eq!(err.code, ErrorCode::InvalidCredentials, "{}: {err}", t.name);
        assert!(
            !err.message.contains("definitely-not-the-secret"),
            "secret leaked: {}",
            err.message
        );
    }
    // Nothing listens on this port: a network error, quickly, with one attempt.
    let mut s = t.settings.clone();
    s.endpoint = Some(format!("http://127.0.0.1:{}", closed_port()));
    s.max_attempts = Some(1);
    let dead = s3_connector::Connector::connect(s).await.expect("connect");
    let err = support::act(&dead, json!({"action": "listBuckets"}))
        .await
        .expect_err("no server");
    assert_eq!(err.code, ErrorCode::Network, "{err}");
    assert!(err.code.retryable());
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
