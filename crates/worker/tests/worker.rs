//! The job worker against a fake cluster on loopback: outcomes reported per the job envelope,
//! OAuth, jobTimeout, deadlines, an unreachable cluster, shutdown, and two competing workers.
//! Every exchange with the fake is checked against Camunda's published API schemas.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use support::jobs_cluster::{self, JobState};
use support::{check_shapes, s3, start_worker};

const TYPE: &str = s3_connector_worker::DEFAULT_JOB_TYPE;

#[tokio::test]
async fn outcomes_are_reported_as_the_job_envelope_decides() {
    let s3 = s3().await;
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    let inline = json!({"camunda.document.type": "inline", "content": "hello from a job", "name": "hello.txt"});
    let upload = cluster.add_job(
        TYPE,
        s3.variables(
            "uploadObject",
            json!({"bucket": "jobs", "key": "hello.txt", "document": inline}),
        ),
        json!({"resultVariable": "uploaded", "jobTimeout": "PT2M"}),
        3,
    );
    let missing = cluster.add_job(
        TYPE,
        s3.variables("downloadObject", json!({"bucket": "jobs", "key": "missing.txt"})),
        json!({"retryBackoff": "PT0.2S"}),
        2,
    );
    let thrown = cluster.add_job(
        TYPE,
        s3.variables("downloadObject", json!({"bucket": "jobs", "key": "missing.txt"})),
        json!({"errorExpression": "=if error.code = \"NoSuchKey\" then bpmnError(\"NOT_FOUND\", error.message) else null"}),
        3,
    );
    let bad_input = cluster.add_job(
        TYPE,
        s3.variables("uploadObject", json!({"bucket": "jobs"})),
        json!({}),
        3,
    );
    let worker = start_worker(&cluster, &docs, "w1", s3.secret(), |_| {}).await;
    assert!(
        cluster.wait_for(Duration::from_secs(30), |c| c.all_ended()).await,
        "jobs did not end: {:?}",
        cluster.inner.jobs.lock().expect("lock")
    );
    // The worker's own port: alive, ready (it activated lately), and counting.
    let health = reqwest::get(format!("{}/health", worker.probes)).await.expect("health");
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{}/ready", worker.probes)).await.expect("ready");
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["checks"]["cluster"]["last"]["result"], "ok", "{ready}");
    let metrics = reqwest::get(format!("{}/metrics", worker.probes))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "s3_connector_jobs_total{outcome=\"complete\"} 1",
        "s3_connector_jobs_total{outcome=\"bpmnError\"} 1",
        "s3_connector_jobs_total{outcome=\"fail\"} 3",
        "s3_connector_job_duration_seconds_count{outcome=\"complete\"} 1",
        "s3_connector_s3_requests_total{operation=\"PutObject\",status=\"200\"} 1",
        "s3_connector_s3_bytes_total{direction=\"up\"} 16",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(metrics.contains("s3_connector_build_info{"), "{metrics}");
    support::promtool_check(&metrics);
    let report = worker.stop().await;

    let JobState::Completed(vars) = cluster.job(&upload).state else {
        panic!("upload: {:?}", cluster.job(&upload));
    };
    assert_eq!(vars["uploaded"]["key"], "hello.txt", "{vars}");
    let stored = s3
        .conn
        .client()
        .get_object()
        .bucket("jobs")
        .key("hello.txt")
        .send()
        .await
        .expect("uploaded");
    let body = stored.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"hello from a job");
    // jobTimeout moved the deadline before the job ran.
    assert!(
        cluster.job(&upload).history.iter().any(|h| h == "timeout 120000"),
        "{:?}",
        cluster.job(&upload).history
    );

    // Retried with the header's backoff until the retries ran out: an incident.
    let m = cluster.job(&missing);
    assert_eq!(m.activations, 2, "{m:?}");
    let JobState::Incident(failure) = &m.state else {
        panic!("missing: {m:?}")
    };
    assert_eq!(failure["retries"], 0);
    assert_eq!(failure["variables"]["error"]["code"], "NoSuchKey", "{failure}");
    assert!(m.history[1].contains("\"retryBackOff\":200"), "{:?}", m.history);

    let JobState::BpmnError(thrown) = cluster.job(&thrown).state else {
        panic!("thrown: {:?}", cluster.job(&thrown))
    };
    assert_eq!(thrown["errorCode"], "NOT_FOUND");
    let JobState::Incident(bad) = cluster.job(&bad_input).state else {
        panic!("bad input: {:?}", cluster.job(&bad_input))
    };
    assert_eq!(bad["retries"], 0, "invalid input is not retried: {bad}");

    assert_eq!(
        (report.completed, report.bpmn_errors, report.failed),
        (1, 1, 3),
        "{report:?}"
    );
    assert_eq!(cluster.violations(), Vec::<String>::new());
    // One OAuth token served every call.
    assert_eq!(cluster.inner.token_fetches.load(Ordering::SeqCst), 1);
    // The secret key never reached the cluster.
    let exchanges = serde_json::to_string(&*cluster.inner.exchanges.lock().expect("lock")).expect("json");
    assert!(!exchanges.contains(&s3.secret()));
    check_shapes(&cluster).await;
}

