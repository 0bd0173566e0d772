//! Storage classes.

use s3_connector::ErrorCode;
use serde_json::json;

use crate::front::{Ctx, Front};
use crate::support::pseudo_random;

/// Storage classes: given on a put (one PUT and multipart), a copy and a move, reported by
/// head and list, kept by a copy unless replaced, and changed in place by a copy. A misspelt
/// class is refused before any request; a store that does not keep classes answers
/// `NotSupported`, never a silent no-op (docs/stores.md says which).
pub async fn storage_classes(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let head = |key: &str| json!({"action": "headObject", "bucket": b, "key": key});
    let msg = t
        .fails(
            json!({"action": "putObject", "bucket": b, "key": "sc/bad", "content": "x", "storageClass": "STANDARD-IA"}),
            ErrorCode::InvalidInput,
        )
        .await;
    assert!(msg.contains("STANDARD_IA"), "{}: {msg}", t.name);
    t.fails(head("sc/bad"), ErrorCode::NoSuchKey).await;
    let put = t
        .act(json!({"action": "putObject", "bucket": b, "key": "sc/a.txt", "content": "infrequent", "storageClass": "STANDARD_IA"}))
        .await;
    if !t.storage_classes {
        let e = put.expect_err("a store that does not keep storage classes must say so");
        assert_eq!(e.code, ErrorCode::NotSupported, "{}: {e}", t.name);
        assert!(e.message.contains("was written"), "{}: {e}", t.name);
        // Now known to the connector: refused before anything is written (the CLI starts
        // afresh each time, and learns it again from the write).
        let again = t
            .act(json!({"action": "putObject", "bucket": b, "key": "sc/b.txt", "content": "x", "storageClass": "STANDARD_IA"}))
            .await
            .expect_err("refused");
        assert_eq!(again.code, ErrorCode::NotSupported, "{}: {again}", t.name);
        if t.front != Front::Cli {
            assert!(again.message.contains("nothing was written"), "{}: {again}", t.name);
            t.fails(head("sc/b.txt"), ErrorCode::NoSuchKey).await;
        }
        // STANDARD is what every store keeps.
        t.ok(
            json!({"action": "putObject", "bucket": b, "key": "sc/c.txt", "content": "x", "storageClass": "STANDARD"}),
        )
        .await;
        return;
    }
    let put = put.unwrap_or_else(|e| panic!("{}: put with a storage class: {e}", t.name));
    assert_eq!(put["storageClass"], "STANDARD_IA", "{}: {put}", t.name);
    assert_eq!(
        t.ok(head("sc/a.txt")).await["storageClass"],
        "STANDARD_IA",
        "{}",
        t.name
    );
    let listed = t
        .ok(json!({"action": "listObjects", "bucket": b, "prefix": "sc/"}))
        .await;
    // rclone serve s3 keeps the class with the object (HEAD shows it) but lists every object
    // as STANDARD (docs/stores.md).
    let listed_class = if t.name == "rclone" { "STANDARD" } else { "STANDARD_IA" };
    assert_eq!(
        listed["objects"][0]["storageClass"], listed_class,
        "{}: {listed}",
        t.name
    );
    // A copy keeps the source's class unless given one; a copy onto itself changes it.
    t.ok(json!({"action": "copyObject", "bucket": b, "key": "sc/a.txt", "destinationKey": "sc/kept.txt"}))
        .await;
    assert_eq!(
        t.ok(head("sc/kept.txt")).await["storageClass"],
        "STANDARD_IA",
        "{}",
        t.name
    );
    let changed = t
        .ok(json!({"action": "copyObject", "bucket": b, "key": "sc/a.txt", "storageClass": "ONEZONE_IA"}))
        .await;
    assert_eq!(changed["destinationKey"], "sc/a.txt", "{}: {changed}", t.name);
    assert_eq!(t.ok(head("sc/a.txt")).await["storageClass"], "ONEZONE_IA", "{}", t.name);
    assert_eq!(t.get_bytes(b, "sc/a.txt").await, b"infrequent", "{}", t.name);
    // A multipart upload carries it to the object.
    let dir = tempfile::tempdir().expect("tmp");
    let big = dir.path().join("big");
    std::fs::write(&big, pseudo_random(9 * 1024 * 1024, 5)).expect("write");
    let put = t
        .put_file(b, "sc/big.bin", &big, json!({"storageClass": "STANDARD_IA"}))
        .await;
    assert!(put["parts"].as_u64().unwrap_or(0) >= 2, "{}: {put}", t.name);
    assert_eq!(
        t.ok(head("sc/big.bin")).await["storageClass"],
        "STANDARD_IA",
        "{}",
        t.name
    );
    // A move gives the destination the class and checks it before deleting the source.
    let moved = t
        .ok(json!({"action": "moveObject", "bucket": b, "key": "sc/kept.txt", "destinationKey": "sc/moved.txt", "storageClass": "STANDARD"}))
        .await;
    assert!(
        moved["verified"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| s == "storage class STANDARD")),
        "{}: {moved}",
        t.name
    );
    // S3 reports no class for STANDARD; some stores name it.
    let class = t.ok(head("sc/moved.txt")).await["storageClass"].clone();
    assert!(class.is_null() || class == "STANDARD", "{}: {class}", t.name);
    // A move onto itself is refused, storage class or not: it would delete the object.
    t.fails(
        json!({"action": "moveObject", "bucket": b, "key": "sc/moved.txt", "storageClass": "STANDARD_IA"}),
        ErrorCode::InvalidInput,
    )
    .await;
}

