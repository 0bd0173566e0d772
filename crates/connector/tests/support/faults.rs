//! A fault-injecting TCP proxy for S3 traffic on loopback: what a flaky network and a struggling
//! store do to a client, on purpose and in a repeatable mix.
//!
//! At a seeded fraction of requests, the request's connection is **reset** (RST) or **stalled**
//! (bytes stop, the socket stays open) at a random byte of the request or of its answer, or the
//! answer is **truncated** (cut off with a clean close). Clients keep connections alive for many
//! requests, so drawing per request (not per connection) is what makes the fraction real. Also
//! per request, a fraction is answered **503 SlowDown** without reaching the store, and a
//! fraction of CompleteMultipartUpload requests is answered **200 with an `<Error>` body**, as S3
//! does when a completion fails late. The proxy reads request heads (the SDK sends every body
//! with a Content-Length) to find where each request starts.
//!
//! `script` fixes the faults of the first connections (at bytes counted from the connection's
//! start), for tests that need one fault at one place.
//!
//! Self-contained (tokio, rand, futures), so that the HTTP service's tests include it too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Something a test does at a chosen moment (here: when a fault fires).
pub type Hook = Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to store (requests, upload bodies).
    Up,
    /// Store to client (answers, download bodies).
    Down,
}

/// What happens to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnFault {
    /// Forwarded untouched.
    None,
    /// Reset (RST) once this many bytes have passed in this direction.
    Reset(Direction, u64),
    /// No more bytes in either direction once this many have passed in this direction; the
    /// socket stays open until the client gives up.
    Stall(Direction, u64),
    /// The answer is cut off after this many bytes, with a clean close.
    Truncate(u64),
}

/// The mix of faults.
#[derive(Clone)]
pub struct FaultPlan {
    /// Seeds every random choice.
    pub seed: u64,
    /// Fraction of requests whose connection is reset, stalled or truncated (a third each).
    pub connection_faults: f64,
    /// Fraction of requests answered 503 SlowDown.
    pub slow_down: f64,
    /// How many of the first requests are answered 503 SlowDown, before any drawn at random.
    pub slow_down_first: u64,
    /// Fraction of CompleteMultipartUpload requests answered 200 with an `<Error>` body.
    pub error_200: f64,
    /// Faults land at a byte below this, counted from the start of the request or its answer.
    pub max_offset: u64,
    /// The faults of the first connections, in order; random ones after.
    pub script: Vec<ConnFault>,
    /// Run (and awaited) when a connection fault fires, before it takes effect: how a test
    /// changes the object between a broken download and its resume.
    pub before_fault: Option<Hook>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            seed: 1,
            connection_faults: 0.0,
            slow_down: 0.0,
            slow_down_first: 0,
            error_200: 0.0,
            max_offset: 2 * 1024 * 1024,
            script: Vec::new(),
            before_fault: None,
        }
    }
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct FaultStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests seen.
    pub requests: AtomicU64,
    /// Connections reset.
    pub resets: AtomicU64,
    /// Connections stalled.
    pub stalls: AtomicU64,
    /// Answers truncated.
    pub truncations: AtomicU64,
    /// Requests answered 503 SlowDown.
    pub slow_downs: AtomicU64,
    /// Requests answered 200 with an error body.
    pub error_200s: AtomicU64,
}

impl FaultStats {
    /// Resets, stalls and truncations that happened.
    pub fn connection_faults(&self) -> u64 {
        self.resets.load(Ordering::SeqCst)
            + self.stalls.load(Ordering::SeqCst)
            + self.truncations.load(Ordering::SeqCst)
    }

    /// A one-line summary for messages.
    pub fn summary(&self) -> String {
        format!(
            "{} connections, {} requests: {} resets, {} stalls, {} truncations, {} SlowDown, {} 200-with-error",
            self.connections.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
            self.resets.load(Ordering::SeqCst),
            self.stalls.load(Ordering::SeqCst),
            self.truncations.load(Ordering::SeqCst),
            self.slow_downs.load(Ordering::SeqCst),
            self.error_200s.load(Ordering::SeqCst),
        )
    }
}

/// A running proxy; dropping it stops accepting (connections in flight end with their clients).
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// What it did so far.
    pub stats: Arc<FaultStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    plan: FaultPlan,
    rng: Mutex<rand::rngs::StdRng>,
    scripted: AtomicU64,
    stats: Arc<FaultStats>,
}