#[tokio::test]
async fn downloaded_documents_go_to_the_clusters_document_api() {
    let s3 = s3().await;
    s3.conn
        .client()
        .put_object()
        .bucket("jobs")
        .key("report.pdf")
        .body(b"%PDF-1.7 not really".to_vec().into())
        .content_type("application/pdf")
        .send()
        .await
        .expect("put");
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    let mut variables = s3.variables("downloadObject", json!({"bucket": "jobs", "key": "report.pdf"}));
    variables["documentReturnFormat"] = json!({"choice": "DOCUMENT"});
    let key = cluster.add_job(
        TYPE,
        variables,
        json!({"resultExpression": "={doc: element.document}"}),
        3,
    );
    let worker = start_worker(&cluster, &docs, "w1", s3.secret(), |_| {}).await;
    assert!(cluster.wait_for(Duration::from_secs(20), |c| c.all_ended()).await);
    worker.stop().await;
    let JobState::Completed(vars) = cluster.job(&key).state else {
        panic!("{:?}", cluster.job(&key))
    };
    let reference = &vars["doc"];
    assert_eq!(reference["camunda.document.type"], "camunda", "{vars}");
    // Read it back through the cluster's API, as the next task in the process would.
    let id = reference["documentId"].as_str().expect("id");
    let store = reference["storeId"].as_str().expect("store");
    let got = reqwest::Client::new()
        .get(format!("{docs}/v2/documents/{id}?storeId={store}"))
        .bearer_auth(jobs_cluster::TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(&got.bytes().await.expect("body")[..], b"%PDF-1.7 not really");
    check_shapes(&cluster).await;
}

#[tokio::test]
async fn an_unreachable_cluster_is_retried_with_backoff() {
    let s3 = s3().await;
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    cluster.inner.unavailable.store(true, Ordering::SeqCst);
    let key = cluster.add_job(
        TYPE,
        s3.variables("deleteObject", json!({"bucket": "jobs", "key": "nothing"})),
        json!({}),
        3,
    );
    let worker = start_worker(&cluster, &docs, "w1", s3.secret(), |_| {}).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let attempts = cluster.inner.activation_calls.load(Ordering::SeqCst);
    // 100 ms doubling: about 4 attempts in 1.5 s; a worker that spins would make hundreds.
    assert!((2..=8).contains(&attempts), "{attempts} activation attempts in 1.5 s");
    // Not ready before its first successful activation, and /ready says why and since when.
    let ready = reqwest::get(format!("{}/ready", worker.probes)).await.expect("ready");
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["status"], "unready", "{ready}");
    assert!(ready["checks"]["cluster"]["last"]["ageSeconds"].is_u64(), "{ready}");
    assert_ne!(ready["checks"]["cluster"]["last"]["result"], "ok", "{ready}");
    cluster.inner.unavailable.store(false, Ordering::SeqCst);
    assert!(cluster.wait_for(Duration::from_secs(20), |c| c.all_ended()).await);
    let report = worker.stop().await;
    assert!(matches!(cluster.job(&key).state, JobState::Completed(_)));
    assert_eq!(report.completed, 1);
}

/// An S3 endpoint that accepts connections and never answers: jobs against it hang.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

/// A job's variables whose S3 endpoint accepts connections and never answers: it hangs.
async fn hanging_job(s3: &support::S3) -> serde_json::Value {
    let mut variables = s3.variables("deleteObject", json!({"bucket": "jobs", "key": "k"}));
    variables["configuration"]["endpoint"] = json!(black_hole().await);
    variables
}

/// A worker whose only slot runs a long job asks for no jobs, by design: it stays ready
/// however long the job runs, and the clock starts again only once the slot frees.
#[tokio::test]
async fn a_busy_worker_stays_ready() {
    let s3 = s3().await;
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    let variables = hanging_job(&s3).await;
    let stuck = cluster.add_job(TYPE, variables, json!({}), 3);
    let worker = start_worker(&cluster, &docs, "w1", s3.secret(), |c| {
        c.max_jobs = 1;
        c.ready_slack = Duration::from_millis(200);
        c.shutdown_grace = Duration::from_millis(300);
    })
    .await;
    assert!(
        cluster
            .wait_for(Duration::from_secs(10), |c| c.job(&stuck).activations == 1)
            .await
    );
    // Well past the poll timeout (300 ms) plus the slack, with no activation since.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let ready = reqwest::get(format!("{}/ready", worker.probes)).await.expect("ready");
    let status = ready.status();
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert!(body["checks"]["cluster"]["busySeconds"].is_u64(), "{body}");
    let report = worker.stop().await;
    assert_eq!(report.released, 1, "{report:?}");
}

