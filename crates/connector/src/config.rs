//! Connection settings shared by every action, and how they are layered.
//!
//! Three layers, highest first: explicit settings (CLI flags, or the request), the
//! environment (the standard `AWS_*` variables plus a few `S3_CONNECTOR_*` ones), then a
//! TOML config file. [`ConnectionSettings::layered`] merges them field by field, except that
//! credentials travel as a group: the highest layer that names an access key or a profile
//! decides where credentials come from, so a key from one layer is never paired with a
//! secret from another.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::validate;

/// A secret string. Its `Debug` and `Display` print `***`, so it cannot leak through logs,
/// error messages or `{:?}`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for handing to the credentials provider and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// How request and response checksums are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "camelCase")]
pub enum ChecksumMode {
    /// The SDK's default: CRC32 on every upload, sent as an aws-chunked trailer, and
    /// responses validated. Right for AWS itself.
    #[cfg_attr(feature = "cli", value(name = "whenSupported", alias = "when-supported"))]
    WhenSupported,
    /// Checksums only where S3 requires them: plain (not aws-chunked) upload bodies. Needed by
    /// Garage, s3rver and other S3-compatible stores that reject or mis-store aws-chunked bodies.
    #[cfg_attr(feature = "cli", value(name = "whenRequired", alias = "when-required"))]
    WhenRequired,
}

impl std::str::FromStr for ChecksumMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "whensupported" => Ok(ChecksumMode::WhenSupported),
            "whenrequired" => Ok(ChecksumMode::WhenRequired),
            _ => Err(Error::invalid_input(
                "checksums",
                format!("{s:?} is not a checksum mode; use whenRequired or whenSupported"),
            )),
        }
    }
}

/// Multipart and parallelism settings for uploads, downloads and copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TransferSettings {
    /// Uploads and downloads larger than this use multipart / ranged requests.
    pub multipart_threshold: u64,
    /// Part size for uploads and ranged downloads.
    pub part_size: u64,
    /// How many parts are in flight at once.
    pub concurrency: usize,
    /// Copies larger than this use multipart copy (S3's CopyObject stops at 5 GiB).
    pub multipart_copy_threshold: u64,
    /// Part size for multipart copy (raised automatically to stay within 10,000 parts).
    pub copy_part_size: u64,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            multipart_threshold: 8 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            concurrency: 8,
            multipart_copy_threshold: validate::MAX_PART_SIZE,
            copy_part_size: 512 * 1024 * 1024,
        }
    }
}

impl TransferSettings {
    /// Checks every field; `InvalidInput` names the one that is off.
    pub fn validate(&self) -> Result<()> {
        validate::part_size("partSize", self.part_size)?;
        validate::part_size("copyPartSize", self.copy_part_size)?;
        if self.multipart_threshold < validate::MIN_PART_SIZE {
            return Err(Error::invalid_input(
                "multipartThreshold",
                format!("must be at least {} bytes (5 MiB)", validate::MIN_PART_SIZE),
            ));
        }
        if !(validate::MIN_PART_SIZE..=validate::MAX_PART_SIZE).contains(&self.multipart_copy_threshold) {
            return Err(Error::invalid_input(
                "multipartCopyThreshold",
                "must be 5 MiB to 5 GiB: CopyObject copies at most 5 GiB in one request",
            ));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(Error::invalid_input("concurrency", "must be 1 to 64"));
        }
        Ok(())
    }
}

/// The connect timeout when none is configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The per-attempt timeout for requests without a body stream, when none is configured.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The stall timeout for bodies in both directions, when none is configured.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest any timeout may be set to.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Timeouts for requests to the store; every field falls back to its default.
///
/// - `connect`: opening a TCP connection (DNS included), per address tried;
/// - `attempt`: one attempt of a request that carries no body stream (HEAD, list, delete,
///   create or abort an upload, and a GetObject until its first byte). Uploads, copies and
///   CompleteMultipartUpload are exempt: they are bounded by the stall timeout instead, since
///   their length depends on the size of the object;
/// - `stall`: a body, in either direction, may go this long without a byte moving; then that
///   attempt fails and the part is retried or the download resumes;
/// - `deadline`: an optional bound on one whole action, retries and resumes included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Connect timeout. Default 10 s.
    #[serde(default, with = "duration_text")]
    pub connect: Option<Duration>,
    /// Per-attempt timeout for requests without a body stream. Default 30 s.
    #[serde(default, with = "duration_text")]
    pub attempt: Option<Duration>,
    /// Stall timeout for bodies. Default 60 s.
    #[serde(default, with = "duration_text")]
    pub stall: Option<Duration>,
    /// Overall deadline for one action. Default none.
    #[serde(default, with = "duration_text")]
    pub deadline: Option<Duration>,
}

