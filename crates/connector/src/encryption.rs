//! Server-side encryption a write asks for: keys the store manages (SSE-S3, `AES256`) or KMS
//! keys (SSE-KMS, `aws:kms`, and its two-layer form `aws:kms:dsse`), with a key id, an
//! encryption context and the bucket-key setting.
//!
//! Checked before any request. After the write, the object's encryption is read back (see
//! [`crate::stored`]): a store that accepts the header and stores the object unencrypted
//! answers `NotSupported`, never a silent no-op.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::error::{Error, Result};
use crate::fields::KmsContext;

/// How the store encrypts the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Algorithm {
    /// SSE-S3: keys the store manages.
    #[serde(rename = "AES256")]
    #[cfg_attr(feature = "cli", value(name = "AES256"))]
    Aes256,
    /// SSE-KMS: a KMS key (the account's default for S3 unless `kmsKeyId` names one).
    #[serde(rename = "aws:kms")]
    #[cfg_attr(feature = "cli", value(name = "aws:kms"))]
    Kms,
    /// DSSE-KMS: two layers of encryption with a KMS key.
    #[serde(rename = "aws:kms:dsse")]
    #[cfg_attr(feature = "cli", value(name = "aws:kms:dsse"))]
    KmsDsse,
}

impl Algorithm {
    /// The `x-amz-server-side-encryption` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aes256 => "AES256",
            Algorithm::Kms => "aws:kms",
            Algorithm::KmsDsse => "aws:kms:dsse",
        }
    }

    fn is_kms(self) -> bool {
        matches!(self, Algorithm::Kms | Algorithm::KmsDsse)
    }
}

/// The `encryption` field of a write: `{"algorithm": "aws:kms", "kmsKeyId": "...",
/// "kmsContext": {"project": "x"}, "bucketKey": true}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
// The KMS flags alone would otherwise fail with clap's bare "missing algorithm".
#[cfg_attr(feature = "cli", command(mut_arg("sse-kms-context", |a| a.requires("algorithm"))))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Encryption {
    /// `AES256` (SSE-S3), `aws:kms` (SSE-KMS) or `aws:kms:dsse` (DSSE-KMS).
    #[cfg_attr(feature = "cli", arg(long = "sse", value_name = "ALGORITHM", required = false))]
    pub algorithm: Algorithm,
    /// SSE-KMS: the KMS key's id, ARN or alias; default: the account's S3 key.
    #[serde(default)]
    #[cfg_attr(
        feature = "cli",
        arg(long = "sse-kms-key-id", value_name = "KEY", requires = "algorithm")
    )]
    pub kms_key_id: Option<String>,
    /// SSE-KMS: the encryption context, name to value (KMS logs it, and a decrypt must give
    /// the same).
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub kms_context: Option<KmsContext>,
    /// SSE-KMS: use the bucket key (fewer KMS calls); default: the bucket's setting.
    #[serde(default)]
    #[cfg_attr(
        feature = "cli",
        arg(long = "sse-bucket-key", value_name = "BOOL", requires = "algorithm")
    )]
    pub bucket_key: Option<bool>,
}

