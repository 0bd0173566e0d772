//! `POST /v1/actions`: one action, the same JSON request `s3-connector exec` takes, the same
//! JSON result.
//!
//! Three ways to send a request:
//! - a JSON body: the request itself (`putObject` then takes its bytes from `content`);
//! - any body with the JSON request in the `S3-Connector-Request` header: the body is the
//!   object's content for `putObject`, streamed to S3 as it arrives;
//! - a `multipart/form-data` body: a `request` part (the JSON), then a `content` part.
//!
//! `getObject` answers with the object's bytes as the body (its content type, its length)
//! and the JSON result in the `S3-Connector-Result` header. Neither direction is ever held
//! whole in memory.
//!
//! The `file` field of `getObject` and `putObject` is refused: it names a path on the
//! service's machine, which no caller of an HTTP API should be able to read or write.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use s3_connector::{Action, ActionResult, Error, Streams};

use crate::body::{ascii_json, body_reader, content_type_value, field_pipe, read_json_body, Reader};
use crate::error::{ApiCode, ApiError};
use crate::{AppState, REQUEST_HEADER, RESULT_HEADER};

/// `POST /v1/actions`: runs one action, as `s3-connector exec` does.
#[utoipa::path(
    post,
    tag = "actions",
    path = "/v1/actions",
    params(
        ("S3-Connector-Request" = Option<String>, Header, description = "The JSON action request, when the body is the content of a putObject (any content type; its Content-Type becomes the object's unless it is application/octet-stream). Escape non-ASCII characters as \\uXXXX."),
    ),
    request_body(
        description = "An action request, as `s3-connector exec` takes it. For a streamed putObject: the content as the body with the request in the `S3-Connector-Request` header, or a multipart form (`request`, then `content`).",
        content(
            (s3_connector::Action = "application/json"),
            (crate::body::Binary = "application/octet-stream"),
            (crate::body::ActionForm = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "The action's result. For getObject: the object's bytes, its type and length, with the JSON result in the `S3-Connector-Result` header.",
            content(
                (s3_connector::ActionResult = "application/json"),
                (crate::body::Binary = "application/octet-stream"),
            ),
            headers(
                ("S3-Connector-Result" = String, description = "getObject: the JSON result (non-ASCII escaped as \\uXXXX)"),
                ("ETag" = String, description = "getObject: the object's ETag"),
            ),
        ),
        (status = "4XX", description = "The request was refused", body = crate::error::ErrorBody),
        (status = "5XX", description = "The store or the service failed", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn post_action(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let headers = req.headers().clone();
    if let Some(text) = headers.get(REQUEST_HEADER) {
        let text = text.to_str().map_err(|_| {
            ApiError::invalid_input(REQUEST_HEADER, "must be ASCII JSON; escape other characters as \\uXXXX")
        })?;
        let action = parse_action(text.as_bytes())?;
        let body: Reader = Box::new(body_reader(req.into_body()));
        return run(&state, action, Some((body, upload_content_type(&headers)))).await;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        return form(&state, &headers, req).await;
    }
    // curl -d sends JSON as a form or as text; reading it as JSON is what its user meant.
    let json_like = ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        .iter()
        .any(|t| content_type.starts_with(t))
        || content_type.ends_with("+json");
    if !json_like {
        return Err(ApiError::new(
            ApiCode::UnsupportedMediaType,
            format!(
                "a {content_type} body needs the JSON request in the {REQUEST_HEADER} header; send JSON, or a multipart form with `request` and `content`"
            ),
        ));
    }
    let bytes = read_json_body(req.into_body(), state.limits.max_request_bytes).await?;
    run(&state, parse_action(&bytes)?, None).await
}

fn parse_action(bytes: &[u8]) -> Result<Action, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_input("request", format!("is not valid JSON: {e}")))?;
    Ok(Action::from_json(value)?)
}

/// The content type an upload declares, unless it is one that says nothing about the content
/// (curl's default form type, or bare octet-stream); then the key's extension decides.
fn upload_content_type(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?.trim();
    let base = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match base.as_str() {
        "" | "application/x-www-form-urlencoded" | "application/octet-stream" => None,
        _ => Some(ct.to_string()),
    }
}

/// A multipart form: `request` (the JSON) first, then an optional `content` part, streamed.
async fn form(state: &AppState, headers: &HeaderMap, req: Request) -> Result<Response, ApiError> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| ApiError::invalid_input("body", "the multipart form has no boundary"))?;
    let mut form = multer::Multipart::new(req.into_body().into_data_stream(), boundary);
    let first = form
        .next_field()
        .await
        .map_err(|e| ApiError::invalid_input("body", format!("is not a readable multipart form: {e}")))?
        .ok_or_else(|| ApiError::invalid_input("request", "is required as the form's first part"))?;
    if first.name() != Some("request") {
        return Err(ApiError::invalid_input(
            "request",
            "must be the form's first part, before `content`",
        ));
    }
    let limit = state.limits.max_request_bytes;
    let mut text = Vec::new();
    let mut first = first;
    while let Some(chunk) = first
        .chunk()
        .await
        .map_err(|e| ApiError::invalid_input("request", format!("cannot read the part: {e}")))?
    {
        if text.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ApiCode::PayloadTooLarge,
                format!("the request part is larger than {limit} bytes"),
            ));
        }
        text.extend_from_slice(&chunk);
    }
    drop(first);
    let action = parse_action(&text)?;
    let content = form
        .next_field()
        .await
        .map_err(|e| ApiError::invalid_input("content", format!("cannot read the part: {e}")))?;
    let Some(content) = content else {
        return run(state, action, None).await;
    };
    if content.name() != Some("content") {
        return Err(ApiError::invalid_input(
            "content",
            format!(
                "unexpected form part {:?}; the form holds `request` and `content`",
                content.name().unwrap_or("")
            ),
        ));
    }
    let content_type = content
        .content_type()
        .map(|m| m.to_string())
        .filter(|m| m != "application/octet-stream");
    let (reader, pump) = field_pipe(content);
    let (response, ()) = tokio::join!(run(state, action, Some((reader, content_type))), pump);
    response
}