/// Server-side encryption (SSE-S3 and SSE-KMS) on a put (one PUT and multipart), a copy and a
/// move, shown by head. Malformed requests are refused before any request. A store that does
/// not encrypt answers `NotSupported`: the embedded store refuses before writing, and a store
/// that accepts the header and ignores it is caught by reading the object back.
pub async fn encryption(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let head = |key: &str| json!({"action": "headObject", "bucket": b, "key": key});
    let put = |key: &str, encryption: serde_json::Value| json!({"action": "putObject", "bucket": b, "key": key, "content": "secret", "encryption": encryption});
    for bad in [
        json!({"algorithm": "AES256", "kmsKeyId": "alias/x"}),
        json!({"algorithm": "rot13"}),
        json!({"algorithm": "aws:kms", "kmsKeyId": "has space"}),
        json!({"kmsKeyId": "alias/x"}),
    ] {
        t.fails(put("enc/bad", bad), ErrorCode::InvalidInput).await;
    }
    t.fails(head("enc/bad"), ErrorCode::NoSuchKey).await;
    let first = t.act(put("enc/a.txt", json!({"algorithm": "AES256"}))).await;
    if !t.encrypts {
        let e = first.expect_err("a store that does not encrypt must say so");
        assert_eq!(e.code, ErrorCode::NotSupported, "{}: {e}", t.name);
        if t.name == "embedded" {
            // Refused by the store itself: nothing was written.
            t.fails(head("enc/a.txt"), ErrorCode::NoSuchKey).await;
        } else {
            // Accepted and ignored (Garage): the read-back caught it, and says so.
            assert!(e.message.contains("written without it"), "{}: {e}", t.name);
            let h = t.ok(head("enc/a.txt")).await;
            assert_eq!(h["serverSideEncryption"], serde_json::Value::Null, "{}: {h}", t.name);
        }
        t.put_bytes(b, "enc/plain.txt", b"plain").await;
        let copy = json!({"action": "copyObject", "bucket": b, "key": "enc/plain.txt", "destinationKey": "enc/copy.txt",
                          "encryption": {"algorithm": "AES256"}});
        t.fails(copy, ErrorCode::NotSupported).await;
        return;
    }
    first.unwrap_or_else(|e| panic!("{}: an encrypted put: {e}", t.name));
    assert_eq!(
        t.ok(head("enc/a.txt")).await["serverSideEncryption"],
        "AES256",
        "{}",
        t.name
    );
    assert_eq!(t.get_bytes(b, "enc/a.txt").await, b"secret", "{}", t.name);
    t.ok(put(
        "enc/kms.txt",
        json!({"algorithm": "aws:kms", "kmsContext": {"project": "p1"}, "bucketKey": true}),
    ))
    .await;
    assert_eq!(
        t.ok(head("enc/kms.txt")).await["serverSideEncryption"],
        "aws:kms",
        "{}",
        t.name
    );
    let dir = tempfile::tempdir().expect("tmp");
    let big = dir.path().join("big");
    std::fs::write(&big, pseudo_random(9 * 1024 * 1024, 6)).expect("write");
    let parts = t
        .put_file(b, "enc/big.bin", &big, json!({"encryption": {"algorithm": "AES256"}}))
        .await;
    assert!(parts["parts"].as_u64().unwrap_or(0) >= 2, "{}: {parts}", t.name);
    assert_eq!(
        t.ok(head("enc/big.bin")).await["serverSideEncryption"],
        "AES256",
        "{}",
        t.name
    );
    t.put_bytes(b, "enc/plain.txt", b"plain").await;
    t.ok(
        json!({"action": "copyObject", "bucket": b, "key": "enc/plain.txt", "destinationKey": "enc/copy.txt",
                "encryption": {"algorithm": "AES256"}}),
    )
    .await;
    assert_eq!(
        t.ok(head("enc/copy.txt")).await["serverSideEncryption"],
        "AES256",
        "{}",
        t.name
    );
    let moved = t
        .ok(
            json!({"action": "moveObject", "bucket": b, "key": "enc/copy.txt", "destinationKey": "enc/moved.txt",
                   "encryption": {"algorithm": "AES256"}}),
        )
        .await;
    assert!(
        moved["verified"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| s == "encryption AES256")),
        "{}: {moved}",
        t.name
    );
}