impl Shared {
    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().map(|mut r| r.random::<f64>() < p).unwrap_or(false)
    }

    fn offset(&self) -> u64 {
        let max = self.plan.max_offset.max(1);
        self.rng.lock().map(|mut r| r.random_range(0..max)).unwrap_or(0)
    }

    /// The scripted fault of the next connection, if any.
    fn scripted_fault(&self) -> ConnFault {
        let n = self.scripted.fetch_add(1, Ordering::SeqCst) as usize;
        self.plan.script.get(n).copied().unwrap_or(ConnFault::None)
    }

    /// A fault for one request of `request_len` bytes (head and body), at a byte counted from
    /// its start (or its answer's), or none.
    fn request_fault(&self, request_len: u64) -> ConnFault {
        if !self.chance(self.plan.connection_faults) {
            return ConnFault::None;
        }
        let (kind, up, early) = match self.rng.lock() {
            Ok(mut r) => (r.random_range(0..3u8), r.random::<bool>(), r.random::<bool>()),
            Err(_) => return ConnFault::None,
        };
        // Up: somewhere in this request. Down: half the time in the first bytes of the answer
        // (its head: every answer has one), else anywhere up to max_offset (long bodies).
        let up_at = self.offset() % request_len.max(1);
        let down_at = if early { self.offset() % 512 } else { self.offset() };
        match (kind, up) {
            (0, true) => ConnFault::Reset(Direction::Up, up_at),
            (0, false) => ConnFault::Reset(Direction::Down, down_at),
            (1, true) => ConnFault::Stall(Direction::Up, up_at),
            (1, false) => ConnFault::Stall(Direction::Down, down_at),
            _ => ConnFault::Truncate(down_at),
        }
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `backend`.
    pub async fn start(backend: SocketAddr, plan: FaultPlan) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("fault proxy bind");
        let addr = listener.local_addr().expect("fault proxy addr");
        let stats = Arc::new(FaultStats::default());
        let shared = Arc::new(Shared {
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(plan.seed)),
            plan,
            scripted: AtomicU64::new(0),
            stats: stats.clone(),
        });
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    shared.stats.connections.fetch_add(1, Ordering::SeqCst);
                    let fault = shared.scripted_fault();
                    let _ = serve(client, backend, fault, shared).await;
                });
            }
        });
        FaultProxy { addr, stats, task }
    }
}

/// The fault a connection is armed with, at absolute byte counts of each direction.
#[derive(Default)]
struct Armed {
    up: Option<(u64, ConnFault)>,
    down: Option<(u64, ConnFault)>,
    /// A scripted fault stays until it fires; a drawn one lasts for its own request only.
    scripted: bool,
    /// Bytes sent to the client so far (the down side's count), to place a fault in the answer
    /// that is about to start.
    down_sent: u64,
}