impl TimeoutSettings {
    /// The connect timeout in effect.
    pub fn connect(&self) -> Duration {
        self.connect.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The per-attempt timeout in effect.
    pub fn attempt(&self) -> Duration {
        self.attempt.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)
    }

    /// The stall timeout in effect.
    pub fn stall(&self) -> Duration {
        self.stall.unwrap_or(DEFAULT_STALL_TIMEOUT)
    }

    /// The deadline in effect, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// `higher`'s fields where set, else these.
    pub fn overlay(self, higher: TimeoutSettings) -> TimeoutSettings {
        TimeoutSettings {
            connect: higher.connect.or(self.connect),
            attempt: higher.attempt.or(self.attempt),
            stall: higher.stall.or(self.stall),
            deadline: higher.deadline.or(self.deadline),
        }
    }

    /// Every timeout is more than zero and at most 7 days.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("timeouts.connect", self.connect),
            ("timeouts.attempt", self.attempt),
            ("timeouts.stall", self.stall),
            ("timeouts.deadline", self.deadline),
        ] {
            if let Some(d) = value {
                if d.is_zero() || d > MAX_TIMEOUT {
                    return Err(Error::invalid_input(
                        name,
                        "must be more than 0 and at most 7 days, e.g. 30s or 5m",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Parses a duration as people write it: `30s`, `500ms`, `2m`, `1h 30m`, `7d`, or a bare number
/// of seconds. `field` names the setting in the error.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 && secs <= MAX_TIMEOUT.as_secs_f64() {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(t).map_err(|_| {
        Error::invalid_input(
            field,
            format!("{t:?} is not a duration; write it like 30s, 500ms, 2m, 1h or 7d"),
        )
    })
}

/// Durations in config files: a string like `"30s"` or a number of seconds.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Seconds(f64),
            Words(String),
        }
        match Option::<Text>::deserialize(d)? {
            None => Ok(None),
            Some(Text::Seconds(n)) => super::parse_duration("timeout", &n.to_string())
                .map(Some)
                .map_err(|e| serde::de::Error::custom(e.message)),
            Some(Text::Words(w)) => super::parse_duration("timeout", &w)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(e.message)),
        }
    }
}

/// Where to reach S3 and how to sign. Every field is optional; see the module docs for layering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionSettings {
    /// AWS region, e.g. `eu-central-1`. Custom endpoints default to `us-east-1`.
    pub region: Option<String>,
    /// A custom endpoint URL (MinIO, Ceph, Garage, R2, the embedded store).
    pub endpoint: Option<String>,
    /// Path-style addressing (`host/bucket/key`). Defaults to on for custom endpoints.
    pub path_style: Option<bool>,
    /// Static access key id.
    pub access_key_id: Option<String>,
    /// Static secret access key.
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials.
    pub session_token: Option<Secret>,
    /// A named profile from `~/.aws/config` and `~/.aws/credentials`.
    pub profile: Option<String>,
    /// Checksum mode. Defaults to `whenRequired` for custom endpoints, `whenSupported` for AWS.
    pub checksums: Option<ChecksumMode>,
    /// Attempts per request, including the first (standard retry mode). Default 3.
    pub max_attempts: Option<u32>,
    /// Multipart settings.
    pub transfer: Option<TransferSettings>,
    /// Timeouts.
    pub timeouts: Option<TimeoutSettings>,
    /// Tolerate known quirks of S3-compatible stores (see docs/stores.md). Defaults to on for
    /// custom endpoints, off for AWS.
    pub compat: Option<bool>,
    /// Allow SSE-C keys over a plain-http endpoint (default false: the key would cross the
    /// network in clear). For a trusted network only; AWS itself refuses it.
    pub allow_sse_c_over_http: Option<bool>,
}

