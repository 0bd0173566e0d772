//! The element template (`s3-connector element-template`): valid against the official schema
//! from npm, faithful to Camunda's version 6 (same ids, bindings, conditions), and every
//! action's fields bind to a request the job envelope accepts.

use std::path::PathBuf;
use std::process::Command;

use s3_connector::camunda::element_template::{element_template, TEMPLATE_ID};
use s3_connector::camunda::{feel, job_actions, CamundaInput};
use serde_json::{json, Map, Value};

fn manifest(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn properties(t: &Value) -> Vec<Value> {
    t["properties"].as_array().cloned().unwrap_or_default()
}

#[test]
fn valid_against_the_official_schema() {
    let dir = manifest("tests/node");
    if !dir
        .join("node_modules/@camunda/zeebe-element-templates-json-schema")
        .exists()
    {
        let msg = "SKIPPED schema validation: run `npm ci --prefix crates/connector/tests/node` (needs node)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("{msg}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let ours = tmp.path().join("ours.json");
    std::fs::write(&ours, serde_json::to_vec_pretty(&element_template()).expect("render")).expect("write");
    // A broken copy proves the validator rejects what it should.
    let mut broken = element_template();
    broken["properties"][1]["binding"] = json!({"type": "zeebe:input"});
    let bad = tmp.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).expect("write");
    let camunda = manifest("tests/fixtures/camunda/element-template-aws-s3-v6.json");
    let out = Command::new("node")
        .arg("validate-template.mjs")
        .args([&ours, &camunda, &bad])
        .current_dir(&dir)
        .output()
        .expect("run node");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines[0]["valid"], true, "ours: {}", lines[0]["errors"]);
    assert_eq!(lines[1]["valid"], true, "Camunda's own v6 must pass too");
    assert_eq!(
        lines[2]["valid"], false,
        "the validator must reject a binding without a name"
    );
}

#[test]
fn keeps_every_id_binding_and_condition_of_camundas_template() {
    let camunda: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest("tests/fixtures/camunda/element-template-aws-s3-v6.json")).expect("read"),
    )
    .expect("json");
    let ours = element_template();
    assert_eq!(ours["id"], TEMPLATE_ID);
    assert_eq!(ours["id"], camunda["id"]);
    assert!(ours["version"].as_u64() > camunda["version"].as_u64());
    let ours_props = properties(&ours);
    for theirs in properties(&camunda) {
        let found = ours_props
            .iter()
            .find(|p| p.get("id") == theirs.get("id") && p["binding"] == theirs["binding"])
            .unwrap_or_else(|| panic!("missing {} bound to {}", theirs["id"], theirs["binding"]));
        assert_eq!(
            found.get("condition"),
            theirs.get("condition"),
            "condition of {}",
            theirs["id"]
        );
        let is_header = matches!(theirs["id"].as_str(), Some("version" | "id"));
        if theirs["type"] == "Hidden" && theirs["id"] != "configuration.endpoint" && !is_header {
            assert_eq!(found["value"], theirs["value"], "hidden value of {}", theirs["id"]);
        }
        if let Some(choices) = theirs["choices"].as_array() {
            for c in choices {
                let values: Vec<&Value> = found["choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| &x["value"])
                    .collect();
                assert!(
                    values.contains(&&c["value"]),
                    "choice {} of {}",
                    c["value"],
                    theirs["id"]
                );
            }
        }
    }
    // The job type is Camunda's, so the same diagrams reach us.
    assert!(ours_props
        .iter()
        .any(|p| p["binding"]["type"] == "zeebe:taskDefinition" && p["value"] == "io.camunda:aws-s3:1"));
}

/// A sample value for a property, as the modeller would produce it after FEEL evaluation.
fn sample(p: &Value) -> Value {
    if let Some(choices) = p["choices"].as_array() {
        return choices[0]["value"].clone();
    }
    match (p["type"].as_str(), p["binding"]["name"].as_str()) {
        (Some("Number"), _) => json!(5),
        (Some("Boolean"), _) => json!(true),
        (_, Some("action.keys")) => json!(["a.txt", "b.txt"]),
        (_, Some("action.metadata" | "action.tags")) => json!({"team": "finance"}),
        (_, Some("action.encryption")) => json!({"algorithm": "AES256"}),
        _ => json!("sample"),
    }
}

fn set_path(vars: &mut Value, path: &str, value: Value) {
    let mut cur = vars;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if !cur.get(*part).is_some_and(Value::is_object) {
            cur[*part] = json!({});
        }
        cur = &mut cur[*part];
    }
    cur[parts[parts.len() - 1]] = value;
}

#[test]
fn every_action_in_the_template_binds_to_a_valid_job() {
    let template = element_template();
    let props = properties(&template);
    let actions: Vec<String> = props
        .iter()
        .find(|p| p["id"] == "actionDiscriminator")
        .and_then(|p| p["choices"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c["value"].as_str().map(str::to_string))
        .collect();
    assert_eq!(actions.len(), 3 + job_actions().count());
    for action in &actions {
        let mut vars = json!({"actionDiscriminator": action, "authentication": {"type": "credentials", "accessKey": "k", "secretKey": "s"}});
        for p in &props {
            let applies = p["condition"]["equals"] == json!(action)
                || p["condition"]["allMatch"]
                    .as_array()
                    .is_some_and(|all| all.iter().any(|c| c["equals"] == json!(action)));
            let name = p["binding"]["name"].as_str().unwrap_or_default();
            if !applies || p["binding"]["type"] != "zeebe:input" || name == "action.document" {
                continue;
            }
            let value = match p["value"].clone() {
                Value::Null => sample(p),
                v => v,
            };
            set_path(&mut vars, name, value);
        }
        if action == "uploadObject" {
            // The hidden document input is FEEL over the helper fields: evaluate it as Zeebe
            // would, with the helpers in scope, for an inline document.
            let expr = props
                .iter()
                .find(|p| p["id"] == "uploadActionDocument")
                .and_then(|p| p["value"].as_str())
                .unwrap_or_default();
            let scope: Map<String, Value> = json!({"action_document_documentSource": "inline",
                "action_document_inline_content": "hello", "action_document_inline_fileName": "a.txt"})
            .as_object()
            .cloned()
            .unwrap_or_default();
            let document = feel::evaluate(expr, &scope).expect("the document expression evaluates");
            assert_eq!(document["camunda.document.type"], "inline", "{document}");
            set_path(&mut vars, "action.document", document);
        }
        if let Err(e) = CamundaInput::from_variables(&vars) {
            panic!("{action}: {vars} does not bind: {}", e.message);
        }
    }
}