impl Armed {
    fn arm(&mut self, fault: ConnFault, up_base: u64, down_base: u64) {
        if self.scripted && (self.up.is_some() || self.down.is_some()) {
            return;
        }
        self.up = None;
        self.down = None;
        match fault {
            ConnFault::None => {}
            ConnFault::Reset(Direction::Up, n) | ConnFault::Stall(Direction::Up, n) => {
                self.up = Some((up_base + n, fault));
            }
            ConnFault::Reset(Direction::Down, n) | ConnFault::Stall(Direction::Down, n) | ConnFault::Truncate(n) => {
                self.down = Some((down_base + n, fault));
            }
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Abort both sides with a reset.
    Reset,
    /// Hold both sides, forwarding nothing, until the client closes.
    Stall,
    /// The proxy answered the client itself; close.
    Answered,
}

async fn serve(client: TcpStream, backend: SocketAddr, fault: ConnFault, shared: Arc<Shared>) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let server = TcpStream::connect(backend).await?;
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let cw = Arc::new(tokio::sync::Mutex::new(cw));
    let (end_tx, mut end_rx) = tokio::sync::watch::channel(None::<End>);
    let end_tx = Arc::new(end_tx);
    let armed = Arc::new(Mutex::new(Armed::default()));
    if let Ok(mut a) = armed.lock() {
        a.arm(fault, 0, 0);
        a.scripted = fault != ConnFault::None;
    }

    let down = {
        let (cw, end_tx, shared, armed) = (cw.clone(), end_tx.clone(), shared.clone(), armed.clone());
        tokio::spawn(async move { forward_down(sr, cw, armed, end_tx, shared).await })
    };
    let up = {
        let (cw, end_tx, shared, armed) = (cw.clone(), end_tx.clone(), shared.clone(), armed.clone());
        tokio::spawn(async move { forward_up(cr, sw, cw, armed, end_tx, shared).await })
    };
    let ended = loop {
        if let Some(e) = *end_rx.borrow() {
            break Some(e);
        }
        if down.is_finished() && up.is_finished() {
            break None;
        }
        tokio::select! {
            changed = end_rx.changed() => if changed.is_err() { break None },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    match ended {
        Some(End::Stall) => {
            // Hold the sockets; the up side notices when the client gives up and closes.
            let _ = up.await;
            down.abort();
        }
        Some(End::Reset) => {
            // The store side stays open until the down side is gone: closing it first would let
            // the store answer the cut-off request (400 IncompleteBody) and that answer reach
            // the client before the reset, which no real reset does.
            down.abort();
            let _ = down.await;
            up.abort();
            let _ = up.await;
            let w = cw.lock().await;
            // Deprecated because a lingering close can block the thread; a zero linger never
            // waits, it resets the connection, which is the point here.
            #[allow(deprecated)]
            let _ = w.as_ref().set_linger(Some(Duration::ZERO));
            // Dropping the last handle of each half closes the socket: with linger 0, a reset.
        }
        Some(End::Answered) | None => {
            let _ = up.await;
            down.abort();
            let _ = down.await;
            let mut w = cw.lock().await;
            let _ = w.shutdown().await;
        }
    }
    Ok(())
}

/// Store to client, counting bytes, applying the connection's fault in this direction.
async fn forward_down(
    mut sr: OwnedReadHalf,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    armed: Arc<Mutex<Armed>>,
    end: Arc<tokio::sync::watch::Sender<Option<End>>>,
    shared: Arc<Shared>,
) {
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (at, fault) = armed
            .lock()
            .ok()
            .and_then(|a| a.down)
            .map(|(at, f)| (Some(at), f))
            .unwrap_or((None, ConnFault::None));
        let mut chunk = &buf[..n];
        let mut hit = false;
        if let Some(at) = at {
            if sent + n as u64 > at {
                chunk = &buf[..at.saturating_sub(sent) as usize];
                hit = true;
            }
        }
        {
            let mut w = cw.lock().await;
            if w.write_all(chunk).await.is_err() {
                break;
            }
        }
        sent += chunk.len() as u64;
        if let Ok(mut a) = armed.lock() {
            a.down_sent = sent;
        }
        if hit {
            if let Some(hook) = &shared.plan.before_fault {
                hook().await;
            }
            match fault {
                ConnFault::Truncate(_) => {
                    shared.stats.truncations.fetch_add(1, Ordering::SeqCst);
                    let mut w = cw.lock().await;
                    let _ = w.shutdown().await;
                    let _ = end.send(Some(End::Answered));
                }
                ConnFault::Reset(..) => {
                    shared.stats.resets.fetch_add(1, Ordering::SeqCst);
                    let _ = end.send(Some(End::Reset));
                }
                _ => {
                    shared.stats.stalls.fetch_add(1, Ordering::SeqCst);
                    let _ = end.send(Some(End::Stall));
                }
            }
            return;
        }
    }
    let mut w = cw.lock().await;
    let _ = w.shutdown().await;
}

/// Where the up direction is in the current request.
enum Reading {
    /// Collecting a request head.
    Head(Vec<u8>),
    /// Forwarding this many more body bytes.
    Body(u64),
    /// Dropping this many more body bytes (the proxy answered the request itself), then answer.
    Drain(u64, &'static [u8]),
    /// A body of unknown length: forward everything, no more per-request faults.
    Through,
}

/// Client to store: finds request boundaries, answers some requests itself, applies the
/// connection's fault in this direction.
async fn forward_up(
    mut cr: OwnedReadHalf,
    mut sw: OwnedWriteHalf,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    armed: Arc<Mutex<Armed>>,
    end: Arc<tokio::sync::watch::Sender<Option<End>>>,
    shared: Arc<Shared>,
) {
    let mut forwarded = 0u64;
    let mut state = Reading::Head(Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if *end.borrow() == Some(End::Stall) {
            // Stalled: read (and drop) until the client gives up.
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
        if pending.is_empty() {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        // Work through what arrived: it may hold the end of one request and the start of another.
        let mut out: Vec<u8> = Vec::new();
        while !pending.is_empty() {
            match &mut state {
                Reading::Through => {
                    out.append(&mut pending);
                }
                Reading::Body(left) => {
                    let take = (*left).min(pending.len() as u64) as usize;
                    out.extend(pending.drain(..take));
                    *left -= take as u64;
                    if *left == 0 {
                        state = Reading::Head(Vec::new());
                    }
                }
                Reading::Drain(left, answer) => {
                    let take = (*left).min(pending.len() as u64) as usize;
                    pending.drain(..take);
                    *left -= take as u64;
                    if *left == 0 {
                        let answer = *answer;
                        let mut w = cw.lock().await;
                        let _ = w.write_all(answer).await;
                        let _ = w.shutdown().await;
                        let _ = end.send(Some(End::Answered));
                        return;
                    }
                }
                Reading::Head(head) => {
                    head.append(&mut pending);
                    let Some(split) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        break;
                    };
                    let rest = head.split_off(split + 4);
                    let head = std::mem::take(head);
                    pending = rest;
                    shared.stats.requests.fetch_add(1, Ordering::SeqCst);
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<u64>().ok()))
                        .flatten();
                    let first_line = text.lines().next().unwrap_or_default().to_string();
                    let completion = first_line.starts_with("post ") && first_line.contains("uploadid=");
                    let scripted_slow_down =
                        shared.stats.requests.load(Ordering::SeqCst) <= shared.plan.slow_down_first;
                    if scripted_slow_down || shared.chance(shared.plan.slow_down) {
                        shared.stats.slow_downs.fetch_add(1, Ordering::SeqCst);
                        state = Reading::Drain(length.unwrap_or(0), SLOW_DOWN);
                    } else if completion && shared.chance(shared.plan.error_200) {
                        shared.stats.error_200s.fetch_add(1, Ordering::SeqCst);
                        state = Reading::Drain(length.unwrap_or(0), ERROR_200);
                    } else {
                        // This request may be the one whose connection breaks: at a byte of
                        // the request (counted from its head) or of its answer.
                        let fault = shared.request_fault(head.len() as u64 + length.unwrap_or(0));
                        let up_base = forwarded + out.len() as u64;
                        if let Ok(mut a) = armed.lock() {
                            let down_base = a.down_sent;
                            a.arm(fault, up_base, down_base);
                        }
                        out.extend_from_slice(&head);
                        state = match length {
                            Some(0) | None if !text.contains("transfer-encoding") => Reading::Head(Vec::new()),
                            Some(n) => Reading::Body(n),
                            None => Reading::Through,
                        };
                    }
                    if let Reading::Drain(0, answer) = state {
                        let mut w = cw.lock().await;
                        let _ = w.write_all(answer).await;
                        let _ = w.shutdown().await;
                        let _ = end.send(Some(End::Answered));
                        return;
                    }
                }
            }
        }
        if out.is_empty() {
            continue;
        }
        let (at, fault) = armed
            .lock()
            .ok()
            .and_then(|a| a.up)
            .map(|(at, f)| (Some(at), f))
            .unwrap_or((None, ConnFault::None));
        let mut chunk: &[u8] = &out;
        let mut hit = false;
        if let Some(at) = at {
            if forwarded + out.len() as u64 > at {
                chunk = &out[..at.saturating_sub(forwarded) as usize];
                hit = true;
            }
        }
        if sw.write_all(chunk).await.is_err() {
            break;
        }
        forwarded += chunk.len() as u64;
        if hit {
            if let Some(hook) = &shared.plan.before_fault {
                hook().await;
            }
            match fault {
                ConnFault::Reset(..) => {
                    shared.stats.resets.fetch_add(1, Ordering::SeqCst);
                    let _ = end.send(Some(End::Reset));
                    // Hold the store side (see `serve`): it is closed when this task is aborted.
                    std::future::pending::<()>().await;
                    drop(sw);
                    return;
                }
                _ => {
                    shared.stats.stalls.fetch_add(1, Ordering::SeqCst);
                    let _ = end.send(Some(End::Stall));
                }
            }
        }
    }
    let _ = sw.shutdown().await;
}

/// A 503 SlowDown answer, as S3 sends it.
pub const SLOW_DOWN: &[u8] = b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 127\r\nConnection: close\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>\n";

/// A 200 answer whose body is an error, as S3 sends for a completion that failed late.
pub const ERROR_200: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 151\r\nConnection: close\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>\n";
