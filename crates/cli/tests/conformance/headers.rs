//! Object headers: Cache-Control, Content-Disposition, Content-Encoding, Expires.

use s3_connector::ErrorCode;
use serde_json::{json, Value};

use crate::front::Ctx;

/// Cache-Control, Content-Disposition, Content-Encoding and Expires: stored by a put, shown
/// by head, kept by a copy, and kept for those not replaced when a copy replaces one (S3's
/// metadata directive REPLACE drops what it is not given; the connector gives the source's).
pub async fn object_headers(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let head = |key: &str| json!({"action": "headObject", "bucket": b, "key": key});
    t.ok(
        json!({"action": "putObject", "bucket": b, "key": "headers/a.txt", "content": "with headers",
               "cacheControl": "max-age=60", "contentDisposition": "attachment; filename=\"a.txt\"",
               "contentEncoding": "identity", "expires": "2030-01-02T03:04:05Z"}),
    )
    .await;
    let h = t.ok(head("headers/a.txt")).await;
    let expected = json!({"cacheControl": "max-age=60", "contentDisposition": "attachment; filename=\"a.txt\"",
                          "contentEncoding": "identity", "expires": "2030-01-02T03:04:05Z"});
    for (name, value) in expected.as_object().into_iter().flatten() {
        if name == "expires" && !t.keeps_expires {
            assert_eq!(h[name], Value::Null, "{}: {h}", t.name);
            continue;
        }
        assert_eq!(&h[name], value, "{}: {name} after a put: {h}", t.name);
    }
    t.ok(json!({"action": "copyObject", "bucket": b, "key": "headers/a.txt", "destinationKey": "headers/kept.txt"}))
        .await;
    let kept = t.ok(head("headers/kept.txt")).await;
    assert_eq!(kept["cacheControl"], "max-age=60", "{}: {kept}", t.name);
    t.ok(
        json!({"action": "copyObject", "bucket": b, "key": "headers/a.txt", "destinationKey": "headers/new.txt",
               "cacheControl": "no-store"}),
    )
    .await;
    let replaced = t.ok(head("headers/new.txt")).await;
    assert_eq!(replaced["cacheControl"], "no-store", "{}: {replaced}", t.name);
    assert_eq!(
        replaced["contentDisposition"], expected["contentDisposition"],
        "{}: {replaced}",
        t.name
    );
    assert_eq!(replaced["contentType"], h["contentType"], "{}: {replaced}", t.name);
    t.fails(
        json!({"action": "putObject", "bucket": b, "key": "headers/bad.txt", "content": "x", "expires": "tomorrow"}),
        ErrorCode::InvalidInput,
    )
    .await;
    t.fails(head("headers/bad.txt"), ErrorCode::NoSuchKey).await;
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "headers/"}))
        .await;
}
