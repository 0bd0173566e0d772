//! Request and response bodies as the handlers need them: JSON read whole within a limit,
//! streams handed to the core as readers (a form part included), and the header values a
//! streamed answer carries. Shared by the action, job and document routes.

use axum::body::Body;
use axum::http::HeaderValue;
use futures::StreamExt;
use tokio::io::AsyncRead;

use crate::error::{ApiCode, ApiError};

/// Bytes of any type, as OpenAPI describes a streamed body: an object's or a document's
/// content (`type: string, format: binary`, which generated clients take as a file or bytes).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(#[allow(dead_code)] Vec<u8>);

/// `POST /v1/actions` as a multipart form: the request first, then the content it uploads.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ActionForm {
    /// The action request as JSON, e.g. `{"action": "putObject", "bucket": "b", "key": "k"}`.
    #[schema(value_type = String)]
    request: s3_connector::Action,
    /// The content of a `putObject`, streamed to the store as it arrives.
    #[schema(value_type = Option<String>, format = Binary)]
    content: Option<Vec<u8>>,
}

/// `POST /v2/documents` as Camunda's clients send it: the metadata, then the file.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DocumentForm {
    /// The document's metadata as JSON: contentType, fileName, expiresAt,
    /// processDefinitionId, processInstanceKey, customProperties.
    #[schema(value_type = Option<String>)]
    metadata: Option<s3_connector::documents::DocumentMetadata>,
    /// The content.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A stream of body bytes the core can read.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// Reads a whole JSON body, refusing one larger than `limit`.
pub async fn read_json_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut text = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid_input("body", format!("cannot read the request body: {e}")))?;
        if text.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ApiCode::PayloadTooLarge,
                format!("the JSON body is larger than this service's limit of {limit} bytes"),
            ));
        }
        text.extend_from_slice(&chunk);
    }
    Ok(text.freeze())
}

/// The body as a reader; a broken connection becomes a read error, which aborts an upload.
pub fn body_reader(body: Body) -> impl AsyncRead + Send + Unpin + 'static {
    tokio_util::io::StreamReader::new(body.into_data_stream().map(|c| c.map_err(std::io::Error::other)))
}

/// A form part as a `'static` reader. The part borrows the form, so it cannot be handed to
/// the core as it is: the returned future pumps it through a small channel (bounded, so
/// memory stays flat) and must be polled alongside whatever reads the reader.
pub fn field_pipe<'a>(mut field: multer::Field<'a>) -> (Reader, impl std::future::Future<Output = ()> + 'a) {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let reader: Reader = Box::new(tokio_util::io::StreamReader::new(receiver_stream(rx)));
    let pump = async move {
        loop {
            let item = match field.chunk().await {
                Ok(Some(c)) => Ok(c),
                Ok(None) => break,
                // A malformed or cut-off form is the client's doing: say so with our error, which
                // the upload keeps (as InvalidInput) instead of calling it a local I/O failure.
                Err(e) => Err(std::io::Error::other(s3_connector::Error::invalid_input(
                    "body",
                    format!("the multipart form could not be read to its end: {e}"),
                ))),
            };
            let failed = item.is_err();
            // A closed channel means the reader gave up (the action failed): stop reading.
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    (reader, pump)
}

/// A receiver as a stream, without pulling in tokio-stream for one adapter.
fn receiver_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + Unpin + 'static {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// A stored content type as a header value; `application/octet-stream` when there is none or
/// it cannot be a header.
pub fn content_type_value(stored: Option<&str>) -> HeaderValue {
    stored
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// JSON text with every non-ASCII character escaped, so that it fits in a header.
pub fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_json_round_trips() {
        let text = serde_json::json!({"key": "Grüße/😀.txt"}).to_string();
        let escaped = ascii_json(&text);
        assert!(escaped.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("valid JSON");
        assert_eq!(back["key"], "Grüße/😀.txt");
    }
}
