//! The s3-connector HTTP service: a thin front end over the `s3-connector` library.
//!
//! [`app`] builds the router; [`serve`] runs it on a listener with graceful shutdown. Every
//! request passes one middleware ([`middleware`]) that gives it a request id, checks the bearer
//! token, waits for a concurrency slot, bounds its time, renders its error, counts it and logs
//! it. The routes:
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/actions` | one action, as `s3-connector exec` takes it ([`actions`]) |
//! | `POST /v1/jobs` | one Camunda job, as `s3-connector job` runs it ([`jobs`]) |
//! | `POST /v2/documents`, `GET`/`DELETE /v2/documents/{documentId}` | Camunda's document API ([`documents`]) |
//! | `GET /health`, `/ready`, `/metrics`, `/openapi.json` | probes and descriptions ([`probes`]) |
//!
//! The service keeps no state of its own between requests: objects live in S3 and documents
//! in the configured document store, so any number of replicas can serve the same clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use s3_connector::camunda::job::JobConnections;
use s3_connector::camunda::secrets::SecretSource;
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::DocumentStore;
use s3_connector::net::{AddressGuard, EndpointPolicy};
use s3_connector::{Connector, Secret};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod actions;
pub mod body;
pub mod documents;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod probes;

pub use error::{ApiCode, ApiError};

/// The header that carries a JSON action request when the body is the object's content.
pub const REQUEST_HEADER: &str = "s3-connector-request";
/// The header that carries the JSON result of a `getObject` whose body is the object.
pub const RESULT_HEADER: &str = "s3-connector-result";
/// The header that carries the request id, on the way in (optional) and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Bounds on what one request may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body (action requests, job variables), in bytes.
    pub max_request_bytes: usize,
    /// Largest streamed upload (object content, document content), in bytes.
    pub max_upload_bytes: u64,
    /// How long a request may take until its response starts; uploads count in full.
    pub request_timeout: Duration,
    /// Requests served at once; more wait for a slot.
    pub max_concurrent: usize,
    /// How long in-flight requests may still run after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// Default [`max_request_bytes`](Self::max_request_bytes): 16 MiB.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
    /// Default [`max_upload_bytes`](Self::max_upload_bytes): 5 TiB, S3's own limit on one object.
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;
    /// Default [`request_timeout`](Self::request_timeout): 15 minutes.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    /// Default [`max_concurrent`](Self::max_concurrent).
    pub const DEFAULT_MAX_CONCURRENT: usize = 256;
    /// Default [`shutdown_grace`](Self::shutdown_grace): 30 seconds.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            max_upload_bytes: Self::DEFAULT_MAX_UPLOAD_BYTES,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_concurrent: Self::DEFAULT_MAX_CONCURRENT,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// How the service is configured.
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// The bearer token every request but the probes must carry; `None` serves without one
    /// (loopback only, see [`check_bind`]).
    pub token: Option<Secret>,
    /// Request limits.
    pub limits: Limits,
    /// The allow-list for the endpoints that jobs name (the service's own is always allowed).
    pub guard: AddressGuard,
    /// Where jobs' `{{secrets.NAME}}` come from. The token and the service's S3 credentials are
    /// refused in any case; add other values of the service's own with [`SecretSource::refusing`].
    pub secrets: SecretSource,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("limits", &self.limits)
            .field("guard", &self.guard)
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// The shortest token `serve` accepts: a short one can be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Refuses a token shorter than [`MIN_TOKEN_CHARS`].
pub fn check_token(token: &Secret) -> Result<(), String> {
    let chars = token.expose().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(format!(
            "the token has {chars} characters; use at least {MIN_TOKEN_CHARS} (for example `openssl rand -hex 24`)"
        ));
    }
    Ok(())
}

/// Refuses to serve without a token anywhere but loopback: an open S3 proxy on the network
/// would hand the service's credentials to anyone who can reach it.
pub fn check_bind(addr: &SocketAddr, token_set: bool) -> Result<(), String> {
    if token_set || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr} without a token: set S3_CONNECTOR_TOKEN (or --token-file), or listen on 127.0.0.1"
        ))
    }
}

/// Secret lookup for `{{secrets.NAME}}` in job variables.
pub type SecretLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// What every request shares.
pub struct Shared {
    /// The service's S3 connection, for `/v1/actions` and readiness.
    pub conn: Connector,
    /// Where documents live: `/v2/documents` and jobs' documents.
    pub documents: Arc<dyn DocumentStore>,
    /// Guard and limits for jobs' external documents.
    pub external: ExternalFetch,
    /// How jobs' secrets are resolved.
    pub secrets: Box<SecretLookup>,
    /// How jobs' own S3 connections are made.
    pub jobs: JobConnections,
    /// SHA-256 of the token, so that comparing takes the same time whatever the guess.
    token_digest: Option<[u8; 32]>,
    /// Request limits.
    pub limits: Limits,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// The last readiness checks, for `/ready`.
    pub readiness: probes::Readiness,
    /// Concurrency slots.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// Set when the shutdown grace is over: handlers still running are dropped, which aborts
    /// their uploads while the runtime can still send the aborts.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Handlers running now (the middleware counts them), so that shutdown knows when the
    /// dropped ones are gone.
    pub handlers: Arc<std::sync::atomic::AtomicUsize>,
}

/// The service's state, cheap to clone into every request.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State for a service on `conn` with `documents`; jobs' secrets come from
    /// `config.secrets`, which never yields the token or the connection's own keys.
    pub fn new(
        conn: Connector,
        documents: Arc<dyn DocumentStore>,
        external: ExternalFetch,
        config: ServerConfig,
    ) -> Self {
        let own = config
            .token
            .iter()
            .map(|t| t.expose().to_string())
            .chain(conn.settings().secret_values());
        let source = config.secrets.clone().refusing(own);
        Self::with_secrets(
            conn,
            documents,
            external,
            config,
            Box::new(move |name| source.lookup(name)),
        )
    }

    /// As [`new`](Self::new), with another secret lookup (tests use a map).
    pub fn with_secrets(
        conn: Connector,
        documents: Arc<dyn DocumentStore>,
        external: ExternalFetch,
        config: ServerConfig,
        secrets: Box<SecretLookup>,
    ) -> Self {
        use sha2::Digest;
        let token_digest = config
            .token
            .as_ref()
            .map(|t| sha2::Sha256::digest(t.expose().as_bytes()).into());
        let jobs = JobConnections {
            endpoints: EndpointPolicy::new(config.guard.clone()).trusting(conn.settings().endpoint.as_deref()),
            timeouts: conn.settings().timeouts.clone(),
            max_attempts: conn.settings().max_attempts,
            // Jobs' uploads abort into the service's registry: shutdown waits for them too.
            cleanup: Some(conn.cleanup_tasks()),
            // Jobs' S3 requests count with the service's.
            metrics: Some(conn.metrics().clone()),
        };
        let metrics = metrics::Metrics::new(conn.metrics().clone());
        AppState(Arc::new(Shared {
            jobs,
            conn,
            documents,
            external,
            secrets,
            token_digest,
            permits: Arc::new(tokio::sync::Semaphore::new(config.limits.max_concurrent.max(1))),
            limits: config.limits,
            metrics,
            readiness: Default::default(),
            stopping: tokio::sync::watch::channel(false).0,
            handlers: Arc::default(),
        }))
    }

    /// Whether `presented` is the configured token; true when none is configured.
    pub fn token_matches(&self, presented: Option<&str>) -> bool {
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        match (&self.token_digest, presented) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(expected), Some(given)) => {
                let given: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
                expected.ct_eq(&given).into()
            }
        }
    }
}

/// Every route: the one list that both the router and the OpenAPI description are made of
/// (each handler's `#[utoipa::path]` gives its method, path and description).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::frame())
        .routes(routes!(actions::post_action))
        .routes(routes!(jobs::post_job))
        .routes(routes!(documents::create))
        .routes(routes!(documents::read, documents::remove))
        .routes(routes!(probes::health))
        .routes(routes!(probes::ready))
        .routes(routes!(probes::metrics))
        .routes(routes!(probes::openapi))
}

