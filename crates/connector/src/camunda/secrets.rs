//! Secrets in job variables: `{{secrets.NAME}}` anywhere in a string, and the legacy form, a
//! string that is exactly `secrets.NAME`, are replaced before binding. As Camunda's
//! self-managed runtime does, a secret's value is the environment variable of that name; an
//! unknown secret stays as written. Every value used is remembered so that it can be masked
//! as `***` in anything that leaves: logs, error messages, results.

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

/// Looks secrets up in the environment, as Camunda's self-managed runtime does.
pub fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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
}
