//! Camunda `downloadObject`: an object as a document reference, text, JSON, or (templates
//! v1-v4) by its content type. Result `{bucket, key, element: {document} | {content}}`.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::actions::GetObjectRequest;
use crate::camunda::ReturnFormat;
use crate::client::Connector;
use crate::documents::external::stream_reader;
use crate::documents::{DocumentMetadata, DocumentReference, DocumentStore};
use crate::error::{Error, ErrorCode, Result};
use crate::validate;

/// The most a TEXT, JSON or by-content-type result may hold: 1.5 MiB, as in Camunda.
pub const INLINE_LIMIT: u64 = 1_572_864;

/// `{bucket, key, element}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DownloadObjectResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The content or a reference to it.
    pub element: Element,
}

/// What `downloadObject` returns in `element`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Element {
    /// `{"document": REF}`: the object stored in the document store.
    Document {
        /// The reference.
        document: DocumentReference,
    },
    /// `{"content": VALUE}`: a string, a JSON value, or base64 text.
    Content {
        /// The value.
        content: Value,
    },
}

/// Decodes `bytes` with a charset label; an unknown label is an input error (TEXT only).
fn decode(bytes: &[u8], label: &str, field: &str) -> Result<String> {
    let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        Error::invalid_input(
            field,
            format!("{label:?} is not a known charset (e.g. UTF-8, ISO-8859-1)"),
        )
    })?;
    Ok(encoding.decode(bytes).0.into_owned())
}

/// A body that failed for good, with our error when the resuming body made one.
fn body_error(e: std::io::Error, what: &str) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(ours) => ours.clone(),
        None => Error::new(
            ErrorCode::Network,
            format!("GetObject {what}: the connection broke: {e}"),
        ),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorCode::InvalidInput,
            format!("JSON response format selected but payload is not valid JSON: {e}"),
        )
    })
}

/// Downloads `key` and returns it in `format`, storing it in `store` for document results.
pub async fn download_object(
    conn: &Connector,
    store: &dyn DocumentStore,
    bucket: &str,
    key: &str,
    format: &ReturnFormat,
) -> Result<DownloadObjectResult> {
    validate::bucket("action.bucket", bucket)?;
    validate::key("action.key", key)?;
    let what = format!("s3://{bucket}/{key}");
    // getObject's own open: a body that breaks part-way resumes, pinned to the ETag.
    let get = GetObjectRequest {
        bucket: bucket.to_string(),
        key: key.to_string(),
        file: None,
        range: None,
        version_id: None,
        sse_customer_key: None,
    };
    let (got, opened) = get.open(conn).await?;
    let (content_type, size) = (got.content_type, got.size);
    let body = stream_reader(opened.body);

    if *format == ReturnFormat::Document {
        let metadata = DocumentMetadata {
            content_type,
            // The full key, as Camunda's connector names the document.
            file_name: Some(key.to_string()),
            ..Default::default()
        };
        let reference = store.create(Box::new(body), metadata).await?;
        return Ok(DownloadObjectResult {
            bucket: bucket.to_string(),
            key: key.to_string(),
            element: Element::Document {
                document: DocumentReference::Camunda(Box::new(reference)),
            },
        });
    }

    let too_big = |size: u64| {
        let advice = if *format == ReturnFormat::ByContentType {
            "enable document output (asFile, or documentReturnFormat DOCUMENT) to get it as a document reference"
        } else {
            "choose the document reference format (DOCUMENT) to get larger objects"
        };
        Error::new(
            ErrorCode::InvalidInput,
            format!("{what} is {size} bytes, more than the {INLINE_LIMIT} bytes (1.5 MiB) an inline result may hold; {advice}"),
        )
    };
    if size > INLINE_LIMIT {
        return Err(too_big(size));
    }
    let mut bytes = Vec::new();
    body.take(INLINE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| body_error(e, &what))?;
    if bytes.len() as u64 > INLINE_LIMIT {
        return Err(too_big(bytes.len() as u64));
    }

    let content = match format {
        ReturnFormat::Text { encoding } => Value::String(decode(&bytes, encoding, "documentReturnFormat.encoding")?),
        ReturnFormat::Json => parse_json(&bytes)?,
        ReturnFormat::ByContentType => {
            // Divergence from Camunda (docs/camunda.md): compare the media type without its
            // parameters and honour `charset`, so `text/plain; charset=utf-8` is text, not base64.
            let raw = content_type.unwrap_or_default();
            let mut parts = raw.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let charset = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .unwrap_or_else(|| "UTF-8".into());
            match media.as_str() {
                // An unknown charset here is the object's fault, not the input's: fall back to UTF-8.
                "text/plain" => Value::String(
                    decode(&bytes, &charset, "content-type").or_else(|_| decode(&bytes, "UTF-8", "content-type"))?,
                ),
                "application/json" => parse_json(&bytes)?,
                _ => Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            }
        }
        ReturnFormat::Document => {
            return Err(Error::new(
                ErrorCode::ServiceError,
                "document results are returned before reading",
            ))
        }
    };
    Ok(DownloadObjectResult {
        bucket: bucket.to_string(),
        key: key.to_string(),
        element: Element::Content { content },
    })
}
