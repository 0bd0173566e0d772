//! A fake Camunda cluster's document API: `POST /v2/documents` (multipart `file` and
//! `metadata`), `GET`/`DELETE /v2/documents/{id}`, bearer-token auth, SHA-256 content hashes.
//! It streams content to and from files, so it holds no document in memory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The bearer token the fake accepts.
pub const TOKEN: &str = "test-token";

/// One stored document: its file, metadata and SHA-256, keyed by (storeId, documentId).
type Stored = (PathBuf, Value, String);

#[derive(Clone)]
struct Cluster {
    dir: Arc<tempfile::TempDir>,
    docs: Arc<Mutex<HashMap<(String, String), Stored>>>,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn create(
    State(c): State<Cluster>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let store = q.get("storeId").cloned().unwrap_or_else(|| "in-memory".into());
    let id = q
        .get("documentId")
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if c.docs.lock().expect("lock").contains_key(&(store.clone(), id.clone())) {
        return (StatusCode::CONFLICT, "document id already in use").into_response();
    }
    let path = c.dir.path().join(&id);
    let (mut stored, mut meta, mut sha, mut size) = (false, json!({}), String::new(), 0u64);
    while let Ok(Some(mut field)) = form.next_field().await {
        match field.name() {
            Some("file") => {
                let Ok(mut file) = tokio::fs::File::create(&path).await else {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let mut hasher = Sha256::new();
                while let Ok(Some(chunk)) = field.chunk().await {
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    if file.write_all(&chunk).await.is_err() {
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                }
                sha = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
                stored = true;
            }
            Some("metadata") => {
                meta = field
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(json!({}));
            }
            _ => {}
        }
    }
    if !stored {
        return (StatusCode::BAD_REQUEST, "no file part").into_response();
    }
    meta["size"] = json!(size);
    let reference = json!({"camunda.document.type": "camunda", "storeId": store, "documentId": id, "contentHash": sha, "metadata": meta});
    c.docs.lock().expect("lock").insert((store, id), (path, meta, sha));
    (StatusCode::CREATED, Json(reference)).into_response()
}

async fn read(
    State(c): State<Cluster>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let key = (q.get("storeId").cloned().unwrap_or_default(), id);
    let Some((path, meta, sha)) = c.docs.lock().expect("lock").get(&key).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if q.get("contentHash").is_some_and(|h| *h != sha) {
        return (StatusCode::CONFLICT, "content hash does not match").into_response();
    }
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let stream = futures::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let ctype = meta["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_string();
    ([("content-type", ctype)], Body::from_stream(stream)).into_response()
}

async fn remove(
    State(c): State<Cluster>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let store = q.get("storeId").cloned().unwrap_or_else(|| "in-memory".into());
    match c.docs.lock().expect("lock").remove(&(store, id)) {
        Some((path, _, _)) => {
            let _ = std::fs::remove_file(path);
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the fake on 127.0.0.1; returns its base URL.
pub async fn start() -> String {
    let cluster = Cluster {
        dir: Arc::new(tempfile::tempdir().expect("tmp")),
        docs: Arc::default(),
    };
    let app = Router::new()
        .route("/v2/documents", post(create))
        .route("/v2/documents/{id}", get(read).delete(remove))
        // Large documents stream through; the default 2 MB body limit is for forms, not files.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(cluster);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