impl Encryption {
    /// Checks that the KMS fields come with a KMS algorithm and hold no control characters.
    pub fn validate(&self, field: &str) -> Result<()> {
        let kms_only = self.kms_key_id.is_some() || self.kms_context.is_some() || self.bucket_key.is_some();
        if kms_only && !self.algorithm.is_kms() {
            return Err(Error::invalid_input(
                field,
                "kmsKeyId, kmsContext and bucketKey go with algorithm aws:kms or aws:kms:dsse",
            ));
        }
        if let Some(id) = &self.kms_key_id {
            if id.is_empty() || id.len() > 2048 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(Error::invalid_input(
                    &format!("{field}.kmsKeyId"),
                    "must be a KMS key id, ARN or alias: 1 to 2048 characters, no spaces",
                ));
            }
        }
        if let Some(context) = &self.kms_context {
            if context
                .keys()
                .chain(context.values())
                .any(|s| s.chars().any(char::is_control))
            {
                return Err(Error::invalid_input(
                    &format!("{field}.kmsContext"),
                    "names and values must not contain control characters",
                ));
            }
        }
        Ok(())
    }

    /// The algorithm as the SDK takes it.
    pub(crate) fn sdk_algorithm(&self) -> aws_sdk_s3::types::ServerSideEncryption {
        aws_sdk_s3::types::ServerSideEncryption::from(self.algorithm.as_str())
    }

    /// `x-amz-server-side-encryption-context`: the context as base64 of its JSON.
    pub(crate) fn context_header(&self) -> Option<String> {
        let context = self.kms_context.as_ref()?;
        let json = serde_json::to_vec(&context.0).ok()?;
        Some(base64::engine::general_purpose::STANDARD.encode(json))
    }
}

/// Sets the encryption headers of a PutObject, CreateMultipartUpload or CopyObject request
/// (the SDK's builders share these setters but no trait).
macro_rules! with_encryption {
    ($req:expr, $encryption:expr) => {{
        let e: Option<&$crate::encryption::Encryption> = $encryption;
        $req.set_server_side_encryption(e.map(|e| e.sdk_algorithm()))
            .set_ssekms_key_id(e.and_then(|e| e.kms_key_id.clone()))
            .set_ssekms_encryption_context(e.and_then(|e| e.context_header()))
            .set_bucket_key_enabled(e.and_then(|e| e.bucket_key))
    }};
}
pub(crate) use with_encryption;

/// An SSE-C key: 256 bits the caller holds, given as base64. The store encrypts the object
/// with it and keeps only its MD5, so every read (and the source of a copy) must give it
/// again. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey {
    key: Secret,
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(***)")
    }
}

impl CustomerKey {
    /// Checks the key's form: base64 of exactly 32 bytes.
    pub fn parse(field: &str, key: &Secret) -> Result<CustomerKey> {
        use md5::Digest;
        let engine = base64::engine::general_purpose::STANDARD;
        let raw = engine
            .decode(key.expose().trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                Error::invalid_input(
                    field,
                    "must be a 256-bit key in base64 (44 characters), e.g. from `openssl rand -base64 32`",
                )
            })?;
        Ok(CustomerKey {
            key: Secret::new(engine.encode(&raw)),
            md5: engine.encode(md5::Md5::digest(&raw)),
        })
    }

    /// The key, for the SDK's request and nothing else.
    pub(crate) fn expose(&self) -> &str {
        self.key.expose()
    }

    /// Base64 of the key's MD5, which the store checks the key against.
    pub(crate) fn md5(&self) -> &str {
        &self.md5
    }
}

/// The SSE-C key of a request field, checked: its form, and that it will not cross the
/// network in clear. A plain-http endpoint needs the operator's `allowSseCOverHttp` (AWS
/// itself refuses SSE-C over http).
pub(crate) fn customer_key(
    settings: &crate::config::ConnectionSettings,
    field: &str,
    key: Option<&Secret>,
) -> Result<Option<CustomerKey>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let parsed = CustomerKey::parse(field, key)?;
    let plain_http = settings
        .endpoint
        .as_deref()
        .is_some_and(|e| e.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://")));
    if plain_http && !settings.allow_sse_c_over_http.unwrap_or(false) {
        return Err(Error::invalid_input(
            field,
            "the endpoint is plain http, so the key would cross the network in clear; nothing was sent. Use an https endpoint, or, on a network you trust, have the operator allow it (allowSseCOverHttp in the config file, or S3_CONNECTOR_ALLOW_SSE_C_OVER_HTTP=true)",
        ));
    }
    Ok(Some(parsed))
}

