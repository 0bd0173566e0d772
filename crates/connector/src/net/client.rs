//! The HTTP client the S3 SDK sends every request through.
//!
//! The SDK's own client bounds only the connect time and the wait for a response's head. A store
//! that accepts a connection and then stops reading an upload, or stops sending a download, would
//! hold a request forever. So every socket here is wrapped in a **stall guard**: when no byte
//! has moved in either direction for the stall timeout while someone waits on the socket, the
//! read or write fails with `TimedOut`. The SDK then retries the attempt (an upload part, a
//! small request), and a download resumes from its last byte (`transfer.rs`).
//!
//! Connections to endpoints that a job chose pass through the [`AddressGuard`] after DNS
//! resolution, for every connection; a refusal opens no socket and is not retried.
//!
//! TLS is rustls with the platform's root certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` are
//! honoured), as in the SDK's default client. Only HTTP/1.1 is spoken, which is what S3 serves.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::guard::{AddressGuard, Refusal};
use crate::error::find_in_chain;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How the client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time to open a TCP connection (per address tried).
    pub connect_timeout: Duration,
    /// No byte moved for this long, in either direction, while a request waits: the socket fails.
    pub stall_timeout: Duration,
    /// Checks every address connected to; `None` for the operator's own endpoints.
    pub guard: Option<AddressGuard>,
}

/// Builds the SDK's HTTP client for these options.
pub fn http_client(options: ClientOptions) -> SharedHttpClient {
    let idle = Duration::from_secs(30).min(options.stall_timeout / 2);
    let connect = Connect(Arc::new(options));
    let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
    builder.pool_timer(TokioTimer::new());
    // An idle pooled connection is closed by the stall guard after the stall timeout anyway;
    // this keeps the pool from offering one that is about to go.
    builder.pool_idle_timeout(idle);
    let client = builder.build(connect);
    SharedHttpClient::new(S3HttpClient(SharedHttpConnector::new(S3HttpConnector { client })))
}

#[derive(Debug)]
struct S3HttpClient(SharedHttpConnector);

impl HttpClient for S3HttpClient {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        // The timeouts that matter are in the connector itself (connect, stall); the SDK's
        // operation and attempt timeouts wrap every call from outside.
        self.0.clone()
    }
}

struct S3HttpConnector {
    client: hyper_util::client::legacy::Client<Connect, SdkBody>,
}

impl std::fmt::Debug for S3HttpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3HttpConnector")
    }
}

impl HttpConnector for S3HttpConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.client.request(request);
        HttpConnectorFuture::new(async move {
            match response.await {
                Ok(resp) => HttpResponse::try_from(resp.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e.into())),
            }
        })
    }
}

/// Sorts a failure into the SDK's kinds, which its retry strategy reads: a refusal by the
/// guard is the caller's doing and never retried; a stall is a timeout; the rest are I/O.
fn classify(err: BoxError) -> ConnectorError {
    if find_in_chain::<Refusal>(err.as_ref()).is_some() {
        return ConnectorError::user(err);
    }
    if crate::error::timed_out(err.as_ref()) {
        return ConnectorError::timeout(err);
    }
    let hyper_err = find_in_chain::<hyper::Error>(err.as_ref());
    if hyper_err.is_some_and(|h| h.is_incomplete_message()) {
        return ConnectorError::other(err, Some(ErrorKind::TransientError));
    }
    if hyper_err.is_some_and(|h| h.is_user()) {
        return ConnectorError::user(err);
    }
    // Connection refused, reset, closed early: transient, retried by the SDK.
    ConnectorError::io(err)
}

/// Opens connections: resolve, guard, connect, stall-guard, TLS.
#[derive(Clone)]
struct Connect(Arc<ClientOptions>);

impl tower_service::Service<http::Uri> for Connect {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let options = self.0.clone();
        Box::pin(async move { connect(&options, uri).await })
    }
}

