//! Our own middleware, inside tower-http's request id and log line and outside its body limit
//! (see [`crate::app`] for the whole order): bearer token (compared in constant time),
//! concurrency slot, time limit, then (on the way out) the error body and metrics. The slot is
//! held until the response body has been sent. Probes (`/health`, `/ready`, `/openapi.json`)
//! skip the token and the concurrency slot so that a busy or locked-down service can still be
//! checked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::error::{ApiCode, ApiError};
use crate::{AppState, REQUEST_ID_HEADER};

/// Routes served without a token or a concurrency slot.
const PUBLIC: [&str; 3] = ["/health", "/ready", "/openapi.json"];

/// The fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::new(ApiCode::NotFound, "no such endpoint; see GET /openapi.json for the API")
}

/// Drops a caller's request id unless it is a short token, so that tower-http's
/// `SetRequestId` makes a fresh one: the id goes into every log line and error body.
pub async fn forget_unusable_request_id(mut req: Request) -> Request {
    let usable = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if !usable {
        req.headers_mut().remove(REQUEST_ID_HEADER);
    }
    req
}

/// Fresh request ids: 32 hex digits.
#[derive(Clone, Copy, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string())
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// The request's id, as tower-http's `SetRequestId` set it.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// The method as a metrics label: the standard ones by name, any other as `other`, so that
/// clients cannot grow the label set without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The body length the request declares (`Content-Length`), if it declares one.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The route a request matched, for logs and metrics (`unmatched` for none).
pub fn route_of<B>(req: &axum::http::Request<B>) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into())
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The middleware itself.
pub async fn around_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let route = route_of(&req);
    let method = method_label(req.method());
    let public = PUBLIC.contains(&route.as_str());
    state.metrics.in_flight(1);

    let mut permit = None;
    let response = if !public && !state.token_matches(bearer(&req)) {
        let mut r = ApiError::new(
            ApiCode::Unauthorized,
            "send the service's token as `Authorization: Bearer TOKEN`",
        )
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    } else if declared_length(&req).is_some_and(|n| n > state.limits.max_upload_bytes) {
        // Refused before waiting for a slot: a body that cannot be taken must not queue behind
        // running transfers (or hold a slot) only to be refused then.
        too_large(state.limits.max_upload_bytes).into_response()
    } else {
        // Counted from here, waiting for a slot included, so that shutdown waits for it.
        let mut stopping = state.stopping.subscribe();
        let _running = Running::new(&state.handlers);
        if !public {
            // Waiting (rather than refusing) smooths bursts; the time limit bounds the wait.
            permit = tokio::select! {
                p = tokio::time::timeout(state.limits.request_timeout, state.permits.clone().acquire_owned()) => {
                    p.ok().and_then(Result::ok)
                }
                // Shutting down: the handler below stops at once.
                _ = stopping.wait_for(|stop| *stop) => None,
            };
        }
        // Set when the body goes past the upload limit: whatever error the handler made of
        // the cut-off body, the cause was its size.
        let cut = Arc::new(AtomicBool::new(false));
        // Set when the client broke the body off: whatever error the handler made of it (a
        // failed upload, an unreadable form), the cause was the client's.
        let broken = Arc::new(AtomicBool::new(false));
        let req = count_and_limit_body(req, &state, &cut, &broken);
        let handled = tokio::select! {
            biased;
            // Shutdown's grace is over: dropping the handler here aborts its upload.
            _ = stopping.wait_for(|stop| *stop) => None,
            r = tokio::time::timeout(state.limits.request_timeout, next.run(req)) => Some(r),
        };
        let mut response = match handled {
            Some(Ok(r)) => r,
            Some(Err(_)) => ApiError::from(s3_connector::Error::new(
                s3_connector::ErrorCode::Timeout,
                format!(
                    "the request took longer than {} s; raise --request-timeout for large transfers",
                    state.limits.request_timeout.as_secs()
                ),
            ))
            .into_response(),
            None => ApiError::from(s3_connector::Error::new(
                s3_connector::ErrorCode::Throttled,
                "the service is shutting down and stopped this request; send it again (to another copy)",
            ))
            .into_response(),
        };
        if cut.load(Ordering::SeqCst) {
            response = too_large(state.limits.max_upload_bytes).into_response();
        } else if broken.load(Ordering::SeqCst) && !response.status().is_success() {
            tracing::warn!(request_id = %id, route = %route, "the client broke off the request body; nothing was kept");
            response = ApiError::new(
                ApiCode::IncompleteBody,
                "the request body ended before it was complete (the connection was cut, or the chunked or multipart framing is broken); nothing was kept: send it again",
            )
            .into_response();
        }
        response
    };
    let response = render_error(response, &state, &id, &route);
    state
        .metrics
        .request(&route, method, response.status().as_u16(), started.elapsed());
    finish_body(response, state, permit)
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ApiCode::PayloadTooLarge,
        format!("the body is larger than this service's limit of {limit} bytes"),
    )
}

