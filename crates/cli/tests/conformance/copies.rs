//! Copies and moves, including moves whose source changes under them.

use std::sync::Arc;

use s3_connector::{ErrorCode, TransferSettings};
use serde_json::json;

use crate::front::Ctx;
use crate::support::{self, pseudo_random, Proxy};
use crate::transfers::no_uploads_in_progress;

/// Copies to another bucket and key, with new metadata and type, keeping the source; a
/// stale ifMatch copies nothing.
pub async fn copies(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let b2 = t.new_bucket("other").await;
    let b2 = b2.as_str();
    let content = pseudo_random(1024 * 1024, 11);
    t.put_bytes(b, "copy/src.bin", &content).await;
    let c = t
        .ok(json!({"action": "copyObject", "bucket": b, "key": "copy/src.bin", "destinationBucket": b2}))
        .await;
    assert_eq!(c["destinationKey"], "copy/src.bin");
    assert_eq!(c["multipart"], false);
    assert_eq!(
        t.get_bytes(b2, "copy/src.bin").await,
        content,
        "{}: copy to other bucket",
        t.name
    );
    t.ok(
        json!({"action": "copyObject", "bucket": b, "key": "copy/src.bin", "destinationKey": "copy/with meta.bin",
            "metadata": {"stage": "copied"}, "contentType": "image/png"}),
    )
    .await;
    let head = t
        .ok(json!({"action": "headObject", "bucket": b, "key": "copy/with meta.bin"}))
        .await;
    assert_eq!(head["metadata"]["stage"], "copied", "{}: {head}", t.name);
    assert_eq!(head["contentType"], "image/png");
    assert_eq!(t.get_bytes(b, "copy/with meta.bin").await, content);
    assert_eq!(
        t.get_bytes(b, "copy/src.bin").await,
        content,
        "{}: copy must keep the source",
        t.name
    );

    // A stale ifMatch copies nothing.
    let msg = t.fails(json!({"action": "copyObject", "bucket": b, "key": "copy/src.bin", "destinationKey": "copy/never", "ifMatch": "0123"}),
        ErrorCode::PreconditionFailed,
    )
    .await;
    assert!(msg.contains("changed"), "{msg}");
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "copy/never"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "copy/"}))
        .await;
    t.ok(json!({"action": "deleteObjects", "bucket": b2, "prefix": "copy/"}))
        .await;
}

/// A multipart copy (UploadPartCopy), forced with a 5 MiB threshold on a 12 MiB object.
///
/// The destination key has no `/`: rclone keeps the folder of an aborted upload's key on
/// disk, and then refuses to delete the bucket (docs/stores.md).
pub async fn multipart_copy(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let b2 = t.new_bucket("other").await;
    let b2 = b2.as_str();
    // Multipart copy, forced with a 5 MiB threshold on a 12 MiB object.
    let big = pseudo_random(12 * 1024 * 1024 + 5, 12);
    t.put_bytes(b, "copy/big.bin", &big).await;
    let small_parts = t
        .with_transfer(TransferSettings {
            multipart_copy_threshold: 5 * 1024 * 1024,
            copy_part_size: 5 * 1024 * 1024,
            ..Default::default()
        })
        .await;
    let copied = support::act(&small_parts, json!({"action": "copyObject", "bucket": b, "key": "copy/big.bin", "destinationBucket": b2, "destinationKey": "big-copy.bin"}))
        .await;
    if t.name == "rclone" {
        // rclone serve s3 has no UploadPartCopy: it refuses the request (MissingContentLength;
        // with a length it would store an empty part). The copy fails, is aborted, and nothing
        // is left (docs/stores.md).
        copied.expect_err("rclone cannot copy in parts");
        no_uploads_in_progress(t, b2).await;
        t.fails(
            json!({"action": "headObject", "bucket": b2, "key": "big-copy.bin"}),
            ErrorCode::NoSuchKey,
        )
        .await;
    } else {
        let c = copied.unwrap_or_else(|e| panic!("{}: multipart copy: {e}", t.name));
        assert_eq!(c["multipart"], true);
        assert_eq!(
            t.get_bytes(b2, "big-copy.bin").await,
            big,
            "{}: multipart copy bytes",
            t.name
        );
    }
}

