//! Fetching `external` documents over HTTP(S), safely.
//!
//! A process can hand the connector any URL, so fetching goes through the same
//! [`AddressGuard`] as the S3 endpoints that jobs name (`net/guard.rs`): addresses are checked
//! **after DNS resolution**, in the resolver the HTTP client connects with (so a name cannot
//! resolve to one address for the check and another for the connection), IP-literal hosts and
//! every redirect hop are checked too, and internal addresses are refused unless the
//! operator's allow-list names them.
//! System proxies are ignored (a proxy would connect on our behalf, past the check).
//! Connect and read timeouts and a size limit bound what one fetch can cost.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryStreamExt;
use tokio::io::{AsyncRead, ReadBuf};

use crate::documents::DocumentReader;
use crate::error::{Error, ErrorCode, Result};

pub use crate::net::guard::{forbidden_reason, IpNet, ALLOW_SETTING};
use crate::net::AddressGuard;

/// Limits and the allow-list for fetching external documents.
#[derive(Debug, Clone)]
pub struct ExternalFetch {
    /// The address guard, with the operator's allow-list.
    pub guard: AddressGuard,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time between reads of the response.
    pub read_timeout: Duration,
    /// Largest document fetched.
    pub max_bytes: u64,
}

impl Default for ExternalFetch {
    fn default() -> Self {
        ExternalFetch {
            guard: AddressGuard::new(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// A fetched document: its content as a stream, and what the response said about it.
pub struct Fetched {
    /// The content, cut off with an error past the size limit.
    pub reader: DocumentReader,
    /// `Content-Type` of the response.
    pub content_type: Option<String>,
    /// `Content-Length`, when sent.
    pub size: Option<u64>,
}

impl ExternalFetch {
    /// Reads the allow-list from [`ALLOW_SETTING`] (comma-separated addresses, CIDR blocks and
    /// host names).
    pub fn from_env() -> Result<Self> {
        Ok(ExternalFetch {
            guard: AddressGuard::from_env()?,
            ..Default::default()
        })
    }

    fn check(&self, url: &str, host: &str, ip: IpAddr) -> std::result::Result<(), String> {
        self.guard
            .check(host, ip)
            .map_err(|refusal| format!("refused to fetch {url}: {refusal}"))
    }

    /// Fetches `url` (http or https) for reading.
    pub async fn fetch(&self, url: &str) -> Result<Fetched> {
        // The URL itself is not echoed: it may carry credentials (user:password@host).
        let parsed =
            reqwest::Url::parse(url).map_err(|e| Error::invalid_input("document.url", format!("is not a URL: {e}")))?;
        // Every message names the URL without its credentials; the request uses `parsed`.
        let shown = redact_url(&parsed);
        let url = shown.as_str();
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid_input(
                "document.url",
                format!("{url:?}: only http and https documents are fetched"),
            ));
        }
        let guard = Arc::new(self.clone());
        if let Some(ip) = literal_ip(&parsed) {
            guard
                .check(url, &ip.to_string(), ip)
                .map_err(|m| Error::invalid_input("document.url", m))?;
        }
        let redirect_guard = guard.clone();
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .dns_resolver(GuardedResolver {
                guard: guard.clone(),
                url: url.to_string(),
            })
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("more than 5 redirects");
                }
                match literal_ip(attempt.url())
                    .map(|ip| redirect_guard.check(&redact_url(attempt.url()), &ip.to_string(), ip))
                {
                    Some(Err(m)) => attempt.error(m),
                    _ => attempt.follow(),
                }
            }))
            .build()
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot build the HTTP client: {e}")))?;
        let resp = client.get(parsed).send().await.map_err(|e| fetch_error(url, e))?;
        let status = resp.status();
        if !status.is_success() {
            let code = match status.as_u16() {
                404 | 410 => ErrorCode::NoSuchKey,
                401 | 403 => ErrorCode::AccessDenied,
                429 | 503 => ErrorCode::Throttled,
                _ => ErrorCode::ServiceError,
            };
            return Err(Error::new(code, format!("fetching {url} answered HTTP {status}")));
        }
        let size = resp.content_length();
        if let Some(n) = size.filter(|n| *n > self.max_bytes) {
            return Err(too_large(url, &format!("{n} bytes"), self.max_bytes));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let reader = stream_reader(stream);
        Ok(Fetched {
            reader: Box::new(Limited {
                inner: reader,
                left: self.max_bytes,
                url: url.to_string(),
                max: self.max_bytes,
            }),
            content_type,
            size,
        })
    }
}

