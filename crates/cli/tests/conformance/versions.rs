//! Object versions.

use s3_connector::ErrorCode;
use serde_json::{json, Value};

use crate::front::Ctx;
use crate::support;

/// Versions: turned on (and confirmed); every write kept; `listObjectVersions` shows them,
/// newest first, and a delete marker after a plain delete; get, head, copy and presign
/// address one version; deleting a version removes it for good, and deleting the marker
/// brings the object back; a move of a version copies it and deletes only that version. A
/// store without versioning answers `NotSupported` (docs/stores.md says which).
pub async fn versions(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    let on = t
        .act(json!({"action": "putBucketVersioning", "bucket": b, "status": "Enabled"}))
        .await;
    if !t.versions {
        let e = on.expect_err("a store without versioning must say so");
        assert_eq!(e.code, ErrorCode::NotSupported, "{}: {e}", t.name);
        return;
    }
    assert_eq!(on.expect("versioning on")["status"], "Enabled", "{}", t.name);
    let status = t.ok(json!({"action": "getBucketVersioning", "bucket": b})).await;
    assert_eq!(status["status"], "Enabled", "{}: {status}", t.name);
    for content in ["one", "two"] {
        t.ok(json!({"action": "putObject", "bucket": b, "key": "v/doc.txt", "content": content}))
            .await;
    }
    let listed = list(t, b).await;
    let versions = listed["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "{}: {listed}", t.name);
    assert_eq!(versions[0]["isLatest"], true, "{}: newest first: {listed}", t.name);
    let (v2, v1) = (id(&versions[0]), id(&versions[1]));
    let get = |v: &str| json!({"versionId": v});
    assert_eq!(t.get(b, "v/doc.txt", get(&v1)).await.expect("v1"), b"one", "{}", t.name);
    assert_eq!(t.get_bytes(b, "v/doc.txt").await, b"two", "{}", t.name);
    let head = t
        .ok(json!({"action": "headObject", "bucket": b, "key": "v/doc.txt", "versionId": v1}))
        .await;
    assert_eq!(head["versionId"], v1.as_str(), "{}: {head}", t.name);
    assert_eq!(head["size"], 3);
    let url = t
        .ok(json!({"action": "presignUrl", "bucket": b, "key": "v/doc.txt", "versionId": v1}))
        .await;
    let (status, body) = support::http("GET", url["url"].as_str().expect("url"), b"").await;
    assert_eq!((status, body.as_slice()), (200, b"one".as_slice()), "{}", t.name);
    t.ok(
        json!({"action": "copyObject", "bucket": b, "key": "v/doc.txt", "versionId": v1,
                "destinationKey": "v/restored.txt"}),
    )
    .await;
    assert_eq!(t.get_bytes(b, "v/restored.txt").await, b"one", "{}", t.name);
    // A plain delete leaves the versions and adds a marker; deleting the marker undoes it.
    let deleted = t
        .ok(json!({"action": "deleteObject", "bucket": b, "key": "v/doc.txt"}))
        .await;
    assert_eq!(deleted["deleteMarker"], true, "{}: {deleted}", t.name);
    t.fails(
        json!({"action": "headObject", "bucket": b, "key": "v/doc.txt"}),
        ErrorCode::NoSuchKey,
    )
    .await;
    let listed = list(t, b).await;
    let marker = listed["deleteMarkers"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["key"] == "v/doc.txt"))
        .unwrap_or_else(|| panic!("{}: no delete marker: {listed}", t.name))
        .clone();
    assert_eq!(marker["isLatest"], true, "{}: {listed}", t.name);
    t.ok(json!({"action": "deleteObject", "bucket": b, "key": "v/doc.txt", "versionId": id(&marker)}))
        .await;
    assert_eq!(t.get_bytes(b, "v/doc.txt").await, b"two", "{}", t.name);
    // Moving version 1: copied to the destination, then that version (only) deleted.
    let moved = t
        .ok(
            json!({"action": "moveObject", "bucket": b, "key": "v/doc.txt", "versionId": v1,
                   "destinationKey": "v/moved.txt"}),
        )
        .await;
    assert_eq!(moved["sourceDeleted"], true, "{}: {moved}", t.name);
    assert_eq!(moved["deleteGuard"], "versionId", "{}: {moved}", t.name);
    assert_eq!(t.get_bytes(b, "v/moved.txt").await, b"one", "{}", t.name);
    assert_eq!(t.get_bytes(b, "v/doc.txt").await, b"two", "{}", t.name);
    let left: Vec<String> = list(t, b).await["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["key"] == "v/doc.txt")
        .map(id)
        .collect();
    assert_eq!(left, vec![v2.clone()], "{}: only version 2 is left", t.name);
    t.fails(
        json!({"action": "getObject", "bucket": b, "key": "v/doc.txt", "versionId": v1, "file": "/tmp/never"}),
        if t.front == crate::front::Front::Http {
            ErrorCode::InvalidInput
        } else {
            ErrorCode::NoSuchKey
        },
    )
    .await;
    // Paging: one entry a page, resumed by the markers.
    let first = t
        .ok(json!({"action": "listObjectVersions", "bucket": b, "prefix": "v/", "maxKeys": 1}))
        .await;
    assert_eq!(first["isTruncated"], true, "{}: {first}", t.name);
    let rest = t
        .ok(json!({"action": "listObjectVersions", "bucket": b, "prefix": "v/",
                   "keyMarker": first["nextKeyMarker"], "versionIdMarker": first["nextVersionIdMarker"]}))
        .await;
    let all = list(t, b).await;
    assert_eq!(
        rest["versions"].as_array().map(Vec::len).unwrap_or(0) + 1,
        all["versions"].as_array().map(Vec::len).unwrap_or(0),
        "{}: {first} then {rest}",
        t.name
    );
    let suspended = t
        .ok(json!({"action": "putBucketVersioning", "bucket": b, "status": "Suspended"}))
        .await;
    assert_eq!(suspended["status"], "Suspended", "{}", t.name);
    // A versioned bucket is empty only without versions: remove every one.
    delete_every_version(t, b).await;
    // The `null` version, written while versioning is suspended, is overwritten by every
    // plain write: its move keeps the ETag guard rather than trusting the version id.
    t.ok(json!({"action": "putObject", "bucket": b, "key": "v/null.txt", "content": "n"}))
        .await;
    let moved = t
        .act(
            json!({"action": "moveObject", "bucket": b, "key": "v/null.txt", "versionId": "null",
                   "destinationKey": "v/null-moved.txt"}),
        )
        .await;
    if t.name == "moto" {
        // moto answers HeadObject with versionId=null with 400, where S3 takes it: the move
        // stops at its first read and changes nothing.
        let e = moved.expect_err("moto refuses versionId=null");
        assert_eq!(e.code, ErrorCode::ServiceError, "{}: {e}", t.name);
        assert_eq!(t.get_bytes(b, "v/null.txt").await, b"n", "{}", t.name);
    } else {
        let moved = moved.expect("the null version moved");
        assert_ne!(moved["deleteGuard"], "versionId", "{}: {moved}", t.name);
        assert_eq!(t.get_bytes(b, "v/null-moved.txt").await, b"n", "{}", t.name);
    }
    delete_every_version(t, b).await;
}

/// Deletes every version and delete marker under `v/`: a versioned bucket is empty only then.
async fn delete_every_version(t: &Ctx, b: &str) {
    let all = list(t, b).await;
    for entry in all["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(all["deleteMarkers"].as_array().into_iter().flatten())
    {
        t.ok(json!({"action": "deleteObject", "bucket": b, "key": entry["key"], "versionId": id(entry)}))
            .await;
    }
}

async fn list(t: &Ctx, b: &str) -> Value {
    t.ok(json!({"action": "listObjectVersions", "bucket": b, "prefix": "v/"}))
        .await
}

fn id(entry: &Value) -> String {
    entry["versionId"].as_str().unwrap_or_default().to_string()
}
