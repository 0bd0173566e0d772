//! Listings.

use s3_connector::ErrorCode;
use serde_json::json;

use crate::front::{keys_of, Ctx};

/// Delimiters, common prefixes, startAfter and continuation tokens; a key that is only a
/// prefix of others names no object.
pub async fn listing(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    for key in ["l/a/1", "l/a/2", "l/b/1", "l/c.txt", "m/x"] {
        t.ok(json!({"action": "putObject", "bucket": b, "key": key, "content": key}))
            .await;
    }
    let v = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "l/", "delimiter": "/"}))
        .await;
    assert_eq!(v["commonPrefixes"], json!(["l/a/", "l/b/"]), "{}: {v}", t.name);
    let objects: Vec<&str> = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(objects, ["l/c.txt"]);
    assert_eq!(v["objects"][0]["bucket"], b);
    assert_eq!(v["objects"][0]["size"], 7);
    assert!(v["objects"][0]["etag"].as_str().is_some_and(|e| !e.contains('"')));
    // A key that is only a prefix of other keys names no object.
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "l/a"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    let err = t.get(b, "l", json!({})).await.expect_err("no object at a prefix");
    assert_eq!(err.code, ErrorCode::NoSuchKey, "{}: {err}", t.name);
    if t.name == "rclone" {
        // rclone serve s3 keeps objects as files: a key that is a directory of other keys gets
        // 500 InternalError on DeleteObject, where S3 succeeds (nothing to delete). Recorded in
        // docs/stores.md; the other stores must succeed.
        let err = t
            .act(json!({"action": "deleteObject", "bucket": b, "key": "l/a"}))
            .await
            .expect_err("rclone refuses to delete a directory key");
        assert_eq!(err.code, ErrorCode::ServiceError, "{err}");
    } else {
        t.ok(json!({"action": "deleteObject", "bucket": b, "key": "l/a"})).await;
    }
    assert_eq!(
        t.get_bytes(b, "l/a/1").await,
        b"l/a/1",
        "{}: deleting a prefix key touched keys below it",
        t.name
    );
    let p = t.ok(json!({"action": "listPrefixes", "bucket": b})).await;

    assert_eq!(p["prefixes"], json!([{"prefix": "l/"}, {"prefix": "m/"}]), "{}", t.name);
    let p = t
        .ok(json!({"action": "listPrefixes", "bucket": b, "prefix": "l/"}))
        .await;
    assert_eq!(p["prefixes"], json!([{"prefix": "l/a/"}, {"prefix": "l/b/"}]));
    assert_eq!(
        keys_of(
            &t.ok(json!({"action": "listObjects", "bucket": b, "prefix": "l/", "startAfter": "l/a/2"}))
                .await
        ),
        ["l/b/1", "l/c.txt"]
    );
    let first = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "l/", "maxKeys": 3}))
        .await;
    assert_eq!(keys_of(&first), ["l/a/1", "l/a/2", "l/b/1"]);
    assert_eq!(first["isTruncated"], true);
    let token = first["nextContinuationToken"].as_str().expect("token").to_string();
    let rest = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "l/", "continuationToken": token}))
        .await;
    assert_eq!(keys_of(&rest), ["l/c.txt"]);
    assert_eq!(rest["isTruncated"], false);
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": ""}))
        .await;
}

/// Listings past S3's 1,000-key pages, capped and resumed.
pub async fn pagination(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    const N: usize = 1100;
    let puts = (0..N)
        .map(|i| json!({"action": "putObject", "bucket": b, "key": format!("page/{i:04}/obj"), "content": "p"}))
        .collect();
    for r in t.act_many(puts).await {
        r.unwrap_or_else(|e| panic!("{}: put for pagination: {e}", t.name));
    }
    let all = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "page/"}))
        .await;
    let listed = keys_of(&all);
    let expected: Vec<String> = (0..N).map(|i| format!("page/{i:04}/obj")).collect();
    assert_eq!(listed, expected, "{}: listObjects past 1000", t.name);
    assert_eq!(all["isTruncated"], false);
    let prefixes = t
        .ok(json!({"action": "listPrefixes", "bucket": b, "prefix": "page/"}))
        .await;
    assert_eq!(
        prefixes["prefixes"].as_array().map(Vec::len),
        Some(N),
        "{}: listPrefixes past 1000",
        t.name
    );
    let capped = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "page/", "maxKeys": 1050}))
        .await;
    assert_eq!(keys_of(&capped).len(), 1050);
    assert_eq!(capped["isTruncated"], true);
    let token = capped["nextContinuationToken"].as_str().expect("token");
    let rest = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "page/", "continuationToken": token}))
        .await;
    assert_eq!(
        keys_of(&rest),
        expected[1050..].to_vec(),
        "{}: resume with token",
        t.name
    );
    let deleted = t
        .ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "page/"}))
        .await;
    assert_eq!(deleted["deleted"], N, "{}: {}", t.name, deleted["failed"]);
    assert_eq!(deleted["failed"], 0);
    assert!(t.keys(b, "page/").await.is_empty());
}
