//! Streaming a 200 MiB document through each store keeps memory flat. Measured by the
//! process's peak RSS (VmHWM), so this binary holds this one test and nothing else.
#![cfg(target_os = "linux")]

mod support;

use s3_connector::documents::{DocumentMetadata, DocumentStore, LocalStore, MemoryStore, S3Store};
use s3_connector::TransferSettings;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

const SIZE: u64 = 200 * 1024 * 1024;
const MIB: u64 = 1024;

/// Peak resident set size of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Produces `left` bytes of a pattern without ever holding them. Each byte depends only on
/// its position, so any chunking of the reads gives the same content.
struct Generated {
    left: u64,
    pos: u64,
}

impl tokio::io::AsyncRead for Generated {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(64 * 1024) as usize;
        let pos = self.pos;
        let chunk: Vec<u8> = (0..n as u64)
            .map(|i| ((pos + i) % 251) as u8 ^ ((pos + i) >> 20) as u8)
            .collect();
        self.pos += n as u64;
        buf.put_slice(&chunk);
        self.left -= n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

async fn expected_hash() -> String {
    let mut g = Generated { left: SIZE, pos: 0 };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = g.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates and reads back a 200 MiB document; returns the peak RSS growth in KiB.
async fn stream_through(store: &dyn DocumentStore, hash: &str) -> u64 {
    let before = peak_rss_kib();
    let r = store
        .create(Box::new(Generated { left: SIZE, pos: 0 }), DocumentMetadata::default())
        .await
        .expect("create 200 MiB");
    assert_eq!(r.metadata.size, Some(SIZE));
    assert_eq!(r.content_hash.as_deref(), Some(hash));
    let (_, mut reader) = store.open(&r).await.expect("open");
    let mut buf = vec![0u8; 256 * 1024];
    let (mut total, mut h) = (0u64, Sha256::new());
    loop {
        let n = reader.read(&mut buf).await.expect("read back (verified at the end)");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    assert_eq!(total, SIZE);
    let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got, hash, "{}: content differs", store.store_id());
    store.delete(&r.document_id).await.expect("delete");
    peak_rss_kib().saturating_sub(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_document_streams_with_flat_memory() {
    let hash = expected_hash().await;
    let dir = tempfile::tempdir().expect("tmp");
    let local = LocalStore::open(dir.path()).expect("local store");
    let growth = stream_through(&local, &hash).await;
    eprintln!("local store: peak RSS grew {} MiB for a 200 MiB document", growth / MIB);
    assert!(
        growth < 32 * MIB,
        "local store is not streaming: peak RSS grew {} MiB",
        growth / MIB
    );

    // The S3 store (against the embedded store, in this same process): an upload of unknown
    // length buffers at most concurrency + 1 parts, whatever the document's size.
    let t = support::embedded().await;
    let bucket = t.bucket("stream");
    support::act(&t.conn, serde_json::json!({"action": "createBucket", "bucket": bucket}))
        .await
        .expect("bucket");
    let transfer = TransferSettings {
        concurrency: 2,
        ..Default::default()
    };
    let bound = (transfer.concurrency as u64 + 1) * transfer.part_size / 1024 + 32 * MIB;
    let s3 = S3Store::new(t.with_transfer(transfer).await, &bucket, "docs/").expect("s3 store");
    let growth = stream_through(&s3, &hash).await;
    eprintln!(
        "s3 store: peak RSS grew {} MiB for a 200 MiB document (bound {} MiB)",
        growth / MIB,
        bound / MIB
    );
    assert!(
        growth < bound,
        "s3 store is not streaming: peak RSS grew {} MiB",
        growth / MIB
    );

    // The Camunda cluster store, against a fake cluster (in this process) that streams to disk.
    // VmHWM only rises, so this is measured against the peak the s3 store left: a client that
    // buffered the document would still add ~200 MiB and fail.
    let base = support::fake_cluster::start().await;
    let cluster = s3_connector::documents::CamundaClusterStore::new(
        &base,
        Some("in-memory".into()),
        Some(s3_connector::Secret::new(support::fake_cluster::TOKEN)),
    )
    .expect("cluster store");
    let growth = stream_through(&cluster, &hash).await;
    eprintln!(
        "camunda cluster store: peak RSS grew {} MiB for a 200 MiB document",
        growth / MIB
    );
    assert!(
        growth < 32 * MIB,
        "the cluster store is not streaming: peak RSS grew {} MiB",
        growth / MIB
    );

    // The in-memory store holds each document once by design; nothing beyond that copy.
    let memory = MemoryStore::new();
    let growth = stream_through(&memory, &hash).await;
    eprintln!(
        "memory store: peak RSS grew {} MiB for a 200 MiB document",
        growth / MIB
    );
    assert!(
        growth < SIZE / 1024 + 64 * MIB,
        "memory store holds more than one copy: peak RSS grew {} MiB",
        growth / MIB
    );
}
