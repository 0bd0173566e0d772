//! Camunda's own TypeScript SDK (`@camunda8/orchestration-cluster-api`) drives the service's
//! document API: create, read with the content hash, a stale hash, a chosen document id (and
//! the same id again), delete, read after delete.
//! The SDK validates our answers against its schemas (strict), and authenticates with OAuth
//! through a token endpoint the script serves, which hands out the service's token.
//!
//! Needs node and `npm ci --prefix crates/connector/tests/node`; skipped loudly without them,
//! and failing under CI, which installs them.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use s3_connector::documents::LocalStore;
use s3_connector_server::Limits;
use serde_json::Value;
use support::{s3, serve, TOKEN};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../connector/tests/node")
}

#[tokio::test]
async fn the_camunda_sdk_round_trips_a_document() {
    let dir = node_dir();
    if !dir.join("node_modules/@camunda8/orchestration-cluster-api").exists() {
        let msg = "the Camunda SDK is not installed: run `npm ci --prefix crates/connector/tests/node`";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("\n*** SKIPPED: {msg} ***\n");
        return;
    }
    let s3 = s3().await;
    let docs = tempfile::tempdir().expect("dir");
    let store = Arc::new(LocalStore::open(docs.path()).expect("store"));
    let svc = serve(s3.conn.clone(), store, Limits::default(), true, vec![]).await;
    let out = tokio::process::Command::new("node")
        .arg(dir.join("sdk-documents.mjs"))
        .env("S3C_URL", &svc.base)
        .env("S3C_TOKEN", TOKEN)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed:\n{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON line");
    assert_eq!(result["roundTrip"], true, "{result}");
    assert_eq!(result["created"]["metadata"]["fileName"], "invoice.txt", "{result}");
    assert_eq!(
        result["created"]["metadata"]["customProperties"]["case"], "A-7",
        "{result}"
    );
    assert_eq!(result["staleHash"], 412, "{result}");
    assert_eq!(result["chosenId"], true, "{result}");
    assert_eq!(result["chosenAgain"], 412, "{result}");
    assert_eq!(result["deleted"], true, "{result}");
    assert_eq!(result["afterDelete"], 404, "{result}");
    // The document really went through the store, and is gone.
    assert_eq!(
        std::fs::read_dir(docs.path()).expect("ls").count(),
        0,
        "documents left behind"
    );
}