/// The OpenAPI description of [`routes`], as `/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The router, with every route and the edge layers. Tests call it directly or serve it on a
/// socket.
pub fn app(state: AppState) -> Router {
    let (router, doc) = routes().split_for_parts();
    let upload_limit = usize::try_from(state.limits.max_upload_bytes).unwrap_or(usize::MAX);
    // Outermost first: a request passes them top to bottom, its answer bottom to top.
    let edge = ServiceBuilder::new()
        // A caller's x-request-id is kept only when it is a short token (it goes into logs),
        .layer(axum::middleware::map_request(middleware::forget_unusable_request_id))
        // else every request gets a fresh one, and every answer carries it back.
        .layer(SetRequestIdLayer::x_request_id(middleware::MakeRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        // One log line per request, with its id, route, status and time. Failures are logged
        // with their details by our middleware, which knows them.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), route = %middleware::route_of(req))
                })
                .on_request(())
                .on_failure(())
                .on_response(|res: &axum::http::Response<_>, latency: Duration, _: &tracing::Span| {
                    tracing::info!(status = res.status().as_u16(), millis = latency.as_millis() as u64, "request");
                }),
        )
        // Ours: the token, the concurrency slot (held until the body is sent), the time limit,
        // the error body and the metrics. Inside the id, so that errors name it.
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::around_request))
        // The upload limit, inside ours so that its refusal gets our error body: a declared
        // Content-Length over it is refused before the handler runs, a body that grows past
        // it is cut off.
        .layer(RequestBodyLimitLayer::new(upload_limit));
    router
        .fallback(middleware::not_found)
        .layer(Extension(Arc::new(doc)))
        // Bodies are streamed and bounded by the layers above, not by axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .layer(edge)
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then stops accepting and
/// gives in-flight requests up to the state's shutdown grace to finish. Requests still
/// running after that are stopped (their handlers dropped, which aborts their multipart
/// uploads, jobs' included), and the aborts are given their budget to reach the store before
/// this returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let grace = state.limits.shutdown_grace;
    let conn = state.conn.clone();
    let shared = state.0.clone();
    // Small requests stall about 40 ms on delayed ACKs without TCP_NODELAY.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    // Boxed so that it can be dropped (cutting the remaining connections) after the grace.
    let mut server = Box::pin(std::future::IntoFuture::into_future(server));
    tokio::select! {
        result = &mut server => return result,
        _ = shutdown => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new requests; waiting for those in flight"
    );
    let _ = stop_tx.send(true);
    let result = match tokio::time::timeout(grace, &mut server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("shutdown grace over: stopping the requests still in flight");
            // Each connection runs in a task of its own, which dropping `server` would not end:
            // the middleware drops its handler when told, here.
            // send_replace: `send` stores nothing while no handler is subscribed, and one that
            // gets its slot later must still see that the service is stopping.
            shared.stopping.send_replace(true);
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            while shared.handlers.load(std::sync::atomic::Ordering::SeqCst) > 0 && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        }
    };
    drop(server);
    // All of it: the service's own connection and those made for jobs share the registry.
    let late = conn.cleanup_tasks().finish(s3_connector::transfer::CLEANUP_WAIT).await;
    if late > 0 {
        tracing::warn!(late, "some multipart uploads could not be aborted in time");
    }
    result
}
