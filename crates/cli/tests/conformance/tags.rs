//! Object tags.

use s3_connector::ErrorCode;
use serde_json::json;

use crate::front::Ctx;

/// Tags: at write time (put, copy keeping or replacing them, a multipart upload), read,
/// replaced and removed. A store without tagging answers `NotSupported`, never a silent
/// no-op (docs/stores.md says which).
pub async fn tags(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let get_tags = |key: &str| json!({"action": "getObjectTagging", "bucket": b, "key": key});
    let put = t
        .act(
            json!({"action": "putObject", "bucket": b, "key": "tags/a.txt", "content": "tagged",
               "tags": {"team": "ops", "note": "a b+c/d"}}),
        )
        .await;
    if let Err(e) = &put {
        if !t.tags {
            // Refused before anything was written, and so is every tagging request: the
            // store would have dropped the tags silently (or, rclone, overwritten the object).
            assert_eq!(e.code, ErrorCode::NotSupported, "{}: {e}", t.name);
            t.fails(
                json!({"action": "headObject", "bucket": b, "key": "tags/a.txt"}),
                ErrorCode::NoSuchKey,
            )
            .await;
            t.put_bytes(b, "tags/plain.txt", b"untouched").await;
            for req in [
                get_tags("tags/plain.txt"),
                json!({"action": "putObjectTagging", "bucket": b, "key": "tags/plain.txt", "tags": {"a": "b"}}),
                json!({"action": "deleteObjectTagging", "bucket": b, "key": "tags/plain.txt"}),
                json!({"action": "copyObject", "bucket": b, "key": "tags/plain.txt", "destinationKey": "tags/copy.txt", "tags": {"a": "b"}}),
            ] {
                t.fails(req, ErrorCode::NotSupported).await;
            }
            assert_eq!(t.get_bytes(b, "tags/plain.txt").await, b"untouched", "{}", t.name);
            t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "tags/"}))
                .await;
            return;
        }
        panic!("{}: a put with tags failed: {e}", t.name);
    }
    assert!(
        t.tags,
        "{}: tags work here; say so in support.rs and docs/stores.md",
        t.name
    );
    let got = t.ok(get_tags("tags/a.txt")).await;
    assert_eq!(
        got["tags"],
        json!({"note": "a b+c/d", "team": "ops"}),
        "{}: {got}",
        t.name
    );
    t.ok(json!({"action": "putObjectTagging", "bucket": b, "key": "tags/a.txt", "tags": {"stage": "done"}}))
        .await;
    assert_eq!(
        t.ok(get_tags("tags/a.txt")).await["tags"],
        json!({"stage": "done"}),
        "{}",
        t.name
    );
    t.ok(json!({"action": "copyObject", "bucket": b, "key": "tags/a.txt", "destinationKey": "tags/kept.txt"}))
        .await;
    assert_eq!(
        t.ok(get_tags("tags/kept.txt")).await["tags"],
        json!({"stage": "done"}),
        "{}",
        t.name
    );
    t.ok(
        json!({"action": "copyObject", "bucket": b, "key": "tags/a.txt", "destinationKey": "tags/replaced.txt",
                 "tags": {"copy": "yes"}}),
    )
    .await;
    assert_eq!(
        t.ok(get_tags("tags/replaced.txt")).await["tags"],
        json!({"copy": "yes"}),
        "{}",
        t.name
    );
    t.ok(json!({"action": "deleteObjectTagging", "bucket": b, "key": "tags/a.txt"}))
        .await;
    assert_eq!(t.ok(get_tags("tags/a.txt")).await["tags"], json!({}), "{}", t.name);
    // Bad tags are refused before any request; a missing object has no tags to read.
    t.fails(
        json!({"action": "putObjectTagging", "bucket": b, "key": "tags/a.txt", "tags": {"aws:x": "1"}}),
        ErrorCode::InvalidInput,
    )
    .await;
    t.fails(get_tags("tags/missing.txt"), ErrorCode::NoSuchKey).await;
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "tags/"}))
        .await;
}