impl ConnectionSettings {
    /// Reads the environment: `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3`/
    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_PROFILE`, `AWS_MAX_ATTEMPTS`, and `S3_CONNECTOR_PATH_STYLE`, `S3_CONNECTOR_CHECKSUMS`,
    /// `S3_CONNECTOR_COMPAT`, `S3_CONNECTOR_CONNECT_TIMEOUT`, `S3_CONNECTOR_ATTEMPT_TIMEOUT`,
    /// `S3_CONNECTOR_STALL_TIMEOUT` and `S3_CONNECTOR_DEADLINE`.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var` (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let bool_var = |name: &str| -> Result<Option<bool>> {
            match var(name) {
                None => Ok(None),
                Some(v) => match v.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(Some(true)),
                    "0" | "false" | "no" | "off" => Ok(Some(false)),
                    _ => Err(Error::invalid_input(name, format!("{v:?} is not true or false"))),
                },
            }
        };
        let max_attempts = match var("AWS_MAX_ATTEMPTS") {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| Error::invalid_input("AWS_MAX_ATTEMPTS", format!("{v:?} is not a whole number")))?,
            ),
        };
        let duration_var =
            |name: &str| -> Result<Option<Duration>> { var(name).map(|v| parse_duration(name, &v)).transpose() };
        let timeouts = TimeoutSettings {
            connect: duration_var("S3_CONNECTOR_CONNECT_TIMEOUT")?,
            attempt: duration_var("S3_CONNECTOR_ATTEMPT_TIMEOUT")?,
            stall: duration_var("S3_CONNECTOR_STALL_TIMEOUT")?,
            deadline: duration_var("S3_CONNECTOR_DEADLINE")?,
        };
        Ok(ConnectionSettings {
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            path_style: bool_var("S3_CONNECTOR_PATH_STYLE")?,
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").map(Secret),
            session_token: var("AWS_SESSION_TOKEN").map(Secret),
            profile: var("AWS_PROFILE"),
            checksums: var("S3_CONNECTOR_CHECKSUMS").map(|v| v.parse()).transpose()?,
            max_attempts,
            transfer: None,
            timeouts: (timeouts != TimeoutSettings::default()).then_some(timeouts),
            compat: bool_var("S3_CONNECTOR_COMPAT")?,
            allow_sse_c_over_http: bool_var("S3_CONNECTOR_ALLOW_SSE_C_OVER_HTTP")?,
        })
    }

    /// Reads a TOML config file with the same camelCase field names as this struct.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::local_io("read config file", path, &e))?;
        toml::from_str(&text).map_err(|e| {
            Error::invalid_input(
                "config",
                format!("{} is not a valid config file: {}", path.display(), e.message()),
            )
        })
    }

    /// The default config file: `$S3_CONNECTOR_CONFIG`, else `$XDG_CONFIG_HOME/s3-connector/config.toml`,
    /// else `~/.config/s3-connector/config.toml`. `None` when no such file exists.
    pub fn default_file() -> Option<std::path::PathBuf> {
        if let Some(p) = std::env::var_os("S3_CONNECTOR_CONFIG") {
            return Some(p.into());
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))?;
        let path = base.join("s3-connector").join("config.toml");
        path.is_file().then_some(path)
    }

    /// Merges `higher` over `self`: each field of `higher` that is set wins, and credentials
    /// move as a group (see the module docs).
    pub fn overlay(self, higher: ConnectionSettings) -> ConnectionSettings {
        let higher_names_credentials = higher.access_key_id.is_some() || higher.profile.is_some();
        let (access_key_id, secret_access_key, session_token, profile) = if higher_names_credentials {
            (
                higher.access_key_id,
                higher.secret_access_key,
                higher.session_token,
                higher.profile,
            )
        } else {
            (
                self.access_key_id,
                self.secret_access_key,
                self.session_token,
                self.profile,
            )
        };
        ConnectionSettings {
            region: higher.region.or(self.region),
            endpoint: higher.endpoint.or(self.endpoint),
            path_style: higher.path_style.or(self.path_style),
            access_key_id,
            secret_access_key,
            session_token,
            profile,
            checksums: higher.checksums.or(self.checksums),
            max_attempts: higher.max_attempts.or(self.max_attempts),
            transfer: higher.transfer.or(self.transfer),
            timeouts: match (self.timeouts, higher.timeouts) {
                (Some(low), Some(high)) => Some(low.overlay(high)),
                (low, high) => high.or(low),
            },
            compat: higher.compat.or(self.compat),
            allow_sse_c_over_http: higher.allow_sse_c_over_http.or(self.allow_sse_c_over_http),
        }
    }

    /// File, then environment, then `explicit`, each over the one before.
    pub fn layered(file: Option<ConnectionSettings>, explicit: ConnectionSettings) -> Result<ConnectionSettings> {
        Ok(file.unwrap_or_default().overlay(Self::from_env()?).overlay(explicit))
    }

    /// Whether a custom (non-AWS) endpoint is configured.
    pub fn is_custom_endpoint(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Path-style addressing in effect.
    pub fn effective_path_style(&self) -> bool {
        self.path_style.unwrap_or(self.is_custom_endpoint())
    }

    /// Checksum mode in effect.
    pub fn effective_checksums(&self) -> ChecksumMode {
        self.checksums.unwrap_or(if self.is_custom_endpoint() {
            ChecksumMode::WhenRequired
        } else {
            ChecksumMode::WhenSupported
        })
    }

    /// The timeouts in effect (each falls back to its default).
    pub fn effective_timeouts(&self) -> TimeoutSettings {
        self.timeouts.clone().unwrap_or_default()
    }

    /// Whether the compatibility mode is on.
    pub fn effective_compat(&self) -> bool {
        self.compat.unwrap_or(self.is_custom_endpoint())
    }

    /// Checks the settings before any client is built.
    pub fn validate(&self) -> Result<()> {
        if let Some(endpoint) = &self.endpoint {
            check_endpoint(endpoint)?;
        }
        if let Some(region) = &self.region {
            if region.trim().is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(Error::invalid_input(
                    "region",
                    format!("{region:?} is not a region name like us-east-1"),
                ));
            }
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => {
                return Err(Error::invalid_input(
                    "secretAccessKey",
                    "is required with accessKeyId: give both, or neither to use the default credentials chain",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid_input(
                    "accessKeyId",
                    "is required with secretAccessKey: give both, or neither to use the default credentials chain",
                ))
            }
            _ => {}
        }
        if let Some(attempts) = self.max_attempts {
            if attempts == 0 || attempts > 20 {
                return Err(Error::invalid_input("maxAttempts", "must be 1 to 20"));
            }
        }
        if let Some(t) = &self.transfer {
            t.validate()?;
        }
        if let Some(t) = &self.timeouts {
            t.validate()?;
        }
        Ok(())
    }

    /// The secret values in these settings (access key id, secret key, session token), for
    /// refusing them as job secrets.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values = Vec::new();
        values.extend(self.access_key_id.clone());
        values.extend(self.secret_access_key.as_ref().map(|s| s.expose().to_string()));
        values.extend(self.session_token.as_ref().map(|s| s.expose().to_string()));
        values
    }

    /// A redacted summary for logs and `--verbose`: no secret appears.
    pub fn describe(&self) -> BTreeMap<&'static str, String> {
        let mut m = BTreeMap::new();
        m.insert(
            "endpoint",
            self.endpoint
                .as_deref()
                .map(shown_endpoint)
                .unwrap_or_else(|| "AWS".into()),
        );
        m.insert(
            "region",
            self.region.clone().unwrap_or_else(|| "(default chain)".into()),
        );
        m.insert("pathStyle", self.effective_path_style().to_string());
        m.insert("checksums", format!("{:?}", self.effective_checksums()));
        let creds = match (&self.access_key_id, &self.profile) {
            (Some(_), _) => "static keys".to_string(),
            (None, Some(p)) => format!("profile {p}"),
            (None, None) => "default chain".to_string(),
        };
        m.insert("credentials", creds);
        m
    }
}

