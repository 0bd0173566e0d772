//! Secrets in job variables: `{{secrets.NAME}}` anywhere in a string, and the legacy form, a
//! string that is exactly `secrets.NAME`, are replaced before binding. An unknown secret stays
//! as written. Every value used is remembered so that it can be masked as `***` in anything
//! that leaves: logs, error messages, results. Masking is best-effort: a FEEL expression can
//! always transform a value (split it, encode it) past any masking.
//!
//! Where values come from ([`SecretSource`]), as in Camunda's self-managed runtime 8.9+:
//! - the environment variable `PREFIX + NAME`, with the prefix from
//!   `CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_PREFIX` (default `SECRET_`; set it empty to
//!   read any variable, as Camunda before 8.9 did), unless
//!   `CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_ENABLED=false`;
//! - before that, when `S3_CONNECTOR_SECRETS_DIR` is set, the file `DIR/NAME` (one secret per
//!   file, as Kubernetes mounts a Secret; a trailing newline is dropped).
//!
//! A process can never resolve the service's own settings, whatever the prefix: variables named
//! `S3_CONNECTOR_*`, `AWS_*`, `CAMUNDA_*` or `ZEEBE_*` are refused, and so is any value that
//! equals one of the service's own secrets (its token, the cluster's client secret or token, the
//! AWS keys it uses itself from variables, flags or a profile), however it is named.

use std::collections::BTreeSet;

use serde_json::Value;

/// The secret values used while replacing, to be masked wherever text leaves the connector.
#[derive(Default, Clone)]
pub struct UsedSecrets(BTreeSet<String>);

impl std::fmt::Debug for UsedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UsedSecrets({} values, ***)", self.0.len())
    }
}

impl UsedSecrets {
    /// `text` with every secret value replaced by `***` (longest first, so a secret that
    /// contains another is masked whole). A value's JSON-escaped form is masked too: a secret
    /// with a quote or backslash appears escaped in anything rendered as JSON.
    pub fn mask(&self, text: &str) -> String {
        let mut forms: Vec<String> = Vec::new();
        for v in self.0.iter().filter(|v| !v.is_empty()) {
            forms.push(v.clone());
            let escaped = serde_json::to_string(v).unwrap_or_default();
            let escaped = escaped.trim_matches('"');
            if escaped != v {
                forms.push(escaped.to_string());
            }
        }
        forms.sort_by_key(|v| std::cmp::Reverse(v.len()));
        forms
            .into_iter()
            .fold(text.to_string(), |t, v| t.replace(v.as_str(), "***"))
    }

    /// Masks every string inside a JSON value.
    pub fn mask_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_value(v)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (self.mask(k), self.mask_value(v))).collect()),
            other => other.clone(),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-')
}

/// A secret name: letters and digits, separated by single `/ . _ -`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(is_name_char)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Replaces `{{ secrets.NAME }}` occurrences in one string.
fn replace_in(text: &str, lookup: &dyn Fn(&str) -> Option<String>, used: &mut UsedSecrets) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let inner_start = after.len() - after.trim_start().len();
        let body = &after[inner_start..];
        let replaced = body.strip_prefix("secrets.").and_then(|tail| {
            let name_len = tail.find(|c: char| !is_name_char(c)).unwrap_or(tail.len());
            let name = &tail[..name_len];
            let close = tail[name_len..].trim_start();
            if !valid_name(name) || !close.starts_with("}}") {
                return None;
            }
            let consumed = 2 + inner_start + "secrets.".len() + name_len + (tail[name_len..].len() - close.len()) + 2;
            lookup(name).map(|value| (value, consumed))
        });
        match replaced {
            Some((value, consumed)) => {
                out.push_str(&value);
                used.0.insert(value);
                rest = &rest[start + consumed..];
            }
            None => {
                out.push_str("{{");
                rest = &rest[start + 2..];
            }
        }
    }
    out.push_str(rest);
    // The legacy form: the whole (trimmed) string is `secrets.NAME`.
    if let Some(name) = out.trim().strip_prefix("secrets.") {
        if valid_name(name) {
            if let Some(value) = lookup(name) {
                used.0.insert(value.clone());
                return value;
            }
        }
    }
    out
}

