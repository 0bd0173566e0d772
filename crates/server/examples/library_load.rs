//! The ceiling for `bench/http-load.sh`: the same workload (64 KiB puts, then gets) sent
//! straight to the embedded store through the library, at a given concurrency, for a given
//! time. Prints one JSON line per phase: requests/s, p50 and p99 latency in ms.
//!
//! `cargo run --release -p s3-connector-server --example library_load -- CONCURRENCY SECONDS`

use std::sync::Arc;
use std::time::{Duration, Instant};

use s3_connector::{Action, ConnectionSettings, Connector, Secret, Streams};
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};
use serde_json::json;

const SIZE: usize = 64 * 1024;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::start(EmbeddedOptions::new(dir.path().join("s3")))
        .await
        .expect("embedded store");
    let settings = ConnectionSettings {
        endpoint: Some(store.endpoint()),
        region: Some("us-east-1".into()),
        access_key_id: Some(store.access_key().into()),
        secret_access_key: Some(Secret::new(store.secret_key())),
        ..Default::default()
    };
    let conn = Connector::connect(settings).await.expect("connect");
    conn.client()
        .create_bucket()
        .bucket("bench")
        .send()
        .await
        .expect("bucket");
    let body: Arc<Vec<u8>> = Arc::new((0..SIZE).map(|i| i as u8).collect());
    for phase in ["put", "get"] {
        let until = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..concurrency)
            .map(|worker| {
                let conn = conn.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < until {
                        let key = format!("k/{worker}/{}", n % 64);
                        let started = Instant::now();
                        let result = if phase == "put" {
                            let action =
                                Action::from_json(json!({"action": "putObject", "bucket": "bench", "key": key}))
                                    .expect("request");
                            let streams = Streams {
                                input: Some(Box::new(std::io::Cursor::new(body.as_ref().clone()))),
                                ..Default::default()
                            };
                            action.execute(&conn, streams).await
                        } else {
                            let action =
                                Action::from_json(json!({"action": "getObject", "bucket": "bench", "key": key}))
                                    .expect("request");
                            let streams = Streams {
                                output: Some(Box::new(tokio::io::sink())),
                                ..Default::default()
                            };
                            action.execute(&conn, streams).await
                        };
                        result.expect("request failed");
                        latencies.push(started.elapsed());
                        n += 1;
                    }
                    latencies
                })
            })
            .collect();
        let started = Instant::now();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
        println!(
            "{}",
            json!({"phase": phase, "concurrency": concurrency, "requests": all.len(),
                   "rps": (all.len() as f64 / elapsed).round(), "p50_ms": pct(0.5), "p99_ms": pct(0.99)})
        );
    }
}