/// Moves across buckets and keys (a multipart source too); a stale ifMatch or a missing
/// source moves nothing.
pub async fn moves(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let b2 = t.new_bucket("other").await;
    let b2 = b2.as_str();
    let content = pseudo_random(300_000, 21);
    t.put_bytes(b, "move/a.bin", &content).await;
    let m = t.ok(json!({"action": "moveObject", "bucket": b, "key": "move/a.bin", "destinationBucket": b2, "destinationKey": "moved/a b.bin"})).await;
    assert_eq!(m["sourceDeleted"], true);
    assert!(
        m["verified"].as_array().is_some_and(|v| v.len() >= 2),
        "{}: {m}",
        t.name
    );
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "move/a.bin"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    assert_eq!(t.get_bytes(b2, "moved/a b.bin").await, content);

    // A multipart-uploaded source (ETag "...-N") moves too.
    let big = pseudo_random(12 * 1024 * 1024, 22);
    let put = t.put_bytes(b, "move/big.bin", &big).await;
    assert!(put["parts"].as_u64().unwrap_or(0) >= 2);
    t.ok(json!({"action": "moveObject", "bucket": b, "key": "move/big.bin", "destinationKey": "move/big-moved.bin"}))
        .await;
    assert_eq!(
        t.get_bytes(b, "move/big-moved.bin").await,
        big,
        "{}: multipart source moved",
        t.name
    );
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "move/big.bin"}),
        ErrorCode::NoSuchKey,
    )
    .await;

    // A stale ifMatch moves nothing.
    t.put_bytes(b, "move/c.bin", b"cc").await;
    t.fails(json!({"action": "moveObject", "bucket": b, "key": "move/c.bin", "destinationKey": "move/d.bin", "ifMatch": "stale"}), ErrorCode::PreconditionFailed).await;
    assert_eq!(t.get_bytes(b, "move/c.bin").await, b"cc");
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "move/d.bin"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    // A missing source moves nothing.
    t.fails(
        json!({"action": "moveObject", "bucket": b, "key": "move/none", "destinationKey": "move/x"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "move/"}))
        .await;
    t.ok(json!({"action": "deleteObjects", "bucket": b2, "prefix": "moved/"}))
        .await;
}

fn rewrite_hook(t: &Ctx, b: &str, key: &str, content: &'static str) -> support::Hook {
    let (conn, bucket, key) = (t.conn.clone(), b.to_string(), key.to_string());
    Arc::new(move || {
        let (conn, bucket, key) = (conn.clone(), bucket.clone(), key.clone());
        Box::pin(async move {
            support::act(
                &conn,
                json!({"action": "putObject", "bucket": bucket, "key": key, "content": content}),
            )
            .await
            .expect("rewrite the source mid-move");
        })
    })
}

/// Puts "version 1" at `key`, then moves it to `key`-dest through a proxy that rewrites the
/// source with `rewrite` when the `nth` request matching `pattern` passes. The move must fail
/// with `PreconditionFailed`, and the source must hold the rewrite: nothing lost.
async fn racing_move(
    t: &Ctx,
    b: &str,
    key: &str,
    pattern: String,
    nth: u64,
    rewrite: &'static str,
) -> s3_connector::Error {
    t.ok(json!({"action": "putObject", "bucket": b, "key": key, "content": "version 1"}))
        .await;
    let proxy = Proxy::start_nth(t.addr(), Some((pattern, rewrite_hook(t, b, key, rewrite))), nth).await;
    let via = t.through(&proxy).await;
    let dest = format!("{key}-dest");
    let err = support::act(
        &via,
        json!({"action": "moveObject", "bucket": b, "key": key, "destinationKey": dest}),
    )
    .await
    .expect_err("the move must not complete when the source changes under it");
    assert!(
        proxy.fired.load(std::sync::atomic::Ordering::SeqCst),
        "{}: the hook never ran",
        t.name
    );
    assert_eq!(err.code, ErrorCode::PreconditionFailed, "{}: {err}", t.name);
    assert_eq!(t.get_bytes(b, key).await, rewrite.as_bytes(), "{}: source lost", t.name);
    err
}

