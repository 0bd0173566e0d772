//! FEEL: our adapter over dsntk against a table of expressions with their expected results
//! (`tests/fixtures/feel-table.json`), and the same table against feelin, the FEEL interpreter of the
//! bpmn.io tools, as an independent implementation.
//!
//! Each row is `{expr, vars, expect}`; `feelin` holds feelin's answer where it legitimately
//! differs (with `why`), and `oracle: false` skips feelin for Camunda extensions it lacks.
//! `expect: {"error": true}` means the expression must not parse. A row without `expect`
//! fails and prints what we answer, which is how new rows are written.
//!
//! The feelin half needs `npm ci --prefix crates/connector/tests/node` (`.ci/run` does it);
//! without it the test is skipped loudly, and fails under CI.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use s3_connector::camunda::feel;
use serde_json::{json, Value};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

fn table() -> Vec<Value> {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feel-table.json"))
            .expect("read feel-table.json");
    serde_json::from_str::<Vec<Value>>(&text).expect("table.json is a JSON array")
}

fn vars(row: &Value) -> serde_json::Map<String, Value> {
    row.get("vars").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// Equal as JSON, numbers within a relative 1e-9 (feelin computes in doubles).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn ours(row: &Value) -> Value {
    let expr = row["expr"].as_str().expect("expr is a string");
    match feel::evaluate(expr, &vars(row)) {
        Ok(v) => v,
        Err(_) => json!({"error": true}),
    }
}

#[test]
fn table_has_at_least_fifty_compared_rows() {
    let rows = table();
    let compared = rows.iter().filter(|r| r.get("oracle") != Some(&json!(false))).count();
    assert!(compared >= 50, "only {compared} rows are compared with feelin");
}

#[test]
fn our_engine_matches_the_table() {
    let mut failures = Vec::new();
    for row in table() {
        let got = ours(&row);
        match row.get("expect") {
            Some(expect) if same(&got, expect) => {}
            Some(expect) => failures.push(format!("{}\n    expected {expect}\n    got      {got}", row["expr"])),
            None => failures.push(format!("{}\n    no expect; we answer {got}", row["expr"])),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn feelin_agrees_with_the_table() {
    let dir = node_dir();
    if !dir.join("node_modules/feelin").exists() || Command::new("node").arg("--version").output().is_err() {
        let msg = "SKIPPED feelin differential: run `npm ci --prefix crates/connector/tests/node` (needs node)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("{msg}");
        return;
    }
    let rows = table();
    let mut child = Command::new("node")
        .arg("feel-oracle.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut input = String::new();
    for row in &rows {
        input.push_str(&json!({"expr": row["expr"], "vars": row.get("vars")}).to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write to the oracle");
    let out = child.wait_with_output().expect("node output");
    assert!(out.status.success(), "the oracle failed");
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("oracle line is JSON"))
        .collect();
    assert_eq!(answers.len(), rows.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for (row, answer) in rows.iter().zip(&answers) {
        if row.get("oracle") == Some(&json!(false)) {
            continue;
        }
        compared += 1;
        let theirs = if answer.get("error").is_some() {
            json!({"error": true})
        } else {
            answer["value"].clone()
        };
        let want = row.get("feelin").or(row.get("expect")).cloned().unwrap_or(Value::Null);
        if !same(&theirs, &want) {
            failures.push(format!(
                "{}\n    table says {want}\n    feelin     {answer}",
                row["expr"]
            ));
        }
    }
    assert!(compared >= 50);
    assert!(
        failures.is_empty(),
        "{} rows differ from feelin:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
