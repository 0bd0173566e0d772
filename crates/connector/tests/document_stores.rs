//! One conformance suite for every document store: round trip, hash mismatch, expiry, path
//! safety, deletes and failed creates. (Streaming a 200 MiB document with flat memory is in
//! `document_streaming.rs`, a binary of its own so other tests do not disturb its memory peak.)

mod support;

use std::collections::BTreeMap;

use s3_connector::documents::{CamundaReference, DocumentMetadata, DocumentStore, LocalStore, MemoryStore, S3Store};
use s3_connector::ErrorCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn read_all(store: &dyn DocumentStore, r: &CamundaReference) -> (DocumentMetadata, Vec<u8>) {
    let (meta, mut reader) = store
        .open(r)
        .await
        .unwrap_or_else(|e| panic!("{}: open: {e}", store.store_id()));
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.expect("read");
    (meta, out)
}

/// `proxies_stores`: the store passes other `storeId`s through (a Camunda cluster holds many
/// stores), instead of refusing references to them.
async fn suite(store: &dyn DocumentStore, proxies_stores: bool) {
    let name = store.store_id().to_string();
    // Round trip, with every metadata member recorded.
    let content = b"%PDF-1.7 pretend this is a PDF".to_vec();
    let mut custom = BTreeMap::new();
    custom.insert("caseId".to_string(), serde_json::json!("C-42"));
    let meta = DocumentMetadata {
        content_type: Some("application/pdf".into()),
        file_name: Some("invoice 42.pdf".into()),
        expires_at: Some("2999-12-31T23:59:59Z".into()),
        size: Some(999_999), // ignored: the store measures
        process_definition_id: Some("invoice-process".into()),
        process_instance_key: Some(serde_json::json!(2251799813685249u64)),
        custom_properties: custom,
    };
    let r = store
        .create(Box::new(std::io::Cursor::new(content.clone())), meta.clone())
        .await
        .expect("create");
    assert_eq!(r.store_id, name);
    assert!(
        uuid::Uuid::parse_str(&r.document_id).is_ok(),
        "{name}: id {}",
        r.document_id
    );
    assert_eq!(
        r.content_hash.as_deref(),
        Some(sha256_hex(&content).as_str()),
        "{name}: SHA-256 hex"
    );
    assert_eq!(r.metadata.size, Some(content.len() as u64), "{name}: measured size");
    let (got_meta, got) = read_all(store, &r).await;
    assert_eq!(got, content, "{name}: content");
    assert_eq!(
        got_meta,
        DocumentMetadata {
            size: Some(content.len() as u64),
            ..meta.clone()
        },
        "{name}: metadata"
    );
    // A reference without a hash (as Camunda's own fixtures have) still opens.
    let unhashed = CamundaReference {
        content_hash: None,
        ..r.clone()
    };
    assert_eq!(read_all(store, &unhashed).await.1, content);

    // Two creates never share an id; an empty document is fine.
    let empty = store
        .create(Box::new(std::io::Cursor::new(Vec::new())), DocumentMetadata::default())
        .await
        .expect("empty");
    assert_ne!(empty.document_id, r.document_id);
    assert_eq!(read_all(store, &empty).await.1, b"");
    assert_eq!(empty.content_hash.as_deref(), Some(sha256_hex(b"").as_str()));

    // A chosen id (Camunda's ?documentId=): used as given; taken again, refused, and the
    // first document stays as it was; an id that is not a UUID is refused as input.
    let chosen = uuid::Uuid::new_v4().to_string();
    let first = store
        .create_with_id(
            &chosen,
            Box::new(std::io::Cursor::new(b"first".to_vec())),
            DocumentMetadata::default(),
        )
        .await
        .expect("a chosen id");
    assert_eq!(first.document_id, chosen, "{name}");
    let again = store
        .create_with_id(
            &chosen,
            Box::new(std::io::Cursor::new(b"second".to_vec())),
            DocumentMetadata::default(),
        )
        .await
        .expect_err("an id in use");
    assert_eq!(again.code, ErrorCode::PreconditionFailed, "{name}: {again:?}");
    assert_eq!(
        read_all(store, &first).await.1,
        b"first",
        "{name}: the first document changed"
    );
    let bad = store
        .create_with_id(
            "../escape",
            Box::new(std::io::Cursor::new(Vec::new())),
            DocumentMetadata::default(),
        )
        .await
        .expect_err("a bad id");
    assert_eq!(bad.code, ErrorCode::InvalidInput, "{name}: {bad:?}");

    // Hash mismatch: a reference naming other content is refused before anything is read.
    let mut altered = r.clone();
    altered.content_hash = Some(sha256_hex(b"something else"));
    let err = store.open(&altered).await.err().expect("a stale hash must be refused");
    assert_eq!(err.code, ErrorCode::PreconditionFailed, "{name}: {err}");

    // Expiry: an expired document is gone.
    let expired = store
        .create(
            Box::new(std::io::Cursor::new(b"old".to_vec())),
            DocumentMetadata {
                expires_at: Some("2001-01-01T00:00:00Z".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create expired");
    let err = store.open(&expired).await.err().expect("expired");
    assert_eq!(err.code, ErrorCode::NoSuchKey, "{name}: {err}");
    assert!(err.message.contains("expired"), "{}", err.message);
    let err = store
        .create(
            Box::new(std::io::Cursor::new(b"x".to_vec())),
            DocumentMetadata {
                expires_at: Some("next week".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad expiresAt");
    assert_eq!(err.code, ErrorCode::InvalidInput);

    // Path safety and foreign references: refused as input, whatever the id looks like.
    for bad_id in [
        "../../../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "x/../y",
        "41D2A87F-F39C-4DDD-A116-18D2091CC695",
    ] {
        let bad = CamundaReference {
            document_id: bad_id.to_string(),
            ..r.clone()
        };
        let err = store
            .open(&bad)
            .await
            .err()
            .unwrap_or_else(|| panic!("{name}: {bad_id:?} opened"));
        assert_eq!(err.code, ErrorCode::InvalidInput, "{name}: {bad_id:?}: {err}");
        let err = store.delete(bad_id).await.expect_err("delete with a bad id");
        assert_eq!(err.code, ErrorCode::InvalidInput, "{name}: delete {bad_id:?}");
    }
    let foreign = CamundaReference {
        store_id: "some-other-store".into(),
        ..r.clone()
    };
    let expected = if proxies_stores {
        ErrorCode::NoSuchKey
    } else {
        ErrorCode::InvalidInput
    };
    assert_eq!(
        store.open(&foreign).await.err().map(|e| e.code),
        Some(expected),
        "{name}: foreign store"
    );
    let unknown = CamundaReference {
        document_id: uuid::Uuid::new_v4().to_string(),
        ..r.clone()
    };
    assert_eq!(
        store.open(&unknown).await.err().map(|e| e.code),
        Some(ErrorCode::NoSuchKey)
    );

    // Delete: gone afterwards; deleting again succeeds.
    store.delete(&r.document_id).await.expect("delete");
    assert_eq!(
        store.open(&r).await.err().map(|e| e.code),
        Some(ErrorCode::NoSuchKey),
        "{name}: deleted"
    );
    store.delete(&r.document_id).await.expect("delete again");
}

/// A reader that fails after some bytes: a broken upload stream.
struct Broken(usize);

impl tokio::io::AsyncRead for Broken {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("connection reset")));
        }
        let n = self.0.min(buf.remaining()).min(4096);
        buf.put_slice(&vec![1u8; n]);
        self.0 -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn memory_store() {
    suite(&MemoryStore::new(), false).await;
    let err = MemoryStore::new()
        .create(Box::new(Broken(10_000)), DocumentMetadata::default())
        .await;
    assert_eq!(err.err().map(|e| e.code), Some(ErrorCode::LocalIo));
}

#[tokio::test]
async fn local_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let docs = dir.path().join("docs");
    let store = LocalStore::open(&docs).expect("open");
    suite(&store, false).await;

    // A failed create leaves nothing behind.
    let before: Vec<_> = std::fs::read_dir(&docs)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let err = store
        .create(Box::new(Broken(1_000_000)), DocumentMetadata::default())
        .await;
    assert_eq!(err.err().map(|e| e.code), Some(ErrorCode::LocalIo));
    let after: Vec<_> = std::fs::read_dir(&docs)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before.len(), after.len(), "a failed create left files: {after:?}");

    // Corruption at rest: the reader fails at the end instead of passing bad bytes as good.
    let r = store
        .create(
            Box::new(std::io::Cursor::new(b"precious".to_vec())),
            DocumentMetadata::default(),
        )
        .await
        .expect("create");
    std::fs::write(docs.join(&r.document_id), b"tampered").expect("tamper");
    let (_, mut reader) = store.open(&r).await.expect("open");
    let err = reader
        .read_to_end(&mut Vec::new())
        .await
        .expect_err("tampered content must not read cleanly");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

    // Nothing escaped the directory.
    assert!(std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .all(|e| e.file_name() == "docs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_on_the_embedded_store() {
    let t = support::embedded().await;
    let bucket = t.bucket("docs");
    support::act(&t.conn, serde_json::json!({"action": "createBucket", "bucket": bucket}))
        .await
        .expect("bucket");
    let store = S3Store::new(t.conn.clone(), &bucket, "documents/").expect("store");
    suite(&store, false).await;

    // A failed create leaves no object and no multipart upload behind.
    let before = support::act(&t.conn, serde_json::json!({"action": "listObjects", "bucket": bucket}))
        .await
        .expect("list");
    let err = store
        .create(Box::new(Broken(20 * 1024 * 1024)), DocumentMetadata::default())
        .await;
    assert_eq!(err.err().map(|e| e.code), Some(ErrorCode::LocalIo));
    let after = support::act(&t.conn, serde_json::json!({"action": "listObjects", "bucket": bucket}))
        .await
        .expect("list");
    assert_eq!(before["objects"], after["objects"], "a failed create left objects");
    let uploads = t
        .conn
        .client()
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("list multipart uploads");
    assert!(
        uploads.uploads().is_empty(),
        "a failed create left a multipart upload: {:?}",
        uploads.uploads()
    );

    // Documents are ordinary objects: content and record under the prefix.
    let r = store
        .create(
            Box::new(std::io::Cursor::new(b"visible".to_vec())),
            DocumentMetadata::default(),
        )
        .await
        .expect("create");
    let listed = support::act(
        &t.conn,
        serde_json::json!({"action": "listObjects", "bucket": bucket, "prefix": "documents/"}),
    )
    .await
    .expect("list");
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert!(
        keys.contains(&format!("documents/{}", r.document_id).as_str())
            && keys.contains(&format!("documents/{}.json", r.document_id).as_str()),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camunda_cluster_store() {
    use s3_connector::documents::CamundaClusterStore;
    use s3_connector::Secret;
    let base = support::fake_cluster::start().await;
    let store = CamundaClusterStore::new(
        &base,
        Some("in-memory".into()),
        Some(Secret::new(support::fake_cluster::TOKEN)),
    )
    .expect("client");
    suite(&store, true).await;
    // A wrong token is reported as a credentials problem, with no token in the message.
    let wrong = CamundaClusterStore::new(&base, None, Some(Secret::new("not-the-token"))).expect("client");
    let err = wrong
        .create(
            Box::new(std::io::Cursor::new(b"x".to_vec())),
            DocumentMetadata::default(),
        )
        .await
        .expect_err("401");
    assert_eq!(err.code, ErrorCode::InvalidCredentials, "{err}");
    assert!(!err.message.contains("not-the-token") && !format!("{wrong:?}").contains("not-the-token"));
    // Nothing listening: a network error, not a hang.
    let dead = CamundaClusterStore::new("http://127.0.0.1:9", None, None).expect("client");
    let err = dead
        .delete(&uuid::Uuid::new_v4().to_string())
        .await
        .expect_err("no cluster");
    assert_eq!(err.code, ErrorCode::Network);
}
