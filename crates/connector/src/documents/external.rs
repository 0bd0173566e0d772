//! Fetching `external` documents over HTTP(S), safely.
//!
//! A process can hand the connector any URL, so fetching is guarded against server-side
//! request forgery: addresses are checked **after DNS resolution**, in the resolver the HTTP
//! client connects with (so a name cannot resolve to one address for the check and another
//! for the connection), IP-literal hosts and every redirect hop are checked too, and
//! loopback, private, link-local (including the cloud metadata services), unspecified,
//! multicast and carrier-grade NAT addresses are refused unless an allow-list names them.
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

/// The setting that allows addresses the guard refuses (environment variable; the same list
/// is `externalDocuments.allow` in configuration).
pub const ALLOW_SETTING: &str = "S3_CONNECTOR_EXTERNAL_ALLOW";

/// An IP network, `ADDR` or `ADDR/PREFIX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_input(
                ALLOW_SETTING,
                format!("{s:?} is not an IP address or CIDR block like 10.0.0.0/8"),
            )
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (s.trim().parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Why an address is refused, or `None` when it is a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_link_local() {
                Some("a link-local address (this range holds the cloud instance metadata services)")
            } else if v4.is_private() {
                Some("a private network address")
            } else if v4.is_unspecified() || v4.is_broadcast() || o[0] == 0 {
                Some("not a routable address")
            } else if v4.is_multicast() {
                Some("a multicast address")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("a carrier-grade NAT address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a routable address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a private network address (unique local; AWS's IPv6 metadata service is here)")
            } else {
                None
            }
        }
    }
}

/// Limits and the allow-list for fetching external documents.
#[derive(Debug, Clone)]
pub struct ExternalFetch {
    /// Addresses allowed although the guard would refuse them.
    pub allow: Vec<IpNet>,
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
            allow: Vec::new(),
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
    /// Reads the allow-list from [`ALLOW_SETTING`] (comma-separated addresses and CIDR blocks).
    pub fn from_env() -> Result<Self> {
        let mut fetch = ExternalFetch::default();
        if let Ok(list) = std::env::var(ALLOW_SETTING) {
            fetch.allow = list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(str::parse)
                .collect::<Result<_>>()?;
        }
        Ok(fetch)
    }

    fn check(&self, url: &str, ip: IpAddr) -> std::result::Result<(), String> {
        match forbidden_reason(ip) {
            Some(why) if !self.allow.iter().any(|n| n.contains(ip)) => Err(format!(
                "refused to fetch {url}: {ip} is {why}; if this document server is meant to be reachable, add {ip} to {ALLOW_SETTING}"
            )),
            _ => Ok(()),
        }
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
                .check(url, ip)
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
                match literal_ip(attempt.url()).map(|ip| redirect_guard.check(&redact_url(attempt.url()), ip)) {
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
                .filter(|a| match guard.check(&url, a.ip()) {
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
    fn the_guard_knows_the_dangerous_ranges() {
        for bad in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.170.2",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                forbidden_reason(bad.parse().expect("ip")).is_some(),
                "{bad} should be refused"
            );
        }
        for ok in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "52.95.110.1"] {
            assert!(
                forbidden_reason(ok.parse().expect("ip")).is_none(),
                "{ok} should be allowed"
            );
        }
    }

    #[test]
    fn allow_lists_parse_and_match() {
        let net: IpNet = "10.0.0.0/8".parse().expect("cidr");
        assert!(net.contains("10.200.1.1".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        let one: IpNet = "127.0.0.1".parse().expect("ip");
        assert!(one.contains("::ffff:127.0.0.1".parse().expect("mapped")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("localhost".parse::<IpNet>().is_err());
        let fetch = ExternalFetch {
            allow: vec![one],
            ..Default::default()
        };
        assert!(fetch.check("u", "127.0.0.1".parse().expect("ip")).is_ok());
        let refused = fetch
            .check("http://x", "127.0.0.2".parse().expect("ip"))
            .expect_err("not allowed");
        assert!(
            refused.contains(ALLOW_SETTING) && refused.contains("loopback"),
            "{refused}"
        );
    }
}