/// Replaces secrets in every string of `vars`, looking values up with `lookup`.
pub fn replace_secrets(vars: &Value, lookup: &dyn Fn(&str) -> Option<String>) -> (Value, UsedSecrets) {
    fn walk(v: &Value, lookup: &dyn Fn(&str) -> Option<String>, used: &mut UsedSecrets) -> Value {
        match v {
            Value::String(s) => Value::String(replace_in(s, lookup, used)),
            Value::Array(items) => Value::Array(items.iter().map(|x| walk(x, lookup, used)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, x)| (k.clone(), walk(x, lookup, used))).collect()),
            other => other.clone(),
        }
    }
    let mut used = UsedSecrets::default();
    let replaced = walk(vars, lookup, &mut used);
    (replaced, used)
}

/// The variable that sets the environment prefix (Camunda's name, so a drop-in needs no change).
pub const PREFIX_SETTING: &str = "CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_PREFIX";
/// The variable that turns the environment off as a source of secrets.
pub const ENABLED_SETTING: &str = "CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_ENABLED";
/// The variable naming a directory of secret files.
pub const DIR_SETTING: &str = "S3_CONNECTOR_SECRETS_DIR";
/// The prefix when none is configured, as in Camunda 8.9.
pub const DEFAULT_PREFIX: &str = "SECRET_";
/// Variable names a secret may never read: the settings of the service itself.
pub const RESERVED_PREFIXES: [&str; 4] = ["S3_CONNECTOR_", "AWS_", "CAMUNDA_", "ZEEBE_"];

/// Words that mark a variable's value as a credential rather than a setting.
const SECRET_WORDS: [&str; 4] = ["SECRET", "TOKEN", "PASSWORD", "KEY"];

/// Whether the variable `name` holds one of the service's own credentials: a reserved name
/// (`S3_CONNECTOR_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `ZEEBE_CLIENT_SECRET`, ...) that names a
/// secret. Its value is refused whatever name a job reads it under. Plain settings
/// (`AWS_REGION=us-east-1`) are not: refusing their values would refuse ordinary secrets that
/// happen to be equal.
fn holds_own_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p)) && SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// Reads one environment variable; the process environment unless a test supplies its own.
pub type EnvReader = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where `{{secrets.NAME}}` values come from, and what they may never be. The default reads
/// the environment with Camunda's default prefix `SECRET_`.
#[derive(Clone)]
pub struct SecretSource {
    /// The environment prefix; `None` when the environment is not a source.
    env_prefix: Option<String>,
    /// How a variable is read.
    env: EnvReader,
    /// A directory of secret files.
    dir: Option<std::path::PathBuf>,
    /// Values that are the service's own secrets.
    own_values: BTreeSet<String>,
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSource")
            .field("env_prefix", &self.env_prefix)
            .field("dir", &self.dir)
            .field("own_values", &format_args!("{} values, ***", self.own_values.len()))
            .finish()
    }
}

impl Default for SecretSource {
    fn default() -> Self {
        SecretSource::new(Some(DEFAULT_PREFIX), None)
    }
}