/// Counts request body bytes, notes a body that goes past the upload limit (tower-http's
/// `RequestBodyLimit`, inside this middleware, cuts it off), and notes a body the client broke
/// off.
fn count_and_limit_body(req: Request, state: &AppState, cut: &Arc<AtomicBool>, broken: &Arc<AtomicBool>) -> Request {
    let (parts, body) = req.into_parts();
    let limit = state.limits.max_upload_bytes;
    let state = state.clone();
    let cut = cut.clone();
    let broken = broken.clone();
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| {
            broken.store(true, Ordering::SeqCst);
            std::io::Error::other(e)
        })?;
        seen += chunk.len() as u64;
        state.metrics.add_bytes_in(chunk.len() as u64);
        if seen > limit {
            cut.store(true, Ordering::SeqCst);
        }
        Ok::<_, std::io::Error>(chunk)
    });
    Request::from_parts(parts, Body::from_stream(stream))
}

/// Turns an [`ApiError`] extension into the JSON body: `{"error": {code, message, requestId}}`,
/// and for Camunda's `/v2` routes also the RFC 9457 problem members its clients read.
fn render_error(response: Response, state: &AppState, id: &str, route: &str) -> Response {
    let status = response.status();
    let error = match response.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        // Responses axum made itself (a wrong method) get the same shape as ours.
        None if status == StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(ApiCode::MethodNotAllowed, "this endpoint does not take that method")
        }
        // tower-http's body limit refusing a declared Content-Length.
        None if status == StatusCode::PAYLOAD_TOO_LARGE => too_large(state.limits.max_upload_bytes),
        None => return response,
    };
    state.metrics.error(error.code.as_str());
    if error.code.status().is_server_error() {
        tracing::error!(request_id = %id, code = error.code.as_str(), message = %error.message, "request failed");
    }
    let (body, content_type) = if route.starts_with("/v2/") {
        (
            serde_json::to_string(&error.problem(id, route)),
            "application/problem+json",
        )
    } else {
        (serde_json::to_string(&error.body(id)), "application/json")
    };
    let mut rendered = (error.code.status(), body.unwrap_or_default()).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    rendered
}

/// Counts response bytes, and holds the concurrency slot and the in-flight count until the
/// body has been sent: a download is in flight until its last byte.
fn finish_body(response: Response, state: AppState, permit: Option<tokio::sync::OwnedSemaphorePermit>) -> Response {
    let (parts, body) = response.into_parts();
    let body = Body::new(Tracked {
        inner: body,
        done: Done { state, _permit: permit },
    });
    Response::from_parts(parts, body)
}

/// Counts a running handler for as long as it lives (dropped with it).
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Running(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Released with the response body: the slot and the in-flight count.
struct Done {
    state: AppState,
    // Released when the body is done with, together with the in-flight count.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.state.metrics.in_flight(-1);
    }
}

/// A response body that counts its bytes and keeps its exact size hint, so that hyper still
/// sends a `Content-Length` (not chunked encoding) for bodies of known size.
struct Tracked {
    inner: Body,
    done: Done,
}

impl axum::body::HttpBody for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.done.state.metrics.add_bytes_out(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
