//! Buckets and deletes.

use s3_connector::ErrorCode;
use serde_json::json;

use crate::front::Ctx;

/// Buckets are created (by `new_bucket`, through the front end), found, listed by prefix,
/// refused a second time, and a missing one is told apart.
pub async fn buckets(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let b2 = t.new_bucket("other").await;
    let b2 = b2.as_str();
    let head = t.ok(json!({"action": "headBucket", "bucket": b})).await;
    assert_eq!(head["exists"], true);
    let names = t.bucket_names().await;
    assert!(
        names.contains(&b.to_string()) && names.contains(&b2.to_string()),
        "{}: {names:?}",
        t.name
    );
    let only_main = t.ok(json!({"action": "listBuckets", "prefix": b})).await;
    assert_eq!(
        only_main["buckets"].as_array().map(Vec::len),
        Some(1),
        "{}: prefix filter: {only_main}",
        t.name
    );
    assert_eq!(only_main["buckets"][0]["name"], b);
    // Creating it again: S3 outside us-east-1, the embedded store and Garage refuse; AWS's legacy us-east-1
    // answers 200 to the owner. Either way nothing changes, and a refusal has our code.
    if let Err(e) = t.act(json!({"action": "createBucket", "bucket": b})).await {
        assert_eq!(e.code, ErrorCode::BucketAlreadyExists, "{}: {e}", t.name);
    }
    let missing = t.bucket("missing");
    t.fails(
        json!({"action": "headBucket", "bucket": missing}),
        ErrorCode::NoSuchBucket,
    )
    .await;
    t.fails(
        json!({"action": "deleteBucket", "bucket": missing}),
        ErrorCode::NoSuchBucket,
    )
    .await;
}

/// Deleting one object, several (a missing key counts as deleted), and a bucket that is not
/// empty (refused).
pub async fn deletes(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "never/existed"}))
        .await;
    t.ok(json!({"action": "putObject", "bucket": b, "key": "del/one", "content": "1"}))
        .await;
    let d = t
        .ok(json!({"action": "deleteObject", "bucket": b, "key": "del/one"}))
        .await;
    assert_eq!(d, json!({"bucket": b, "key": "del/one"}));
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "del/one"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    t.ok(json!({"action": "putObject", "bucket": b, "key": "del/two", "content": "2"}))
        .await;
    let many = t
        .ok(json!({"action": "deleteObjects", "bucket": b, "keys": ["del/two", "del/missing"]}))
        .await;
    assert_eq!(many["deleted"], 2, "{}: {many}", t.name);
    assert_eq!(many["results"][1], json!({"key": "del/missing", "deleted": true}));
    // A bucket with an object in it is not deleted.
    t.ok(json!({"action": "putObject", "bucket": b, "key": "del/keep", "content": "k"}))
        .await;
    t.fails(
        json!({"action": "deleteBucket", "bucket": b}),
        ErrorCode::BucketNotEmpty,
    )
    .await;
    assert_eq!(t.get_bytes(b, "del/keep").await, b"k");
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "del/keep"}))
        .await;
}