impl SecretSource {
    /// Reads the settings from the environment (see the module docs).
    pub fn from_env() -> crate::error::Result<Self> {
        let enabled = match std::env::var(ENABLED_SETTING) {
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    return Err(crate::error::Error::invalid_input(
                        ENABLED_SETTING,
                        format!("{other:?} is not true or false"),
                    ))
                }
            },
            Err(_) => true,
        };
        let prefix = std::env::var(PREFIX_SETTING).unwrap_or_else(|_| DEFAULT_PREFIX.to_string());
        if enabled && prefix.is_empty() {
            tracing::warn!(
                "{PREFIX_SETTING} is empty: every environment variable but the service's own can be read as a secret"
            );
        }
        let dir = std::env::var_os(DIR_SETTING)
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from);
        if let Some(d) = &dir {
            if !d.is_dir() {
                return Err(crate::error::Error::invalid_input(
                    DIR_SETTING,
                    format!("{} is not a directory", d.display()),
                ));
            }
        }
        let own = std::env::vars()
            .filter(|(name, _)| holds_own_secret(name))
            .map(|(_, v)| v);
        Ok(SecretSource::new(enabled.then_some(prefix.as_str()), dir).refusing(own))
    }

    /// A source that reads the environment with `prefix` (`None`: not at all) and the files in
    /// `dir`.
    pub fn new(env_prefix: Option<&str>, dir: Option<std::path::PathBuf>) -> Self {
        SecretSource {
            env_prefix: env_prefix.map(str::to_string),
            env: std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
            dir,
            own_values: BTreeSet::new(),
        }
    }

    /// The same source, reading variables with `env` instead of the process environment.
    /// Tests use it: setting process variables while other threads read them is a data race.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = std::sync::Arc::new(env);
        self
    }

    /// The same source, refusing these values: the service's own secrets.
    pub fn refusing(mut self, values: impl IntoIterator<Item = String>) -> Self {
        self.own_values.extend(
            values
                .into_iter()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
        );
        self
    }

    /// The value of secret `name`, if it may be read.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if !valid_name(name) {
            return None;
        }
        let value = self.read_file(name).or_else(|| self.read_env_var(name))?;
        if self.own_values.contains(value.trim()) {
            tracing::warn!(
                secret = name,
                "a job asked for a secret whose value is one of the service's own; refused"
            );
            return None;
        }
        Some(value)
    }

    fn read_env_var(&self, name: &str) -> Option<String> {
        let variable = format!("{}{name}", self.env_prefix.as_deref()?);
        if RESERVED_PREFIXES
            .iter()
            .any(|p| variable.to_ascii_uppercase().starts_with(p))
        {
            tracing::warn!(
                secret = name,
                "a job asked for the service's own setting {variable}; refused"
            );
            return None;
        }
        (self.env)(&variable)
    }

    fn read_file(&self, name: &str) -> Option<String> {
        let dir = self.dir.as_ref()?;
        // One file per secret, named as the secret: no separators. Kubernetes' own entries
        // (`..data`, dated dirs) start with dots, which a valid name never does. The reserved
        // prefixes are not applied here: every file was put in the directory for jobs to read
        // (`AWS_ACCESS_KEY` is a common secret's name), and a file holding one of the service's
        // own values is still refused by value.
        if name.contains('/') {
            return None;
        }
        let path = dir.join(name);
        // The file may be a link (Kubernetes mounts them so); it must still end up inside.
        let real = std::fs::canonicalize(&path).ok()?;
        let root = std::fs::canonicalize(dir).ok()?;
        if !real.starts_with(&root) || !real.is_file() {
            return None;
        }
        let text = std::fs::read_to_string(real).ok()?;
        Some(
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "AWS_KEY" => Some("AKIA123".into()),
            "AWS_SECRET" => Some("s3cr3t\"with\\quotes".into()),
            "team/bucket-name.v2" => Some("invoices".into()),
            _ => None,
        }
    }

    #[test]
    fn both_forms_are_replaced_and_unknown_ones_stay() {
        let vars = json!({
            "authentication": {"accessKey": "{{secrets.AWS_KEY}}", "secretKey": "secrets.AWS_SECRET"},
            "action": {"bucket": "{{ secrets.team/bucket-name.v2 }}", "key": "in/{{secrets.AWS_KEY}}/x-{{secrets.NOPE}}"},
            "list": ["{{secrets.AWS_KEY}}", 3, null, " secrets.AWS_KEY "],
            "notASecret": "my secrets.AWS_KEY here", "broken": "{{secrets.}} {{secrets.AWS_KEY"
        });
        let (out, used) = replace_secrets(&vars, &lookup);
        assert_eq!(out["authentication"]["accessKey"], "AKIA123");
        // Quotes and backslashes survive: the value is a string, escaped when serialized.
        assert_eq!(out["authentication"]["secretKey"], "s3cr3t\"with\\quotes");
        assert_eq!(out["action"]["bucket"], "invoices");
        assert_eq!(out["action"]["key"], "in/AKIA123/x-{{secrets.NOPE}}");
        assert_eq!(out["list"], json!(["AKIA123", 3, null, "AKIA123"]));
        assert_eq!(
            out["notASecret"], "my secrets.AWS_KEY here",
            "the legacy form is the whole value only"
        );
        assert_eq!(out["broken"], "{{secrets.}} {{secrets.AWS_KEY");
        let serialized = out.to_string();
        assert!(serde_json::from_str::<Value>(&serialized).is_ok());
        // Masking: every value used disappears from anything that leaves.
        let message = format!(
            "failed for {} with {}",
            out["authentication"]["accessKey"], out["authentication"]["secretKey"]
        );
        let masked = used.mask(&message);
        assert!(!masked.contains("AKIA123") && !masked.contains("s3cr3t"), "{masked}");
        assert_eq!(used.mask_value(&out)["action"]["bucket"], "***");
        assert!(!format!("{used:?}").contains("AKIA"));
    }

    #[test]
    fn the_values_of_the_services_credential_variables_are_its_own() {
        for name in [
            "S3_CONNECTOR_TOKEN",
            "S3_CONNECTOR_CAMUNDA_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "aws_session_token",
            "CAMUNDA_CLIENT_SECRET",
            "ZEEBE_CLIENT_SECRET",
        ] {
            assert!(holds_own_secret(name), "{name}");
        }
        for name in [
            "AWS_REGION",
            "S3_CONNECTOR_CONNECT_TIMEOUT",
            "SECRET_DB_PASSWORD",
            "MY_TOKEN",
        ] {
            assert!(!holds_own_secret(name), "{name}");
        }
    }

    #[test]
    fn secrets_come_from_the_prefix_or_the_directory_and_never_from_the_service() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("DB_PASSWORD"), "from-file\n").expect("write");
        std::fs::write(dir.path().join("TOKEN_COPY"), "service-token-123").expect("write");
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("x"), "outside").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path().join("x"), dir.path().join("LINKED")).expect("link");
        let source = SecretSource::new(Some("SECRET_"), Some(dir.path().to_path_buf()))
            .refusing(["service-token-123".to_string()]);
        assert_eq!(source.lookup("DB_PASSWORD").as_deref(), Some("from-file"));
        assert_eq!(source.lookup("TOKEN_COPY"), None, "a value that is the service's own");
        assert_eq!(source.lookup("LINKED"), None, "a link out of the directory");
        assert_eq!(source.lookup("../x"), None);
        // PATH exists in every environment: with the prefix it is SECRET_PATH, which does not.
        assert_eq!(source.lookup("PATH"), None);
        let open = SecretSource::new(Some(""), None);
        assert!(open.lookup("PATH").is_some(), "an empty prefix reads any variable");
        // Every variable is set: only the reserved names are refused.
        let everything_set = SecretSource::new(Some(""), None).with_env(|_| Some("set".to_string()));
        for own in [
            "S3_CONNECTOR_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "aws_secret_access_key",
            "CAMUNDA_CLIENT_SECRET",
            "ZEEBE_CLIENT_SECRET",
        ] {
            assert_eq!(everything_set.lookup(own), None, "{own} is the service's own");
        }
        assert_eq!(everything_set.lookup("PLAIN").as_deref(), Some("set"));
        // With the default prefix, a secret named AWS_KEY reads SECRET_AWS_KEY, which is fine.
        let prefixed =
            SecretSource::new(Some("SECRET_"), None).with_env(|v| (v == "SECRET_AWS_KEY").then(|| "k".to_string()));
        assert_eq!(prefixed.lookup("AWS_KEY").as_deref(), Some("k"));
        assert_eq!(SecretSource::new(None, None).lookup("PATH"), None, "environment off");
        assert!(!format!("{source:?}").contains("service-token-123"));
    }
}