/// An endpoint as it may appear in messages and logs: a URL without its user name and
/// password, or for text that is not a URL, only what follows the last `@`.
pub fn shown_endpoint(endpoint: &str) -> String {
    if let Ok(mut url) = url::Url::parse(endpoint.trim()) {
        // `admin:pw@host` parses too, as the scheme `admin`: only real http(s) URLs are shown.
        if matches!(url.scheme(), "http" | "https") && url.has_host() {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            return url.to_string();
        }
    }
    match endpoint.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => endpoint.to_string(),
    }
}

/// An endpoint must be an http(s) URL with a host and no credentials in it; the error never
/// repeats credentials, since the text may hold some.
fn check_endpoint(endpoint: &str) -> Result<()> {
    let shown = shown_endpoint(endpoint);
    let url = match url::Url::parse(endpoint.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => u,
        _ => {
            return Err(Error::invalid_input(
                "endpoint",
                format!("{shown:?} must be an http:// or https:// URL, e.g. http://127.0.0.1:9000"),
            ))
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(
            "endpoint",
            format!(
                "{shown:?} must not carry a user name or password; give the keys as accessKeyId and secretAccessKey"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_input(
            "endpoint",
            format!("{shown:?} must not have a query or fragment"),
        ));
    }
    Ok(())
}

/// Parses an ISO-8601 duration as Java's `Duration.parse` reads it: `PnDTnHnMn.nS`.
/// Returns `None` for anything else, including negative durations.
pub fn parse_iso8601_duration(text: &str) -> Option<Duration> {
    let upper = text.trim().to_ascii_uppercase();
    let rest = upper.strip_prefix('+').unwrap_or(&upper).strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut millis: f64 = 0.0;
    let mut seen = false;
    let mut take = |part: &str, units: &[(char, f64)], fraction_unit: char| -> Option<()> {
        let mut number = String::new();
        let mut next = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let pos = units.iter().position(|(u, _)| *u == c)?;
            if pos < next || number.is_empty() || (number.contains('.') && c != fraction_unit) {
                return None;
            }
            millis += number.parse::<f64>().ok()? * units[pos].1;
            number.clear();
            next = pos + 1;
            seen = true;
        }
        number.is_empty().then_some(())
    };
    take(date, &[('D', 86_400_000.0)], '\0')?;
    if let Some(time) = time {
        take(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)], 'S')?;
    }
    (seen && millis.is_finite()).then(|| Duration::from_millis(millis.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_java_does() {
        assert_eq!(parse_iso8601_duration("PT0S"), Some(Duration::ZERO));
        assert_eq!(parse_iso8601_duration("PT30S"), Some(Duration::from_secs(30)));
        assert_eq!(parse_iso8601_duration("PT1.5S"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_iso8601_duration("P1DT2H3M"),
            Some(Duration::from_secs(86_400 + 7_200 + 180))
        );
        assert_eq!(parse_iso8601_duration("pt5m"), Some(Duration::from_secs(300)));
        for bad in [
            "", "P", "PT", "30S", "PT5", "PT1M2H", "P1Y", "-PT5S", "PT1.5M", "PTS", "P1DT",
        ] {
            assert_eq!(parse_iso8601_duration(bad), None, "{bad:?}");
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn secrets_never_print() {
        let s = ConnectionSettings {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(Secret::new("wJalrXUtnFEMI")),
            session_token: Some(Secret::new("tok3n")),
            ..Default::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("wJalrXUtnFEMI") && !dbg.contains("tok3n"), "{dbg}");
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(!json.contains("wJalrXUtnFEMI") && !json.contains("tok3n"), "{json}");
        assert!(!format!("{:?}", s.describe()).contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn flags_beat_env_beat_file_and_credentials_move_together() {
        let file = ConnectionSettings {
            region: Some("eu-west-1".into()),
            endpoint: Some("http://file:9000".into()),
            access_key_id: Some("FILEKEY".into()),
            secret_access_key: Some(Secret::new("filesecret")),
            ..Default::default()
        };
        let env = ConnectionSettings::from_vars(vars(&[("AWS_REGION", "eu-central-1"), ("AWS_PROFILE", "dev")]))
            .unwrap_or_default();
        let merged = file.clone().overlay(env).overlay(ConnectionSettings {
            endpoint: Some("http://flag:9000".into()),
            ..Default::default()
        });
        assert_eq!(merged.region.as_deref(), Some("eu-central-1"));
        assert_eq!(merged.endpoint.as_deref(), Some("http://flag:9000"));
        // The env named a profile, so the file's static keys are not used.
        assert_eq!(merged.profile.as_deref(), Some("dev"));
        assert!(merged.access_key_id.is_none() && merged.secret_access_key.is_none());
        // With nothing above it, the file's keys stand.
        let only_file = file.overlay(ConnectionSettings::default());
        assert_eq!(only_file.access_key_id.as_deref(), Some("FILEKEY"));
    }

    #[test]
    fn custom_endpoints_default_to_path_style_and_plain_checksums() {
        let aws = ConnectionSettings::default();
        assert!(!aws.effective_path_style());
        assert_eq!(aws.effective_checksums(), ChecksumMode::WhenSupported);
        let custom = ConnectionSettings {
            endpoint: Some("http://127.0.0.1:9000".into()),
            ..Default::default()
        };
        assert!(custom.effective_path_style());
        assert_eq!(custom.effective_checksums(), ChecksumMode::WhenRequired);
        let overridden = ConnectionSettings {
            path_style: Some(false),
            checksums: Some(ChecksumMode::WhenSupported),
            ..custom
        };
        assert!(!overridden.effective_path_style());
        assert_eq!(overridden.effective_checksums(), ChecksumMode::WhenSupported);
    }

    #[test]
    fn bad_settings_are_invalid_input() {
        let cases = [
            ConnectionSettings {
                endpoint: Some("ftp://x".into()),
                ..Default::default()
            },
            ConnectionSettings {
                region: Some("eu west".into()),
                ..Default::default()
            },
            ConnectionSettings {
                access_key_id: Some("AK".into()),
                ..Default::default()
            },
            ConnectionSettings {
                transfer: Some(TransferSettings {
                    part_size: 1024,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        for case in cases {
            assert_eq!(
                case.validate().map_err(|e| e.code),
                Err(crate::error::ErrorCode::InvalidInput)
            );
        }
        assert!(ConnectionSettings::from_vars(vars(&[("S3_CONNECTOR_CHECKSUMS", "sometimes")])).is_err());
    }

    #[test]
    fn endpoint_errors_never_repeat_credentials() {
        for endpoint in [
            "admin:pw@127.0.0.1:9000",
            "http://admin:pw@127.0.0.1:9000",
            "ftp://admin:pw@host",
            "admin:pw@",
        ] {
            let err = ConnectionSettings {
                endpoint: Some(endpoint.into()),
                ..Default::default()
            }
            .validate()
            .expect_err(endpoint);
            assert_eq!(err.code, crate::error::ErrorCode::InvalidInput);
            assert!(!err.message.contains("pw"), "{endpoint}: {}", err.message);
        }
        let described = ConnectionSettings {
            endpoint: Some("http://u:hunter2@127.0.0.1:9000".into()),
            ..Default::default()
        }
        .describe();
        assert!(!format!("{described:?}").contains("hunter2"));
    }

    #[test]
    fn timeouts_layer_field_by_field_and_parse_as_people_write_them() {
        let file: ConnectionSettings =
            toml::from_str("[timeouts]\nconnect = \"5s\"\nstall = 90\n").expect("config with timeouts");
        let env = ConnectionSettings::from_vars(vars(&[
            ("S3_CONNECTOR_STALL_TIMEOUT", "2m"),
            ("S3_CONNECTOR_DEADLINE", "1h 30m"),
        ]))
        .expect("env");
        let t = file.overlay(env).effective_timeouts();
        assert_eq!(t.connect(), Duration::from_secs(5));
        assert_eq!(t.stall(), Duration::from_secs(120));
        assert_eq!(t.attempt(), DEFAULT_ATTEMPT_TIMEOUT);
        assert_eq!(t.deadline(), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("x", "500ms").ok(), Some(Duration::from_millis(500)));
        assert!(parse_duration("x", "soon").is_err());
        assert!(ConnectionSettings::from_vars(vars(&[("S3_CONNECTOR_ATTEMPT_TIMEOUT", "forever")])).is_err());
        let zero = ConnectionSettings {
            timeouts: Some(TimeoutSettings {
                stall: Some(Duration::ZERO),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }
}