fn too_large(url: &str, size: &str, max: u64) -> Error {
    Error::new(
        ErrorCode::InvalidInput,
        format!("{url} is larger than the {max}-byte limit for external documents ({size})"),
    )
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// A URL as it may appear in messages: without user name and password.
pub fn redact_url(url: &reqwest::Url) -> String {
    redact(url)
}

/// As [`redact_url`], for URL text; text that is not a URL is not shown at all.
pub fn redact_url_text(text: &str) -> String {
    reqwest::Url::parse(text)
        .map(|u| redact(&u))
        .unwrap_or_else(|_| "(not a URL)".into())
}

fn redact(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn fetch_error(url: &str, e: reqwest::Error) -> Error {
    // reqwest's text would repeat the URL, credentials included; `url` is already redacted.
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("refused to fetch") {
        // Our own guard, reached through the resolver or the redirect policy.
        let start = text.find("refused to fetch").unwrap_or(0);
        return Error::invalid_input("document.url", text[start..].to_string());
    }
    let code = if timeout {
        ErrorCode::Timeout
    } else {
        ErrorCode::Network
    };
    Error::new(code, format!("cannot fetch {url}: {text}"))
}

/// Resolves with the system resolver, then drops every address the guard refuses; if none is
/// left, resolution fails with the guard's reason.
struct GuardedResolver {
    guard: Arc<ExternalFetch>,
    url: String,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let url = self.url.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match guard.check(&url, &host, a.ip()) {
                    Ok(()) => true,
                    Err(m) => {
                        first_refusal.get_or_insert(m);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = first_refusal.unwrap_or_else(|| format!("{host} has no address"));
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Adapts a stream of byte chunks (an HTTP response body) into an `AsyncRead`.
pub(crate) fn stream_reader(
    stream: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
) -> Pin<Box<dyn AsyncRead + Send>> {
    Box::pin(StreamReader {
        stream: Box::pin(stream),
        chunk: bytes::Bytes::new(),
    })
}

struct StreamReader {
    stream: Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>,
    chunk: bytes::Bytes,
}

impl AsyncRead for StreamReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        while self.chunk.is_empty() {
            match futures::Stream::poll_next(self.stream.as_mut(), cx) {
                Poll::Ready(Some(Ok(c))) => self.chunk = c,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.chunk.len().min(buf.remaining());
        buf.put_slice(&self.chunk.split_to(n));
        Poll::Ready(Ok(()))
    }
}

/// Fails the read once more than the limit has passed (for responses without a length).
struct Limited {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    left: u64,
    url: String,
    max: u64,
}

impl AsyncRead for Limited {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let me = &mut *self;
        match me.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = (buf.filled().len() - before) as u64;
                if n > me.left {
                    // No Content-Length: all we know is that it went past the limit.
                    let e = too_large(&me.url, &format!("more than {} bytes", me.max), me.max);
                    return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)));
                }
                me.left -= n;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_url_without_credentials_and_the_setting() {
        let fetch = ExternalFetch::default();
        let refused = fetch
            .check(
                "http://docs.internal/x",
                "docs.internal",
                "10.0.0.7".parse().expect("ip"),
            )
            .expect_err("private");
        assert!(
            refused.contains("http://docs.internal/x") && refused.contains(ALLOW_SETTING),
            "{refused}"
        );
        let allowed = ExternalFetch {
            guard: AddressGuard::new().allowing_host("docs.internal"),
            ..Default::default()
        };
        assert!(allowed
            .check(
                "http://docs.internal/x",
                "docs.internal",
                "10.0.0.7".parse().expect("ip")
            )
            .is_ok());
    }
}