pub async fn move_survives_source_change_during_copy(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let err = racing_move(
        t,
        b,
        "race/copy.txt",
        "x-amz-copy-source:".into(),
        1,
        "version 2, written during the copy",
    )
    .await;
    if err.message.contains("step 1") {
        // The store enforced the copy condition: nothing was copied.
        t.fails(
            json!({"action": "headObject", "bucket": b, "key": "race/copy.txt-dest"}),
            ErrorCode::NoSuchKey,
        )
        .await;
    } else {
        // The store ignored it (moto) and copied the new version; verification caught it.
        assert!(err.message.contains("step 2"), "{}: {}", t.name, err.message);
    }
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "race/"}))
        .await;
}

pub async fn move_survives_source_change_before_delete(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    // Caught by the re-read: the hook runs at the second HEAD of the source (the first is the
    // move's opening read, the second the re-read just before the delete).
    let pattern = format!("HEAD /{b}/race/del.txt HTTP");
    let err = racing_move(t, b, "race/del.txt", pattern, 2, "version 2, written after the copy").await;
    assert!(err.message.contains("step 3"), "{}", err.message);
    assert_eq!(
        t.get_bytes(b, "race/del.txt-dest").await,
        b"version 1",
        "{}: the verified copy",
        t.name
    );
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "race/"}))
        .await;

    // Caught by If-Match, on stores that enforce it: the hook runs as the DELETE goes out,
    // after the re-read. Where the store ignores it, requireConditionalDelete must refuse.
    t.ok(json!({"action": "putObject", "bucket": b, "key": "race/probe.txt", "content": "p"}))
        .await;
    let plain = t.ok(json!({"action": "moveObject", "bucket": b, "key": "race/probe.txt", "destinationKey": "race/probe-moved.txt"}),
    )
    .await;
    if plain["deleteGuard"] == "ifMatch" {
        let pattern = format!("DELETE /{b}/race/del.txt");
        let err = racing_move(t, b, "race/del.txt", pattern, 1, "version 2, written after the re-read").await;
        assert!(err.message.contains("step 3"), "{}", err.message);
    } else {
        assert_eq!(plain["deleteGuard"], "recheck", "{}: {plain}", t.name);
        eprintln!(
            "note: {} ignores If-Match on DeleteObject; moves there are guarded by the re-read only",
            t.name
        );
        t.ok(json!({"action": "putObject", "bucket": b, "key": "race/del.txt", "content": "version 1"}))
            .await;
        let err = t.act(json!({"action": "moveObject", "bucket": b, "key": "race/del.txt", "destinationKey": "race/del.txt-dest", "requireConditionalDelete": true}),
        )
        .await
        .expect_err("requireConditionalDelete must refuse on this store");
        assert_eq!(err.code, ErrorCode::PreconditionFailed, "{}: {err}", t.name);
        assert!(
            err.message.contains("step 3") && err.message.contains("requireConditionalDelete"),
            "{}",
            err.message
        );
        assert_eq!(
            t.get_bytes(b, "race/del.txt").await,
            b"version 1",
            "{}: source must stay",
            t.name
        );
        assert_eq!(
            t.get_bytes(b, "race/del.txt-dest").await,
            b"version 1",
            "{}: the copy stays",
            t.name
        );
    }
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "race/"}))
        .await;
}