/// Runs the action, streaming `body` into a `putObject`.
async fn run(state: &AppState, action: Action, body: Option<(Reader, Option<String>)>) -> Result<Response, ApiError> {
    let name = action.name();
    let outcome = run_inner(state, action, body).await;
    state.metrics.action(
        name,
        match &outcome {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        },
    );
    outcome
}

async fn run_inner(
    state: &AppState,
    action: Action,
    body: Option<(Reader, Option<String>)>,
) -> Result<Response, ApiError> {
    const NO_FILES: &str = "is not available over HTTP: it names a path on the service's machine";
    match action {
        Action::GetObject(r) => {
            if r.file.is_some() {
                return Err(ApiError::invalid_input(
                    "file",
                    format!("{NO_FILES}; the object comes back as the response body"),
                ));
            }
            let (result, opened) = r.open(&state.conn).await?;
            object_response(result, opened.body)
        }
        Action::PutObject(mut r) => {
            if r.file.is_some() {
                return Err(ApiError::invalid_input(
                    "file",
                    format!("{NO_FILES}; send the content as the body with the request in the {REQUEST_HEADER} header"),
                ));
            }
            let mut streams = Streams::default();
            match body {
                Some(_) if r.content.is_some() => {
                    return Err(ApiError::invalid_input(
                        "content",
                        "give the content either as `content` or as the body, not both",
                    ))
                }
                Some((reader, declared)) => {
                    if r.content_type.is_none() {
                        r.content_type = declared;
                    }
                    streams.input = Some(reader);
                }
                None if r.content.is_none() => {
                    return Err(ApiError::invalid_input(
                        "content",
                        format!("is required in a JSON body; to stream bytes, send them as the body with the request in the {REQUEST_HEADER} header"),
                    ))
                }
                None => {}
            }
            let result = Action::PutObject(r).execute(&state.conn, streams).await?;
            Ok(Json(result).into_response())
        }
        other => {
            if body.is_some() {
                return Err(ApiError::invalid_input(
                    "content",
                    format!("{} takes no content; send only the JSON request", other.name()),
                ));
            }
            let result: ActionResult = other.execute(&state.conn, Streams::default()).await?;
            Ok(Json(result).into_response())
        }
    }
}

/// A `getObject` answer: the bytes, their type and length, and the result as a header.
fn object_response(
    result: s3_connector::actions::GetObjectResult,
    body: s3_connector::transfer::ObjectStream,
) -> Result<Response, ApiError> {
    let text = serde_json::to_string(&result).map_err(|e| {
        Error::new(
            s3_connector::ErrorCode::ServiceError,
            format!("cannot encode the result: {e}"),
        )
    })?;
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type_value(result.content_type.as_deref()));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(result.size));
    if let Some(etag) = result
        .etag
        .as_deref()
        .and_then(|e| HeaderValue::from_str(&format!("\"{e}\"")).ok())
    {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(v) = HeaderValue::from_str(&ascii_json(&text)) {
        headers.insert(RESULT_HEADER, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uninformative_upload_types_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert_eq!(upload_content_type(&h), None);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        assert_eq!(upload_content_type(&h).as_deref(), Some("image/png"));
    }
}
