//! How s3-connector authenticates to a Camunda cluster's REST API: not at all (a local
//! cluster), a fixed bearer token, or OAuth 2.0 client credentials (SaaS and Identity), the
//! same three the Camunda SDKs offer.
//!
//! OAuth tokens are fetched on first use, cached, and fetched again a minute before they
//! expire or as soon as the cluster answers 401 ([`ClusterAuth::invalidate`]).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::Secret;
use crate::error::{Error, ErrorCode, Result};

/// OAuth 2.0 client-credentials settings.
#[derive(Clone)]
pub struct OAuthSettings {
    /// The token endpoint, e.g. `https://login.cloud.camunda.io/oauth/token`.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// The audience the token is for (`zeebe.camunda.io` on SaaS), if the server wants one.
    pub audience: Option<String>,
    /// Scopes, space-separated, if the server wants them.
    pub scope: Option<String>,
}

impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The credentials for a cluster.
pub enum ClusterAuth {
    /// No authentication (a local cluster).
    None,
    /// A fixed bearer token.
    Bearer(Secret),
    /// OAuth client credentials, with the cached token.
    OAuth {
        /// Where and who.
        settings: OAuthSettings,
        /// The current token and when to fetch a new one.
        cached: Mutex<Option<(Secret, Instant)>>,
        /// The HTTP client for the token endpoint.
        client: reqwest::Client,
    },
}

impl std::fmt::Debug for ClusterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterAuth::None => f.write_str("None"),
            ClusterAuth::Bearer(_) => f.write_str("Bearer(***)"),
            ClusterAuth::OAuth { settings, .. } => f.debug_tuple("OAuth").field(settings).finish(),
        }
    }
}

impl ClusterAuth {
    /// OAuth client credentials.
    pub fn oauth(settings: OAuthSettings) -> Result<ClusterAuth> {
        let url = reqwest::Url::parse(&settings.token_url)
            .map_err(|e| Error::invalid_input("oauthUrl", format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid_input("oauthUrl", "must be http or https"));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot build the HTTP client: {e}")))?;
        Ok(ClusterAuth::OAuth {
            settings,
            cached: Mutex::new(None),
            client,
        })
    }

    /// The bearer token to send, fetching or refreshing an OAuth token when needed.
    pub async fn token(&self) -> Result<Option<Secret>> {
        match self {
            ClusterAuth::None => Ok(None),
            ClusterAuth::Bearer(t) => Ok(Some(t.clone())),
            ClusterAuth::OAuth {
                settings,
                cached,
                client,
            } => {
                let mut slot = cached.lock().await;
                if let Some((token, refresh_at)) = slot.as_ref() {
                    if Instant::now() < *refresh_at {
                        return Ok(Some(token.clone()));
                    }
                }
                let (token, lifetime) = fetch(client, settings).await?;
                // Refresh a minute early (or halfway through a short-lived token).
                let early = Duration::from_secs(60).min(lifetime / 2);
                *slot = Some((token.clone(), Instant::now() + lifetime - early));
                Ok(Some(token))
            }
        }
    }

    /// Forgets a cached OAuth token, after the cluster refused it.
    pub async fn invalidate(&self) {
        if let ClusterAuth::OAuth { cached, .. } = self {
            *cached.lock().await = None;
        }
    }
}

async fn fetch(client: &reqwest::Client, s: &OAuthSettings) -> Result<(Secret, Duration)> {
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", s.client_id.clone()),
        ("client_secret", s.client_secret.expose().to_string()),
    ];
    if let Some(a) = &s.audience {
        form.push(("audience", a.clone()));
    }
    if let Some(scope) = &s.scope {
        form.push(("scope", scope.clone()));
    }
    let resp = client.post(&s.token_url).form(&form).send().await.map_err(|e| {
        Error::new(
            ErrorCode::Network,
            format!("cannot reach the OAuth token endpoint: {}", e.without_url()),
        )
    })?;
    let status = resp.status();
    if !status.is_success() {
        let code = match status.as_u16() {
            400 | 401 | 403 => ErrorCode::InvalidCredentials,
            429 | 503 => ErrorCode::Throttled,
            _ => ErrorCode::ServiceError,
        };
        // The body is not shown: some servers echo the request, secret included.
        return Err(Error::new(
            code,
            format!("the OAuth token endpoint answered HTTP {status}; check the client id, secret and audience"),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: Secret,
        expires_in: Option<u64>,
    }
    let answer: Answer = resp.json().await.map_err(|e| {
        Error::new(
            ErrorCode::ServiceError,
            format!(
                "the OAuth token endpoint's answer has no access_token: {}",
                e.without_url()
            ),
        )
    })?;
    // Without expires_in, assume a short life rather than caching forever.
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
    Ok((answer.access_token, lifetime))
}