#[tokio::test]
async fn shutdown_hands_running_jobs_back_and_deadlines_stop_them() {
    let s3 = s3().await;
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    let variables = hanging_job(&s3).await;
    let stuck = cluster.add_job(TYPE, variables.clone(), json!({}), 3);

    // Shutdown with a short grace: the job is handed back with its retries unchanged.
    let worker = start_worker(&cluster, &docs, "w1", s3.secret(), |c| {
        c.shutdown_grace = Duration::from_millis(300);
    })
    .await;
    assert!(
        cluster
            .wait_for(Duration::from_secs(10), |c| c.job(&stuck).activations == 1)
            .await
    );
    let report = worker.stop().await;
    assert_eq!(report.released, 1, "{report:?}");
    let job = cluster.job(&stuck);
    assert!(matches!(job.state, JobState::Activatable { .. }), "{job:?}");
    assert_eq!(job.retries, 3, "{job:?}");
    assert!(job.history.last().is_some_and(|h| h.contains("handed back")), "{job:?}");

    // A job still running at its deadline is stopped and failed with one retry less, before
    // the lease runs out, so that no other worker can take it while it still runs.
    let worker = start_worker(&cluster, &docs, "w2", s3.secret(), |c| {
        c.job_timeout = Duration::from_millis(2500);
    })
    .await;
    assert!(
        cluster
            .wait_for(Duration::from_secs(10), |c| c.job(&stuck).retries == 2)
            .await,
        "{:?}",
        cluster.job(&stuck)
    );
    worker.stop().await;
    let job = cluster.job(&stuck);
    assert!(job.history.iter().any(|h| h.contains("end of its timeout")), "{job:?}");
    assert_eq!(cluster.violations(), Vec::<String>::new());
    check_shapes(&cluster).await;
}

#[tokio::test]
async fn two_workers_never_do_a_job_twice() {
    let s3 = s3().await;
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    let keys: Vec<String> = (0..40)
        .map(|i| {
            let doc = json!({"camunda.document.type": "inline", "content": format!("job {i}"), "name": "x.txt"});
            cluster.add_job(
                TYPE,
                s3.variables(
                    "uploadObject",
                    json!({"bucket": "jobs", "key": format!("many/{i:02}.txt"), "document": doc}),
                ),
                json!({}),
                3,
            )
        })
        .collect();
    let a = start_worker(&cluster, &docs, "worker-a", s3.secret(), |c| c.max_jobs = 4).await;
    let b = start_worker(&cluster, &docs, "worker-b", s3.secret(), |c| c.max_jobs = 4).await;
    assert!(cluster.wait_for(Duration::from_secs(60), |c| c.all_ended()).await);
    let (ra, rb) = (a.stop().await, b.stop().await);
    assert_eq!(ra.completed + rb.completed, 40, "{ra:?} {rb:?}");
    assert!(
        ra.completed > 0 && rb.completed > 0,
        "both workers took jobs: {ra:?} {rb:?}"
    );
    for key in &keys {
        let job = cluster.job(key);
        assert_eq!(job.activations, 1, "{job:?}");
        assert!(matches!(job.state, JobState::Completed(_)), "{job:?}");
    }
    assert_eq!(cluster.violations(), Vec::<String>::new());
    let listed = s3
        .conn
        .client()
        .list_objects_v2()
        .bucket("jobs")
        .prefix("many/")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.contents().len(), 40);
    check_shapes(&cluster).await;
}

/// With the operator's policy (no allow-list), a job naming an endpoint on loopback fails at
/// once with no retries, and no connection reaches it.
#[tokio::test]
async fn job_endpoints_the_operator_did_not_allow_make_no_connection() {
    let s3 = s3().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    let cluster = jobs_cluster::start().await;
    let docs = support::documents_cluster::start().await;
    let mut variables = s3.variables("deleteObject", json!({"bucket": "jobs", "key": "k"}));
    variables["configuration"]["endpoint"] = json!(format!("http://127.0.0.1:{port}"));
    let key = cluster.add_job(TYPE, variables, json!({}), 3);
    let worker = start_worker(&cluster, &docs, "w1", s3.secret(), |c| {
        c.jobs.endpoints = s3_connector::net::EndpointPolicy::default();
    })
    .await;
    assert!(cluster.wait_for(Duration::from_secs(20), |c| c.all_ended()).await);
    worker.stop().await;
    let job = cluster.job(&key);
    assert_eq!(job.retries, 0, "an input error raises an incident at once: {job:?}");
    assert!(
        job.history.iter().any(|h| h.contains("S3_CONNECTOR_ALLOW_ADDRESSES")),
        "{job:?}"
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a refused endpoint was reached"
    );
    check_shapes(&cluster).await;
}
