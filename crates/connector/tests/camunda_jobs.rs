//! How a job ends, from what a job worker receives (variables, headers, retries) to the
//! outcome it reports, against the embedded S3 store over HTTP. Credentials come in as
//! `{{secrets.NAME}}`, so every test also checks that no secret value leaves.

mod support;

use s3_connector::camunda::job::{run_job, JobConnections, JobEnv, JobRequest, Outcome};
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::MemoryStore;
use s3_connector::net::EndpointPolicy;
use serde_json::{json, Map, Value};

struct World {
    t: support::Target,
    store: MemoryStore,
    external: ExternalFetch,
    secrets: Map<String, Value>,
    connections: JobConnections,
}

const BUCKET: &str = "job-bucket";

impl World {
    async fn new() -> World {
        let t = support::embedded().await;
        support::act(&t.conn, json!({"action": "createBucket", "bucket": BUCKET}))
            .await
            .expect("bucket");
        let secret = t.settings.secret_access_key.as_ref().map(|s| s.expose().to_string());
        let secrets = json!({"S3_KEY": t.settings.access_key_id, "S3_SECRET": secret, "THE_BUCKET": BUCKET});
        // The test store is the operator's own endpoint, as the service's embedded store is.
        let connections = JobConnections {
            endpoints: EndpointPolicy::default().trusting(t.settings.endpoint.as_deref()),
            ..Default::default()
        };
        World {
            t,
            store: MemoryStore::new(),
            external: ExternalFetch::default(),
            secrets: secrets.as_object().cloned().unwrap_or_default(),
            connections,
        }
    }

    fn variables(&self, action: Value) -> Value {
        json!({
            "authentication": {"type": "credentials", "accessKey": "{{secrets.S3_KEY}}", "secretKey": "{{secrets.S3_SECRET}}"},
            "configuration": {"region": "us-east-1", "endpoint": self.t.settings.endpoint},
            "actionDiscriminator": action["discriminator"],
            "action": action["action"],
            "documentReturnFormat": action["format"],
        })
    }

    async fn job(&self, action: Value, headers: Value, retries: i64) -> Value {
        let request = JobRequest {
            variables: self.variables(action),
            headers: headers.as_object().cloned().unwrap_or_default(),
            retries,
        };
        let lookup = |name: &str| self.secrets.get(name).and_then(Value::as_str).map(str::to_string);
        let env = JobEnv {
            store: &self.store,
            external: &self.external,
            secrets: &lookup,
            connections: &self.connections,
            connected: None,
        };
        let outcome: Outcome = run_job(&request, &env).await;
        let rendered = serde_json::to_value(&outcome).expect("outcome renders");
        let text = rendered.to_string();
        for (name, value) in &self.secrets {
            if name != "THE_BUCKET" {
                let value = value.as_str().unwrap_or_default();
                assert!(!text.contains(value), "secret {name} leaked: {text}");
            }
        }
        rendered
    }

    async fn put_text(&self, key: &str, body: &[u8]) {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("body");
        std::fs::write(&f, body).expect("write");
        support::act(
            &self.t.conn,
            json!({"action": "putObject", "bucket": BUCKET, "key": key, "file": f, "contentType": "text/plain"}),
        )
        .await
        .expect("put");
    }
}

/// Asserts the job failed with no retries left (an incident) and a message containing `needle`.
fn assert_incident(out: &Value, needle: &str) {
    assert_eq!(
        (out["outcome"].clone(), out["retries"].clone()),
        (json!("fail"), json!(0)),
        "{out}"
    );
    let message = out["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {out}");
}

