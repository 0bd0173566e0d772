//! Camunda's document API, served from the configured document store:
//! `POST /v2/documents` (multipart `file` and `metadata`, query `storeId`),
//! `GET /v2/documents/{documentId}` (query `storeId`, `contentHash`) and
//! `DELETE /v2/documents/{documentId}` (query `storeId`).
//!
//! Paths, form parts, query parameters and the JSON reference are those of the Orchestration
//! Cluster API, checked by driving this service with Camunda's own TypeScript SDK
//! (`tests/sdk_documents.rs`). Content streams both ways. When the form sends `file` before
//! `metadata`, the content is spooled to an unnamed temporary file until the metadata is known,
//! because a store records both at once.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use s3_connector::documents::{CamundaReference, DocumentMetadata, DocumentReader};
use serde_json::{json, Value};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::body::{content_type_value, field_pipe};
use crate::error::ApiError;
use crate::AppState;

/// Checks a `storeId` query parameter names this service's store.
fn check_store(state: &AppState, query: &HashMap<String, String>) -> Result<(), ApiError> {
    match query.get("storeId") {
        Some(id) if id != state.documents.store_id() => Err(ApiError::invalid_input(
            "storeId",
            format!(
                "this service holds only store {:?}; leave storeId out or use that",
                state.documents.store_id()
            ),
        )),
        _ => Ok(()),
    }
}

/// A reference as the cluster answers it: every metadata member present, `null` when unknown
/// (the connector's own serialization omits them instead).
pub fn cluster_reference(r: &CamundaReference) -> Value {
    let m = &r.metadata;
    json!({
        "camunda.document.type": "camunda",
        "storeId": r.store_id,
        "documentId": r.document_id,
        "contentHash": r.content_hash,
        "metadata": {
            "contentType": m.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            "fileName": m.file_name.clone().unwrap_or_default(),
            "expiresAt": m.expires_at,
            "size": m.size.unwrap_or_default(),
            "processDefinitionId": m.process_definition_id,
            "processInstanceKey": m.process_instance_key.as_ref().map(|k| match k {
                // The API carries keys as strings; a process may have stored a number.
                Value::Number(n) => Value::String(n.to_string()),
                other => other.clone(),
            }),
            "customProperties": m.custom_properties,
        }
    })
}

/// `POST /v2/documents`.
#[utoipa::path(
    post,
    tag = "documents",
    path = "/v2/documents",
    params(
        ("storeId" = Option<String>, Query, description = "Must be this service's store, or absent"),
        ("documentId" = Option<String>, Query, description = "The id to store the document under (a UUID); one already in use is refused with 412"),
    ),
    request_body(content = crate::body::DocumentForm, content_type = "multipart/form-data", description = "`metadata`: JSON (contentType, fileName, expiresAt, processDefinitionId, processInstanceKey, customProperties); `file`: the content"),
    responses(
        (status = 201, description = "The document reference", body = s3_connector::documents::CamundaReference),
        (status = "4XX", description = "The request was refused", body = crate::error::ProblemBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    check_store(&state, &query)?;
    let mut created = None;
    let outcome = create_document(&state, &query, req, &mut created).await;
    if outcome.is_err() {
        // A form that fails after its document was stored (a second file part, a broken end)
        // must not leave that document behind, with an id nobody was told.
        if let Some(reference) = created.take() {
            if let Err(e) = state.documents.delete(&reference.document_id).await {
                tracing::warn!(document = %reference.document_id, "could not remove the document of a refused form: {}", e.message);
            }
        }
    }
    let reference = outcome?;
    Ok((StatusCode::CREATED, Json(cluster_reference(&reference))).into_response())
}

/// Reads the form and stores its document; `created` holds the document as soon as it exists,
/// so that the caller can remove it if the rest of the form fails.
async fn create_document(
    state: &AppState,
    query: &HashMap<String, String>,
    req: Request,
    created: &mut Option<CamundaReference>,
) -> Result<CamundaReference, ApiError> {
    // A caller may choose the id (a UUID); the store refuses one already in use.
    let chosen = query.get("documentId").cloned();
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| ApiError::invalid_input("body", "must be a multipart/form-data form with a `file` part"))?;
    let mut form = multer::Multipart::new(req.into_body().into_data_stream(), boundary);
    let mut metadata: Option<DocumentMetadata> = None;
    let mut spooled: Option<(tokio::fs::File, DocumentMetadata)> = None;
    let bad_form = |e: multer::Error| ApiError::invalid_input("body", format!("is not a readable multipart form: {e}"));
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("metadata") => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
                    text.extend_from_slice(&chunk);
                    if text.len() > state.limits.max_request_bytes {
                        return Err(ApiError::new(
                            crate::ApiCode::PayloadTooLarge,
                            format!(
                                "the metadata part is larger than {} bytes",
                                state.limits.max_request_bytes
                            ),
                        ));
                    }
                }
                let parsed: DocumentMetadata = serde_json::from_slice(&text)
                    .map_err(|e| ApiError::invalid_input("metadata", format!("is not document metadata: {e}")))?;
                metadata = Some(parsed);
            }
            Some("file") if created.is_some() || spooled.is_some() => {
                return Err(ApiError::invalid_input(
                    "file",
                    "the form holds more than one file; POST /v2/documents takes one",
                ))
            }
            Some("file") => {
                let from_part = DocumentMetadata {
                    file_name: field.file_name().map(str::to_string),
                    content_type: field.content_type().map(|m| m.to_string()),
                    ..Default::default()
                };
                match &metadata {
                    Some(given) => {
                        let meta = merge(given.clone(), from_part);
                        let (reader, pump) = field_pipe(field);
                        let (made, ()) = tokio::join!(store_content(state, chosen.as_deref(), reader, meta), pump);
                        *created = Some(made?);
                    }
                    None => spooled = Some((spool(field).await?, from_part)),
                }
            }
            _ => {} // The cluster ignores parts it does not know; so do we.
        }
    }
    let reference = match (created.clone(), spooled) {
        (Some(r), _) => r,
        (None, Some((mut file, from_part))) => {
            file.rewind().await.map_err(|e| {
                ApiError::from(s3_connector::Error::new(
                    s3_connector::ErrorCode::LocalIo,
                    e.to_string(),
                ))
            })?;
            let meta = merge(metadata.unwrap_or_default(), from_part);
            let reader: DocumentReader = Box::new(file);
            store_content(state, chosen.as_deref(), reader, meta).await?
        }
        (None, None) => {
            return Err(ApiError::invalid_input(
                "file",
                "is required: the form's document content",
            ))
        }
    };
    Ok(reference)
}

