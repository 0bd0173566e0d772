//! One client of a Camunda 8 cluster's REST API (`/v2/...`), shared by the job worker and the
//! `camunda` document store: the URL check, the bearer token ([`ClusterAuth`]: none, fixed or
//! OAuth), one [`call`](ClusterClient::call) that fetches a fresh token when the cluster refuses
//! the cached one, and the mapping of the cluster's statuses to our error codes.
//!
//! Below both of its users, so that neither reaches up into the other.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

pub mod auth;

pub use auth::{ClusterAuth, OAuthSettings};

/// How long opening a connection to the cluster may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one cluster. Cheap to clone; clones share the connection pool and the token.
#[derive(Clone)]
pub struct ClusterClient {
    /// The cluster's address without a trailing `/` or `/v2`.
    base: String,
    auth: Arc<ClusterAuth>,
    http: reqwest::Client,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            // Scheme, host and port only: a URL may carry credentials.
            .field(
                "base",
                &reqwest::Url::parse(&self.base)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_default(),
            )
            .field("auth", &self.auth)
            .finish()
    }
}

impl ClusterClient {
    /// A client of the cluster at `url` (e.g. `http://localhost:8080`, with or without `/v2`),
    /// authenticating as `auth` says. `field` names the setting in errors (`cluster`,
    /// `documents`). `read_timeout` bounds the wait for each chunk of an answer; callers with
    /// long polls leave it out and time each call instead.
    pub fn new(url: &str, field: &str, auth: Arc<ClusterAuth>, read_timeout: Option<Duration>) -> Result<Self> {
        let parsed = reqwest::Url::parse(url)
            // Not echoed: a URL may carry credentials.
            .map_err(|e| Error::invalid_input(field, format!("the cluster address is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid_input(field, "the cluster address must be http or https"));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if let Some(t) = read_timeout {
            builder = builder.read_timeout(t);
        }
        let http = builder
            .build()
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot build the HTTP client: {e}")))?;
        Ok(ClusterClient {
            base: url.trim_end_matches('/').trim_end_matches("/v2").to_string(),
            auth,
            http,
        })
    }

    /// The URL of `path` under `/v2`, e.g. `/jobs/activation`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2{path}", self.base)
    }

    /// The credentials, for another client of the same cluster to share the token.
    pub fn auth(&self) -> &Arc<ClusterAuth> {
        &self.auth
    }

    async fn authorized(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        Ok(match self.auth.token().await? {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        })
    }

    /// Sends the request `build` makes with the bearer token. An answer of 401 drops the token
    /// and sends the request again (built anew) with a fresh one; refused again, it is
    /// `InvalidCredentials`. `what` (e.g. `POST /v2/jobs/activation`) names the call in errors.
    pub async fn call(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let req = self.authorized(build(&self.http)).await?;
            let resp = req.send().await.map_err(|e| send_error(what, e))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
                self.auth.invalidate().await;
                if attempt == 0 {
                    continue;
                }
                return Err(Error::new(
                    ErrorCode::InvalidCredentials,
                    format!("{what}: the cluster refused the credentials"),
                ));
            }
            return Ok(resp);
        }
        Err(Error::new(
            ErrorCode::InvalidCredentials,
            format!("{what}: the cluster refused the credentials"),
        ))
    }

    /// As [`call`](Self::call), for a request whose body can be sent only once (a stream): a 401
    /// drops the token, so that the next call fetches a fresh one, and is `InvalidCredentials`.
    pub async fn call_once(&self, what: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = self
            .authorized(req)
            .await?
            .send()
            .await
            .map_err(|e| send_error(what, e))?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.auth.invalidate().await;
        }
        Ok(resp)
    }

    /// A request for `url` on this client's connection pool, for [`call_once`](Self::call_once).
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }
}

/// The error for an unsuccessful answer, its code from the status, with the start of the
/// cluster's message.
pub async fn status_error(what: &str, resp: reqwest::Response) -> Error {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let detail: String = body.chars().take(500).collect();
    let code = ErrorCode::from_cluster_status(status.as_u16());
    Error::new(code, format!("{what}: the cluster answered HTTP {status}: {detail}"))
}

/// The error for a request that got no answer.
pub fn send_error(what: &str, e: reqwest::Error) -> Error {
    // reqwest's text names the URL, which may carry credentials; `what` already says which call.
    let e = e.without_url();
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else {
        ErrorCode::Network
    };
    Error::new(code, format!("{what}: cannot reach the cluster: {e}"))
}