async fn connect(options: &ClientOptions, uri: http::Uri) -> Result<Conn, BoxError> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => return Err(format!("unsupported URL scheme {other:?}").into()),
    };
    let host = uri
        .host()
        .ok_or("the URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(options.connect_timeout, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| {
                timed_out(format!(
                    "resolving {host} took longer than {:?}",
                    options.connect_timeout
                ))
            })??
            .collect(),
    };
    let mut addrs = match &options.guard {
        Some(guard) => guard.filter(&host, addrs)?,
        None => addrs,
    };
    // A name with several addresses (round-robin DNS in front of a store's nodes) gets its new
    // connections spread over them rather than all on the first; the others stay as fallbacks.
    if addrs.len() > 1 {
        let first = rand::random_range(0..addrs.len());
        addrs.rotate_left(first);
    }
    let mut last_error: Option<BoxError> = None;
    let mut tcp = None;
    for addr in &addrs {
        match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                tcp = Some(stream);
                break;
            }
            Ok(Err(e)) => last_error = Some(e.into()),
            Err(_) => {
                last_error = Some(
                    timed_out(format!(
                        "connecting to {addr} took longer than {:?}",
                        options.connect_timeout
                    ))
                    .into(),
                )
            }
        }
    }
    let tcp = match tcp {
        Some(t) => t,
        None => return Err(last_error.unwrap_or_else(|| format!("{host} has no address").into())),
    };
    // Without TCP_NODELAY small requests wait about 40 ms for the peer's delayed ACK.
    let _ = tcp.set_nodelay(true);
    let guarded = StallGuard::new(tcp, options.stall_timeout);
    if !https {
        return Ok(Conn::Plain(TokioIo::new(guarded)));
    }
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
    let tls = tls_connector()?.connect(name, guarded).await?;
    Ok(Conn::Tls(Box::new(TokioIo::new(tls))))
}

fn timed_out(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, message)
}

/// The TLS configuration, built once: rustls with aws-lc-rs, the platform's roots, HTTP/1.1.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, BoxError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for problem in &found.errors {
            tracing::warn!("a root certificate could not be loaded: {problem}");
        }
        let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            tracing::warn!("no root certificates found: TLS connections will fail to verify");
        }
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
    });
    match config {
        Ok(c) => Ok(tokio_rustls::TlsConnector::from(c.clone())),
        Err(e) => Err(format!("cannot set up TLS: {e}").into()),
    }
}

/// One connection, plain or TLS.
enum Conn {
    Plain(TokioIo<StallGuard<TcpStream>>),
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<StallGuard<TcpStream>>>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    // Without vectored writes hyper copies every body chunk into its own buffer first: an
    // upload part (8 MiB) would be held twice.
    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(io) => hyper::rt::Write::is_write_vectored(io),
            Conn::Tls(io) => hyper::rt::Write::is_write_vectored(io.as_ref()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_flush(cx),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A socket that fails with `TimedOut` when no byte has moved, in either direction, for the
/// stall timeout while a read or write waits.
///
/// One deadline serves both directions on purpose: after a request is written, the wait for
/// the answer starts from the last byte written, and a pooled connection's idle time does not
/// count against the next request.
pub struct StallGuard<T> {
    inner: T,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<T> StallGuard<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        StallGuard {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// Passes on what the inner socket answered. A read or write that finished moves the
    /// deadline (`counts`: a flush moves no byte of its own); one not ready fails once the
    /// deadline has passed.
    fn pass<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<R>>,
        counts: bool,
    ) -> Poll<std::io::Result<R>> {
        match poll {
            Poll::Ready(r) => {
                if counts {
                    let next = tokio::time::Instant::now() + self.timeout;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out(format!(
                    "the connection stalled: no bytes moved for {} s",
                    self.timeout.as_secs_f64()
                )))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let poll = Pin::new(&mut me.inner).poll_read(cx, buf);
        me.pass(cx, poll, true)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let poll = Pin::new(&mut me.inner).poll_write(cx, buf);
        me.pass(cx, poll, true)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let poll = Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
        me.pass(cx, poll, true)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let poll = Pin::new(&mut me.inner).poll_flush(cx);
        me.pass(cx, poll, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_silent_peer_fails_the_read_after_the_stall_timeout() {
        let (client, _server) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(client, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let mut buf = [0u8; 8];
        let err = guarded.read(&mut buf).await.expect_err("stalled");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn bytes_that_keep_coming_are_not_a_stall() {
        use tokio::io::AsyncWriteExt;
        let (client, mut server) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(client, Duration::from_millis(300));
        let writer = tokio::spawn(async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                if server.write_all(b"x").await.is_err() {
                    return;
                }
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 1];
        for _ in 0..6 {
            let n = guarded.read(&mut buf).await.expect("a slow but steady peer");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"xxxxxx", "900 ms in all, never 300 ms without a byte");
        let _ = writer.await;
    }

    #[tokio::test]
    async fn the_guard_refuses_before_any_socket_is_opened() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let options = ClientOptions {
            connect_timeout: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(1),
            guard: Some(AddressGuard::new()),
        };
        let uri: http::Uri = format!("http://127.0.0.1:{port}/").parse().expect("uri");
        let err = connect(&options, uri).await.err().expect("refused");
        assert!(find_in_chain::<Refusal>(err.as_ref()).is_some(), "{err}");
        assert!(listener.accept().is_err(), "no connection may reach the listener");
        let uri: http::Uri = format!("http://localhost:{port}/").parse().expect("uri");
        assert!(connect(&options, uri).await.is_err(), "names are checked after DNS");
        assert!(listener.accept().is_err(), "no connection may reach the listener");
    }
}