/// Stores the content under the chosen id, or a fresh one.
async fn store_content(
    state: &AppState,
    chosen: Option<&str>,
    reader: DocumentReader,
    meta: DocumentMetadata,
) -> s3_connector::Result<CamundaReference> {
    match chosen {
        Some(id) => state.documents.create_with_id(id, reader, meta).await,
        None => state.documents.create(reader, meta).await,
    }
}

/// The form's metadata, with the file part's name and type where the metadata has none.
fn merge(mut given: DocumentMetadata, from_part: DocumentMetadata) -> DocumentMetadata {
    given.file_name = given.file_name.or(from_part.file_name);
    given.content_type = given.content_type.or(from_part.content_type);
    given.size = None;
    given
}

/// Copies a form part into an unnamed temporary file (gone when closed).
async fn spool(mut field: multer::Field<'_>) -> Result<tokio::fs::File, ApiError> {
    let io = |e: std::io::Error| {
        ApiError::from(s3_connector::Error::new(
            s3_connector::ErrorCode::LocalIo,
            format!("cannot spool the upload to a temporary file: {e}"),
        ))
    };
    let file = tempfile::tempfile().map_err(io)?;
    let mut file = tokio::fs::File::from_std(file);
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::invalid_input("file", format!("cannot read the part: {e}")))?
    {
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(file)
}

/// `GET /v2/documents/{documentId}`.
#[utoipa::path(
    get,
    tag = "documents",
    path = "/v2/documents/{documentId}",
    params(
        ("documentId" = String, Path, description = "The document's id"),
        ("storeId" = Option<String>, Query, description = "Must be this service's store, or absent"),
        ("contentHash" = Option<String>, Query, description = "The reference's contentHash; a different one is refused"),
    ),
    responses(
        (status = 200, description = "The content, with its content type", body = crate::body::Binary, content_type = "application/octet-stream"),
        (status = 404, description = "No such document, or it expired", body = crate::error::ProblemBody),
        (status = 412, description = "contentHash does not match", body = crate::error::ProblemBody),
    ),
    security(("bearer" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    Path(document_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_store(&state, &query)?;
    let reference = CamundaReference {
        store_id: state.documents.store_id().to_string(),
        document_id,
        content_hash: query.get("contentHash").cloned(),
        metadata: DocumentMetadata::default(),
    };
    let (metadata, reader) = state.documents.open(&reference).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        content_type_value(metadata.content_type.as_deref()),
    );
    if let Some(size) = metadata.size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    if let Some(name) = &metadata.file_name {
        if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}

/// `attachment` with the file name, ASCII-safe (RFC 6266 `filename*` for the rest).
fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encode(name);
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `DELETE /v2/documents/{documentId}`.
#[utoipa::path(
    delete,
    tag = "documents",
    path = "/v2/documents/{documentId}",
    params(
        ("documentId" = String, Path, description = "The document's id"),
        ("storeId" = Option<String>, Query, description = "Must be this service's store, or absent"),
    ),
    responses(
        (status = 204, description = "Deleted, or there was nothing to delete"),
        (status = "4XX", description = "The request was refused", body = crate::error::ProblemBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(document_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    check_store(&state, &query)?;
    state.documents.delete(&document_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_in_a_header() {
        let d = content_disposition("Rechnung \"März\".pdf");
        assert!(HeaderValue::from_str(&d).is_ok(), "{d}");
        assert!(d.contains("filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22.pdf"), "{d}");
    }
}