/// SSE-C: an object written with the caller's key is read (head, get, a range) only with it;
/// a copy re-encrypts it with another key; malformed keys are refused before any request, and
/// no key ever shows in a result or an error.
pub async fn customer_keys(t: &Ctx) {
    use base64::Engine;
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let other = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let with_key = |k: &str| json!({"sseCustomerKey": k});
    let head = |key: &str, k: &str| json!({"action": "headObject", "bucket": b, "key": key, "sseCustomerKey": k});
    for bad in [
        json!({"action": "putObject", "bucket": b, "key": "ssec/bad", "content": "x", "sseCustomerKey": "c2hvcnQ="}),
        json!({"action": "putObject", "bucket": b, "key": "ssec/bad", "content": "x", "sseCustomerKey": key,
               "encryption": {"algorithm": "AES256"}}),
        json!({"action": "headObject", "bucket": b, "key": "ssec/bad", "sseCustomerKey": "not base64!"}),
    ] {
        let msg = t.fails(bad, ErrorCode::InvalidInput).await;
        assert!(!msg.contains(&key), "{}: the key shows: {msg}", t.name);
    }
    let put = t
        .act(json!({"action": "putObject", "bucket": b, "key": "ssec/a.txt", "content": "for your eyes", "sseCustomerKey": key}))
        .await;
    if !t.customer_keys {
        let e = put.expect_err("a store without SSE-C must say so");
        assert_eq!(e.code, ErrorCode::NotSupported, "{}: {e}", t.name);
        assert!(!e.message.contains(&key), "{}: the key shows: {e}", t.name);
        return;
    }
    let put = put.unwrap_or_else(|e| panic!("{}: an SSE-C put: {e}", t.name));
    assert!(!put.to_string().contains(&key), "{}: the key shows: {put}", t.name);
    let h = t.ok(head("ssec/a.txt", &key)).await;
    assert_eq!(h["sseCustomerAlgorithm"], "AES256", "{}: {h}", t.name);
    assert!(!h.to_string().contains(&key), "{}: {h}", t.name);
    assert_eq!(
        t.get(b, "ssec/a.txt", with_key(&key)).await.expect("get with the key"),
        b"for your eyes",
        "{}",
        t.name
    );
    assert_eq!(
        t.get(b, "ssec/a.txt", json!({"sseCustomerKey": key, "range": "bytes=4-7"}))
            .await
            .expect("range"),
        b"your",
        "{}",
        t.name
    );
    // Without the key, or with another one, the store refuses to read it.
    for k in [None, Some(&other)] {
        let extra = k.map(|k| with_key(k)).unwrap_or_else(|| json!({}));
        let err = t
            .get(b, "ssec/a.txt", extra)
            .await
            .expect_err("read without the right key");
        assert!(!err.message.contains(&key), "{}: the key shows: {err}", t.name);
    }
    // A copy decrypts with the source's key and encrypts with the new one.
    t.ok(
        json!({"action": "copyObject", "bucket": b, "key": "ssec/a.txt", "destinationKey": "ssec/b.txt",
                "copySourceSseCustomerKey": key, "sseCustomerKey": other}),
    )
    .await;
    assert_eq!(
        t.get(b, "ssec/b.txt", with_key(&other)).await.expect("get the copy"),
        b"for your eyes",
        "{}",
        t.name
    );
    // Multipart: every part carries the key.
    let dir = tempfile::tempdir().expect("tmp");
    let big = dir.path().join("big");
    let content = pseudo_random(9 * 1024 * 1024 + 3, 8);
    std::fs::write(&big, &content).expect("write");
    let up = t.put_file(b, "ssec/big.bin", &big, with_key(&key)).await;
    assert!(up["parts"].as_u64().unwrap_or(0) >= 2, "{}: {up}", t.name);
    assert_eq!(
        t.get(b, "ssec/big.bin", with_key(&key)).await.expect("get big"),
        content,
        "{}",
        t.name
    );
}
