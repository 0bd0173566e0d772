//! `presignUrl`: a time-limited URL anyone can use to GET or PUT one object.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Human, Streams};
use crate::error::{Error, Missing, Result};
use crate::client::Connector;
use crate::validate;

/// Default lifetime: one hour.
pub const DEFAULT_EXPIRES_IN: u64 = 3600;

/// The HTTP method the URL is for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PresignMethod {
    /// Download.
    #[default]
    #[cfg_attr(feature = "cli", value(name = "GET"))]
    Get,
    /// Upload.
    #[cfg_attr(feature = "cli", value(name = "PUT"))]
    Put,
}

/// Request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data presign-url reports 2026/q1.pdf \\\n      --expires-in 600"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresignUrlRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// `GET` (default) to download, `PUT` to upload.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(inline))]
    #[cfg_attr(feature = "cli", arg(long, value_enum, ignore_case = true, default_value = "GET"))]
    pub method: PresignMethod,
    /// Lifetime in seconds, 1 to 604800 (7 days); default 3600.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECONDS"))]
    pub expires_in: Option<u64>,
    /// For PUT: the content type the uploader must send (it becomes part of the signature).
    /// For GET: the `Content-Type` the download is answered with, whatever is stored.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_type: Option<String>,
    /// `Cache-Control`: for PUT, a header the uploader must send (stored with the object);
    /// for GET, the header the download is answered with.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub cache_control: Option<String>,
    /// `Content-Disposition`, as `cacheControl`; for GET e.g. `attachment; filename="q1.pdf"`
    /// to have browsers save the download under that name.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_disposition: Option<String>,
    /// `Content-Encoding`, as `cacheControl`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub content_encoding: Option<String>,
    /// `Expires` (RFC 3339), as `cacheControl`.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub expires: Option<String>,
    /// GET: sign for this version of the object (see `listObjectVersions`).
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignUrlResult {
    /// The URL.
    pub url: String,
    /// The method it is for.
    pub method: PresignMethod,
    /// When it stops working, RFC 3339.
    pub expires_at: String,
    /// Headers the user of the URL must send as given.
    pub headers: std::collections::BTreeMap<String, String>,
}

impl PresignUrlRequest {
    /// The standard headers the request gives.
    fn headers(&self) -> crate::fields::ObjectHeaders {
        crate::fields::ObjectHeaders {
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            content_encoding: self.content_encoding.clone(),
            expires: self.expires.clone(),
        }
    }
}

impl ActionRequest for PresignUrlRequest {
    const NAME: &'static str = "presignUrl";
    const LABEL: &'static str = "Presign URL";
    type Result = PresignUrlResult;

    /// Checks bucket, key and expiry.
    fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)?;
        validate::expiry("expiresIn", self.expires_in.unwrap_or(DEFAULT_EXPIRES_IN))?;
        validate::version_id("versionId", self.version_id.as_deref())?;
        if self.version_id.is_some() && self.method == PresignMethod::Put {
            return Err(Error::invalid_input(
                "versionId",
                "goes with GET only: a PUT makes a new version",
            ));
        }
        validate::object_headers(&self.headers())
    }

    /// # Behavior
    /// Signs locally (SigV4 query string); nothing is sent to the store, so the object need
    /// not exist. Uses the configured endpoint and addressing style, so URLs for MinIO,
    /// Garage or the embedded store point there.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<PresignUrlResult> {
        self.validate()?;
        let secs = self.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
        let config = PresigningConfig::expires_in(Duration::from_secs(secs))
            .map_err(|e| Error::invalid_input("expiresIn", e))?;
        let what = format!("presign s3://{}/{}", self.bucket, self.key);
        let h = self.headers();
        let req = match self.method {
            // Response overrides: S3 answers the download with these instead of what is stored.
            PresignMethod::Get => conn
                .client()
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_version_id(self.version_id.clone())
                .set_response_content_type(self.content_type.clone())
                .set_response_cache_control(h.cache_control.clone())
                .set_response_content_disposition(h.content_disposition.clone())
                .set_response_content_encoding(h.content_encoding.clone())
                .set_response_expires(h.expires_time())
                .presigned(config)
                .await
                .map_err(|e| Error::from_sdk(e, &what, Missing::Key))?,
            PresignMethod::Put => conn
                .client()
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_content_type(self.content_type.clone())
                .set_cache_control(h.cache_control.clone())
                .set_content_disposition(h.content_disposition.clone())
                .set_content_encoding(h.content_encoding.clone())
                .set_expires(h.expires_time())
                .presigned(config)
                .await
                .map_err(|e| Error::from_sdk(e, &what, Missing::Key))?,
        };
        let expires_at = aws_sdk_s3::primitives::DateTime::from(SystemTime::now() + Duration::from_secs(secs));
        Ok(PresignUrlResult {
            url: req.uri().to_string(),
            method: self.method,
            expires_at: crate::s3::rfc3339(&expires_at).unwrap_or_default(),
            headers: req
                .headers()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// One line per entry, as columns.
    fn human(result: &PresignUrlResult) -> Human {
        Human {
            lines: vec![result.url.clone()],
            hint: None,
        }
    }
}
