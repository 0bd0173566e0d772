//! The address guard: which network addresses a connection chosen by someone else may reach.
//!
//! A process definition can name an S3 endpoint (`configuration.endpoint`) or a document URL.
//! Left unchecked, either one makes the connector a proxy into its own network: the instance
//! metadata service (and with it the instance's credentials), a database on localhost, an admin
//! API on the private network. The guard refuses loopback, private, link-local, unique-local,
//! carrier-grade NAT, multicast and unspecified addresses, and the IPv6 forms that carry an IPv4
//! address inside (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), unless the operator's
//! allow-list names the address, its network or the host.
//!
//! The check runs **after DNS resolution, on every connection**, in the code that connects
//! (the resolver of the S3 client and of the document fetcher), so that a name cannot resolve to
//! a public address for a check and to a private one for the connection. A literal IP host is
//! checked the same way, before any socket is opened.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{Error, Result};

pub use crate::error::{Refusal, ALLOW_SETTING};

/// The allow-list's earlier name, still read (merged with [`ALLOW_SETTING`]).
pub const LEGACY_ALLOW_SETTING: &str = "S3_CONNECTOR_EXTERNAL_ALLOW";

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
        let text = s.trim().trim_start_matches('[').trim_end_matches(']');
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (
                a.trim_end_matches(']').parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (text.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        // An IPv4-mapped entry (`::ffff:10.0.0.1`, `::ffff:0:0/96`) is the IPv4 network it maps,
        // as addresses are judged: a /96 or longer keeps its IPv4 part, anything wider is refused.
        if let IpAddr::V6(v6) = addr {
            if let Some(v4) = v6.to_ipv4_mapped() {
                if prefix < 96 {
                    return Err(bad());
                }
                return Ok(IpNet {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses count as their IPv4 form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // `checked_sub`: a prefix longer than the family allows matches nothing (from_str refuses
        // them, this keeps a hand-built one from matching everything).
        match (canonical(self.addr), canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => match 32u32.checked_sub(u32::from(self.prefix)) {
                Some(shift) => {
                    let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                    u32::from(net) & mask == u32::from(ip) & mask
                }
                None => false,
            },
            (IpAddr::V6(net), IpAddr::V6(ip)) => match 128u32.checked_sub(u32::from(self.prefix)) {
                Some(shift) => {
                    let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                    u128::from(net) & mask == u128::from(ip) & mask
                }
                None => false,
            },
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

fn v4_reason(v4: Ipv4Addr) -> Option<&'static str> {
    let o = v4.octets();
    if v4.is_loopback() {
        Some("a loopback address")
    } else if v4.is_link_local() {
        Some("a link-local address (this range holds the cloud instance metadata services)")
    } else if v4.is_private() {
        Some("a private network address")
    } else if v4.is_unspecified() || v4.is_broadcast() || o[0] == 0 {
        Some("not a routable address")
    } else if v4.is_multicast() || o[0] >= 240 {
        Some("a multicast or reserved address")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("a carrier-grade NAT address")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("an IETF protocol assignment address")
    } else if o[0] == 198 && (o[1] == 18 || o[1] == 19) {
        Some("a benchmarking network address")
    } else if (o[0], o[1], o[2]) == (192, 0, 2)
        || (o[0], o[1], o[2]) == (198, 51, 100)
        || (o[0], o[1], o[2]) == (203, 0, 113)
    {
        Some("a documentation address")
    } else {
        None
    }
}

fn v6_reason(v6: Ipv6Addr) -> Option<&'static str> {
    let s = v6.segments();
    if v6.is_loopback() {
        Some("a loopback address")
    } else if v6.is_unspecified() || v6.is_multicast() {
        Some("not a routable address")
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        Some("a link-local address")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("a private network address (unique local; AWS's IPv6 metadata service is here)")
    } else if s[0] == 0x64 && s[1] == 0xff9b {
        // 64:ff9b::/96 and the local-use 64:ff9b:1::/48 translate to IPv4 addresses, private
        // ones included, through a NAT64 gateway.
        Some("a NAT64 address (it reaches an IPv4 address through a translator)")
    } else if s[0] == 0x2002 {
        Some("a 6to4 address (it carries an IPv4 address)")
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some("a Teredo address (it carries an IPv4 address)")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("a documentation address")
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        Some("a discard-only address")
    } else if s[..6] == [0, 0, 0, 0, 0, 0] {
        // ::a.b.c.d, deprecated, and on some stacks still routed to the IPv4 address a.b.c.d.
        Some("an IPv4-compatible address (it carries an IPv4 address)")
    } else if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765).
        Some("an IPv4-translated address (it carries an IPv4 address)")
    } else {
        None
    }
}

/// Why an address is refused, or `None` when it is a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// The guard itself: the ranges it refuses and the operator's allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressGuard {
    networks: Vec<IpNet>,
    hosts: Vec<String>,
}

impl AddressGuard {
    /// A guard with an empty allow-list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the allow-list from [`ALLOW_SETTING`] (and the older [`LEGACY_ALLOW_SETTING`]).
    pub fn from_env() -> Result<Self> {
        let mut guard = AddressGuard::new();
        for name in [ALLOW_SETTING, LEGACY_ALLOW_SETTING] {
            if let Ok(list) = std::env::var(name) {
                if name == LEGACY_ALLOW_SETTING && !list.trim().is_empty() {
                    // It once covered external documents only; it now opens job endpoints too.
                    tracing::warn!(
                        "{LEGACY_ALLOW_SETTING} is the older name of {ALLOW_SETTING}: its addresses are now open to job endpoints as well as external documents; rename it"
                    );
                }
                guard.extend_from_list(&list)?;
            }
        }
        Ok(guard)
    }

    /// Adds comma-separated entries: IP addresses, CIDR blocks or host names.
    pub fn extend_from_list(&mut self, list: &str) -> Result<()> {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                self.networks.push(net);
            } else if is_host_name(entry) {
                self.hosts.push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(Error::invalid_input(
                    ALLOW_SETTING,
                    format!("{entry:?} is not an IP address, a CIDR block like 10.0.0.0/8, or a host name"),
                ));
            }
        }
        Ok(())
    }

    /// The same guard, also allowing `net`.
    pub fn allowing(mut self, net: IpNet) -> Self {
        self.networks.push(net);
        self
    }

    /// The same guard, also allowing the host `name` whatever it resolves to.
    pub fn allowing_host(mut self, name: &str) -> Self {
        self.hosts.push(name.trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// Whether the allow-list is empty.
    pub fn allows_nothing_extra(&self) -> bool {
        self.networks.is_empty() && self.hosts.is_empty()
    }

    /// Checks one address that `host` resolved to (or is).
    pub fn check(&self, host: &str, ip: IpAddr) -> std::result::Result<(), Refusal> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Some(why) = forbidden_reason(ip) else {
            return Ok(());
        };
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if self.hosts.contains(&name) || self.networks.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        tracing::warn!(host, %ip, why, "refused a connection the address guard does not allow");
        Err(Refusal {
            host: host.to_string(),
            ip,
            why,
        })
    }

    /// The addresses of `host` that may be connected to; the first refusal when none may.
    pub fn filter(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> std::result::Result<Vec<SocketAddr>, Refusal> {
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.check(host, a.ip()) {
                Ok(()) => true,
                Err(r) => {
                    first_refusal.get_or_insert(r);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            _ => Ok(allowed),
        }
    }
}

fn is_host_name(text: &str) -> bool {
    let name = text.trim_end_matches('.');
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The origin of an endpoint URL (`scheme://host:port`, lowercase, default port explicit), for
/// telling whether a job's endpoint is one the operator configured. `None` for text that is
/// not an http(s) URL.
pub fn origin(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint.trim()).ok()?;
    let scheme = url.scheme().to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    Some(format!("{scheme}://{host}:{port}"))
}

/// Which endpoints a job may name, and the guard for the others.
///
/// The endpoints the operator configured for the service or worker itself (including the
/// embedded store, and for `s3-connector job` the endpoint given by flag or environment) are
/// trusted: a job that names one of them connects without a check. Every other endpoint a job
/// names goes through the [`AddressGuard`] on every connection.
#[derive(Debug, Clone, Default)]
pub struct EndpointPolicy {
    /// The guard for endpoints that are not trusted.
    pub guard: AddressGuard,
    trusted: Vec<String>,
}

impl EndpointPolicy {
    /// A policy with `guard` and no trusted endpoints yet.
    pub fn new(guard: AddressGuard) -> Self {
        EndpointPolicy {
            guard,
            trusted: Vec::new(),
        }
    }

    /// Reads the allow-list from the environment ([`AddressGuard::from_env`]).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(AddressGuard::from_env()?))
    }

    /// The same policy, trusting `endpoint` (ignored when it is not an http(s) URL).
    pub fn trusting(mut self, endpoint: Option<&str>) -> Self {
        if let Some(o) = endpoint.and_then(origin) {
            if !self.trusted.contains(&o) {
                self.trusted.push(o);
            }
        }
        self
    }

    /// Whether `endpoint` is one the operator configured.
    pub fn is_trusted(&self, endpoint: &str) -> bool {
        origin(endpoint).is_some_and(|o| self.trusted.contains(&o))
    }

    /// The guard a connection to `endpoint` needs: none for a trusted endpoint, and none when a
    /// job names no endpoint (the SDK then builds AWS's own endpoint from a validated region
    /// and bucket, which no job can point elsewhere).
    pub fn guard_for(&self, endpoint: Option<&str>) -> Option<AddressGuard> {
        match endpoint {
            None => None,
            Some(e) if self.is_trusted(e) => None,
            Some(_) => Some(self.guard.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

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
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // NAT64: 64:ff9b::a9fe:a9fe is 169.254.169.254 through a translator.
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            // 6to4 of 127.0.0.1 and of a public address: both carry IPv4 inside.
            "2002:7f00:1::",
            "2002:808:808::1",
            // IPv4-compatible ::127.0.0.1 and ::169.254.169.254.
            "::7f00:1",
            "::a9fe:a9fe",
            // Teredo.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "::ffff:0:a9fe:a9fe",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
        ] {
            assert!(forbidden_reason(ip(bad)).is_some(), "{bad} should be refused");
        }
        for ok in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "52.95.110.1",
            "2600:1f18::1",
        ] {
            assert!(forbidden_reason(ip(ok)).is_none(), "{ok} should be allowed");
        }
    }

    #[test]
    fn allow_lists_take_addresses_networks_and_hosts() {
        let net: IpNet = "10.0.0.0/8".parse().expect("cidr");
        assert!(net.contains(ip("10.200.1.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: IpNet = "127.0.0.1".parse().expect("ip");
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("[::1]".parse::<IpNet>().is_ok());
        // A mapped entry is the IPv4 address it maps, never the whole IPv4 space.
        let mapped: IpNet = "::ffff:127.0.0.1".parse().expect("mapped");
        assert!(mapped.contains(ip("127.0.0.1")));
        assert!(!mapped.contains(ip("169.254.169.254")));
        let mapped_net: IpNet = "::ffff:10.0.0.0/104".parse().expect("mapped /8");
        assert!(mapped_net.contains(ip("10.9.8.7")) && !mapped_net.contains(ip("11.0.0.1")));
        assert!("::ffff:0:0/90".parse::<IpNet>().is_err());

        let mut guard = AddressGuard::new();
        guard
            .extend_from_list("127.0.0.1, fd00::/8, minio.internal.")
            .expect("list");
        assert!(guard.check("127.0.0.1", ip("127.0.0.1")).is_ok());
        assert!(guard.check("x", ip("fd12::1")).is_ok());
        assert!(
            guard.check("MINIO.internal", ip("10.9.9.9")).is_ok(),
            "hosts match by name"
        );
        let refused = guard.check("metadata", ip("169.254.169.254")).expect_err("refused");
        let text = refused.to_string();
        assert!(
            text.contains(ALLOW_SETTING) && text.contains("link-local") && text.contains("metadata"),
            "{text}"
        );
        assert!(
            !text.contains("169.254"),
            "a name's address is not told to the job: {text}"
        );
        let literal = guard
            .check("::ffff:10.1.2.3", ip("::ffff:10.1.2.3"))
            .expect_err("refused");
        assert!(literal.to_string().contains("add 10.1.2.3 to"), "{literal}");
        assert!(AddressGuard::new().extend_from_list("not a host!").is_err());

        let addrs: Vec<SocketAddr> = vec!["10.0.0.1:80".parse().expect("sa"), "8.8.8.8:80".parse().expect("sa")];
        assert_eq!(
            AddressGuard::new().filter("h", addrs.clone()).expect("one left"),
            vec![addrs[1]],
            "refused addresses are dropped, allowed ones kept"
        );
        assert!(AddressGuard::new().filter("h", vec![addrs[0]]).is_err());
    }

    #[test]
    fn trusted_endpoints_match_by_origin() {
        let policy = EndpointPolicy::default().trusting(Some("http://127.0.0.1:9000/"));
        assert!(policy.is_trusted("http://127.0.0.1:9000"));
        assert!(policy.guard_for(Some("HTTP://127.0.0.1:9000/x")).is_none());
        assert!(policy.guard_for(Some("http://127.0.0.1:9001")).is_some());
        assert!(policy.guard_for(Some("https://127.0.0.1:9000")).is_some());
        assert!(policy.guard_for(None).is_none(), "AWS's own endpoints");
        assert_eq!(
            origin("https://s3.example.com").as_deref(),
            Some("https://s3.example.com:443")
        );
    }
}