fn download(key: &str, format: &str) -> Value {
    json!({"discriminator": "downloadObject", "action": {"bucket": BUCKET, "key": key}, "format": {"choice": format}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_maps_the_result_into_variables() {
    let w = World::new().await;
    w.put_text("notes/a.txt", b"hello").await;
    let out = w
        .job(
            download("notes/a.txt", "TEXT"),
            json!({"resultVariable": "s3", "resultExpression": "={text: element.content, sameKey: response.s3.key}", "retryBackoff": "PT30S"}),
            3,
        )
        .await;
    assert_eq!(
        out,
        json!({"outcome": "complete", "variables": {
            "s3": {"bucket": BUCKET, "key": "notes/a.txt", "element": {"content": "hello"}},
            "text": "hello", "sameKey": null}})
    );
    // Without headers the job completes with no variables.
    let out = w.job(download("notes/a.txt", "TEXT"), json!({}), 3).await;
    assert_eq!(out, json!({"outcome": "complete", "variables": {}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_failure_uses_a_retry_and_carries_the_stable_code() {
    let w = World::new().await;
    let out = w
        .job(download("missing.txt", "TEXT"), json!({"retryBackoff": "PT30S"}), 3)
        .await;
    assert_eq!(out["outcome"], "fail");
    assert_eq!(out["retries"], 2);
    assert_eq!(out["retryBackoff"], "PT30S");
    assert_eq!(out["variables"]["error"]["code"], "NoSuchKey");
    assert_eq!(
        out["variables"]["error"]["type"],
        "io.camunda.connector.api.error.ConnectorException"
    );
    assert_eq!(out["variables"]["error"]["message"], out["errorMessage"]);
    // The message starts as Camunda's connector words it (the AWS SDK for Java's shape), so
    // error expressions written for Camunda's connector match; ours follows.
    let message = out["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("The specified key does not exist. (Service: S3, Status Code: 404, Request ID: "),
        "{message}"
    );
    assert!(
        message.contains("; GetObject s3://job-bucket/missing.txt failed: NoSuchKey"),
        "{message}"
    );
    let expr =
        r#"=if starts with(error.message, "The specified key does not exist.") then bpmnError("GONE", "") else null"#;
    let thrown = w
        .job(download("missing.txt", "TEXT"), json!({"errorExpression": expr}), 3)
        .await;
    assert_eq!(thrown["outcome"], "bpmnError", "{thrown}");
    // Without a retryBackoff header there is no backoff, and retries never go below 0.
    let out = w.job(download("missing.txt", "TEXT"), json!({}), 0).await;
    assert_eq!(
        (out["retries"].clone(), out["retryBackoff"].clone()),
        (json!(0), json!("PT0S"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_expression_throws_bpmn_errors_fails_or_ignores() {
    let w = World::new().await;
    let missing = download("missing.txt", "TEXT");
    let expr = r#"=if error.code = "NoSuchKey" then bpmnError("NOT_FOUND", error.message, {where: response.error.code}) else null"#;
    let out = w.job(missing.clone(), json!({"errorExpression": expr}), 3).await;
    assert_eq!(out["outcome"], "bpmnError");
    assert_eq!(out["errorCode"], "NOT_FOUND");
    assert!(
        out["errorMessage"].as_str().unwrap_or_default().contains("missing.txt"),
        "{out}"
    );
    assert_eq!(out["variables"], json!({"where": "NoSuchKey"}));

    // jobError sets retries and backoff itself, and the message becomes the `error` variable.
    let expr = r#"=jobError("giving it " + string(job.retries) + " more", {attempted: true}, 7, duration("PT2M"))"#;
    let out = w.job(missing.clone(), json!({"errorExpression": expr}), 3).await;
    assert_eq!(
        out,
        json!({"outcome": "fail", "retries": 7, "retryBackoff": "PT2M", "errorMessage": "giving it 3 more",
               "variables": {"attempted": true, "error": "giving it 3 more"}})
    );

    let out = w
        .job(
            missing.clone(),
            json!({"errorExpression": "=ignoreError({skipped: error.code})"}),
            3,
        )
        .await;
    assert_eq!(
        out,
        json!({"outcome": "complete", "variables": {"skipped": "NoSuchKey"}})
    );

    // An expression that matches nothing leaves the failure as it was.
    let out = w
        .job(
            missing.clone(),
            json!({"errorExpression": "=if error.code = \"AccessDenied\" then bpmnError(\"X\", \"\") else null"}),
            3,
        )
        .await;
    assert_eq!(
        (out["outcome"].clone(), out["retries"].clone()),
        (json!("fail"), json!(2))
    );

    // After a success the expression sees the result (here under resultVariable) and can still fail the job.
    w.put_text("empty.txt", b"").await;
    let out = w
        .job(
            download("empty.txt", "TEXT"),
            json!({"resultVariable": "r", "errorExpression": "=if r.element.content = \"\" then bpmnError(\"EMPTY\", \"no content\") else null"}),
            3,
        )
        .await;
    assert_eq!(
        (out["outcome"].clone(), out["errorCode"].clone()),
        (json!("bpmnError"), json!("EMPTY"))
    );

    // A broken error expression is an incident at once.
    let out = w.job(missing, json!({"errorExpression": "=if then"}), 3).await;
    assert_eq!(
        (out["outcome"].clone(), out["retries"].clone()),
        (json!("fail"), json!(0))
    );
    assert_eq!(out["variables"]["error"]["code"], "InvalidInput");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_and_bad_headers_raise_an_incident_at_once() {
    let w = World::new().await;
    let out = w
        .job(
            json!({"discriminator": "deleteObject", "action": {"bucket": " ", "key": "k"}}),
            json!({"retryBackoff": "PT30S"}),
            3,
        )
        .await;
    assert_eq!(out["retries"], 0);
    assert_eq!(out["variables"]["error"]["code"], "InvalidInput");
    assert_eq!(
        out["variables"]["error"]["type"],
        "io.camunda.connector.api.error.ConnectorInputException"
    );
    assert!(out["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .contains(" - Property: action.bucket: Validation failed. Original message: must not be blank"));

    // A malformed header stops the job before anything is sent: the object survives.
    w.put_text("keep.txt", b"keep").await;
    let delete = json!({"discriminator": "deleteObject", "action": {"bucket": BUCKET, "key": "keep.txt"}});
    let out = w.job(delete.clone(), json!({"retryBackoff": "30 seconds"}), 3).await;
    assert_incident(&out, "retryBackoff");
    let still = w
        .job(download("keep.txt", "TEXT"), json!({"resultVariable": "r"}), 3)
        .await;
    assert_eq!(still["variables"]["r"]["element"]["content"], "keep");

    // A result expression that does not give a context is an incident too.
    let out = w.job(delete, json!({"resultExpression": "=key"}), 3).await;
    assert_eq!(
        (out["outcome"].clone(), out["retries"].clone()),
        (json!("fail"), json!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_replaced_and_masked_in_errors_and_results() {
    let w = World::new().await;
    w.put_text("s.txt", b"x").await;
    // The bucket itself comes from a secret: it is used, and masked wherever it would show.
    let action = json!({"discriminator": "downloadObject", "action": {"bucket": "{{secrets.THE_BUCKET}}", "key": "s.txt"}, "format": {"choice": "TEXT"}});
    let out = w.job(action, json!({"resultVariable": "r"}), 3).await;
    assert_eq!(out["variables"]["r"]["element"]["content"], "x");
    assert_eq!(out["variables"]["r"]["bucket"], "***");
    let action = json!({"discriminator": "downloadObject", "action": {"bucket": "{{secrets.THE_BUCKET}}", "key": "nope.txt"}, "format": {"choice": "TEXT"}});
    let out = w.job(action, json!({}), 3).await;
    let message = out["errorMessage"].as_str().unwrap_or_default();
    assert!(!message.contains(BUCKET) && message.contains("***"), "{message}");
    // A wrong secret key: the error names the problem without showing the key.
    let mut w2 = World::new().await;
    w2.secrets.insert("S3_SECRET".into(), json!("definitely-wrong-secret"));
    let out = w2.job(download("s.txt", "TEXT"), json!({}), 3).await;
    assert_eq!(out["variables"]["error"]["code"], "InvalidCredentials", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_over_one_and_a_half_mib_is_an_incident() {
    let w = World::new().await;
    // The largest object TEXT may return inline: the result itself is allowed...
    w.put_text("big.txt", &vec![b'a'; 1_572_864]).await;
    let out = w.job(download("big.txt", "TEXT"), json!({}), 3).await;
    assert_eq!(out["outcome"], "complete");
    // ...but as a variable (with its JSON around it) it exceeds what Zeebe takes.
    let out = w
        .job(download("big.txt", "TEXT"), json!({"resultVariable": "r"}), 3)
        .await;
    assert_incident(&out, "exceeds the 1.5 MB");
}