/// Checks how a write asks its object to be stored: a known storage class, server-side
/// encryption, and an SSE-C key, the two kinds of encryption not both. Nothing is sent.
pub(crate) fn validate_stored_as(
    storage_class: Option<&str>,
    encryption: Option<&Encryption>,
    sse_customer_key: Option<&Secret>,
) -> Result<()> {
    crate::validate::storage_class("storageClass", storage_class)?;
    if let Some(e) = encryption {
        e.validate("encryption")?;
    }
    if let Some(k) = sse_customer_key {
        CustomerKey::parse("sseCustomerKey", k)?;
        if encryption.is_some() {
            return Err(Error::invalid_input(
                "sseCustomerKey",
                "give either encryption (SSE-S3, SSE-KMS) or sseCustomerKey (SSE-C), not both",
            ));
        }
    }
    Ok(())
}

/// Sets the SSE-C headers of a request that writes or reads an object encrypted with a
/// customer key.
macro_rules! with_customer_key {
    ($req:expr, $key:expr) => {{
        let k: Option<&$crate::encryption::CustomerKey> = $key;
        $req.set_sse_customer_algorithm(k.map(|_| "AES256".to_string()))
            .set_sse_customer_key(k.map(|k| k.expose().to_string()))
            .set_sse_customer_key_md5(k.map(|k| k.md5().to_string()))
    }};
}
pub(crate) use with_customer_key;

/// Sets the SSE-C headers for the source of a copy.
macro_rules! with_copy_source_customer_key {
    ($req:expr, $key:expr) => {{
        let k: Option<&$crate::encryption::CustomerKey> = $key;
        $req.set_copy_source_sse_customer_algorithm(k.map(|_| "AES256".to_string()))
            .set_copy_source_sse_customer_key(k.map(|k| k.expose().to_string()))
            .set_copy_source_sse_customer_key_md5(k.map(|k| k.md5().to_string()))
    }};
}
pub(crate) use with_copy_source_customer_key;

/// With the `cli` feature: a flag's value as a [`Secret`].
#[cfg(feature = "cli")]
pub fn secret_arg(value: &str) -> std::result::Result<Secret, String> {
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectionSettings;
    use crate::error::ErrorCode;

    fn key() -> Secret {
        Secret::new(base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
    }

    #[test]
    fn a_customer_key_never_crosses_plain_http_unless_the_operator_allows_it() {
        let plain = ConnectionSettings {
            endpoint: Some("HTTP://store.internal:9000".into()),
            ..Default::default()
        };
        let err = customer_key(&plain, "sseCustomerKey", Some(&key())).expect_err("plain http");
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("allowSseCOverHttp"), "{}", err.message);
        assert!(!err.message.contains(key().expose()), "the key is in the message");
        let allowed = ConnectionSettings {
            allow_sse_c_over_http: Some(true),
            ..plain.clone()
        };
        assert!(customer_key(&allowed, "sseCustomerKey", Some(&key()))
            .expect("allowed")
            .is_some());
        let tls = ConnectionSettings {
            endpoint: Some("https://store.internal".into()),
            ..Default::default()
        };
        assert!(customer_key(&tls, "sseCustomerKey", Some(&key()))
            .expect("https")
            .is_some());
        // AWS itself (no endpoint) is https.
        assert!(customer_key(&ConnectionSettings::default(), "k", Some(&key()))
            .expect("aws")
            .is_some());
        assert!(customer_key(&plain, "sseCustomerKey", None).expect("no key").is_none());
    }

    #[test]
    fn a_customer_key_is_masked_and_checked() {
        let parsed = CustomerKey::parse("sseCustomerKey", &key()).expect("a key");
        assert!(!format!("{parsed:?}").contains(key().expose()));
        let short = Secret::new(base64::engine::general_purpose::STANDARD.encode([7u8; 16]));
        assert_eq!(
            CustomerKey::parse("sseCustomerKey", &short).expect_err("128 bits").code,
            ErrorCode::InvalidInput
        );
        assert!(CustomerKey::parse("sseCustomerKey", &Secret::new("not base64!")).is_err());
    }
}
