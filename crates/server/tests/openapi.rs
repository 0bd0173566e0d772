//! The OpenAPI description: valid by an independent checker (`openapi-spec-validator`), it
//! describes every body the service takes and gives (JSON, the streamed upload, the multipart
//! forms, the binary answers), and a client generated from it works against the real service.
//!
//! The checker and the generator are Python tools that `.ci/run` installs into `.venv`;
//! without them the tests are skipped loudly, and under CI they fail.

mod support;

use std::path::PathBuf;

use serde_json::Value;

/// A tool in the workspace's `.venv`, or `None` (a loud skip; a failure under CI).
fn venv_tool(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.venv/bin")
        .join(name);
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{name} is not installed in .venv: run `bash .ci/run` once (or pip install it there)");
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("\n*** SKIPPED: {msg} ***\n");
    None
}

fn document() -> Value {
    serde_json::to_value(s3_connector_server::openapi_document()).expect("JSON")
}

fn content_types(v: &Value) -> Vec<String> {
    v["content"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_body_is_described() {
    let doc = document();
    let action = &doc["paths"]["/v1/actions"]["post"];
    assert_eq!(
        content_types(&action["requestBody"]),
        ["application/json", "application/octet-stream", "multipart/form-data"],
        "{action}"
    );
    assert_eq!(
        content_types(&action["responses"]["200"]),
        ["application/json", "application/octet-stream"],
        "{action}"
    );
    assert!(
        action["parameters"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["name"] == "S3-Connector-Request" && p["in"] == "header")),
        "{action}"
    );
    assert!(
        action["responses"]["200"]["headers"]["S3-Connector-Result"].is_object(),
        "{action}"
    );
    let create = &doc["paths"]["/v2/documents"]["post"];
    assert_eq!(
        content_types(&create["requestBody"]),
        ["multipart/form-data"],
        "{create}"
    );
    let read = &doc["paths"]["/v2/documents/{documentId}"]["get"];
    assert_eq!(
        content_types(&read["responses"]["200"]),
        ["application/octet-stream"],
        "{read}"
    );
    if let Some(out) = std::env::var_os("S3C_OPENAPI_OUT") {
        std::fs::write(out, serde_json::to_string_pretty(&doc).expect("text")).expect("write");
    }
}

#[test]
fn the_description_passes_openapi_spec_validator() {
    let Some(validator) = venv_tool("openapi-spec-validator") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_string(&document()).expect("text")).expect("write");
    let out = std::process::Command::new(validator)
        .arg(&file)
        .output()
        .expect("run the validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the description:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_client_generated_from_the_description_works() {
    let (Some(generator), Some(python)) = (venv_tool("openapi-python-client"), venv_tool("python")) else {
        return;
    };
    let work = tempfile::tempdir().expect("dir");
    let spec = work.path().join("openapi.json");
    std::fs::write(&spec, serde_json::to_string(&document()).expect("text")).expect("write");
    let generated = tokio::process::Command::new(&generator)
        .args(["generate", "--meta", "none", "--path"])
        .arg(&spec)
        .arg("--output-path")
        .arg(work.path().join("s3c_client"))
        // Its formatter (ruff) sits beside it; without it the code is just left unformatted.
        .env(
            "PATH",
            format!(
                "{}:{}",
                generator.parent().expect("dir").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .await
        .expect("run the generator");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&generated.stdout),
        String::from_utf8_lossy(&generated.stderr)
    );
    assert!(generated.status.success(), "the generator failed:\n{said}");
    // The generator goes on past a schema it cannot read, leaving that model out: any
    // warning is a part of the API a generated client would lack.
    assert!(
        !said.contains("Warning"),
        "the generator could not read all of the description:\n{said}"
    );

    let s3 = support::s3().await;
    let docs = tempfile::tempdir().expect("dir");
    let store = std::sync::Arc::new(s3_connector::documents::LocalStore::open(docs.path()).expect("store"));
    let svc = support::serve(
        s3.conn.clone(),
        store,
        s3_connector_server::Limits::default(),
        true,
        vec![],
    )
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/generated_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&svc.base)
        .arg(support::TOKEN)
        .env("PYTHONPATH", work.path())
        .output()
        .await
        .expect("run the client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the generated client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON line");
    assert_eq!(seen["createBucket"], "generated", "{seen}");
    assert_eq!(seen["putInline"], 11, "{seen}");
    assert_eq!(seen["putStreamed"], 14_000, "{seen}");
    assert_eq!(seen["putForm"], 2560, "{seen}");
    assert_eq!(seen["getBytes"], true, "{seen}");
    assert_eq!(seen["getResultHeader"], 2560, "{seen}");
    assert_eq!(
        seen["listed"],
        serde_json::json!(["form.bin", "inline.txt", "streamed.txt"]),
        "{seen}"
    );
    assert_eq!(seen["documentName"], "invoice.txt", "{seen}");
    assert_eq!(seen["documentBytes"], "a document", "{seen}");
    assert_eq!(seen["afterDelete"], 404, "{seen}");
}
