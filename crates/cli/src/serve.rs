//! `s3-connector serve`: builds the HTTP service's state from the command line and runs it
//! until Ctrl-C or SIGTERM. All request handling lives in the `s3-connector-server` crate.

use std::sync::Arc;
use std::time::Duration;

use s3_connector::documents::external::ExternalFetch;
use s3_connector::{Connector, Error, ErrorCode, Secret};
use s3_connector_server::{AppState, Limits, ServerConfig};

use crate::args::{Global, ServeArgs};

/// Parts in flight per transfer in the service, unless configured.
pub const SERVICE_CONCURRENCY: usize = 4;

/// The token from `--token`/`S3_CONNECTOR_TOKEN` or `--token-file`; a blank one is refused.
pub fn token(inline: Option<&Secret>, file: Option<&std::path::Path>) -> Result<Option<Secret>, Error> {
    let text = match (inline, file) {
        (Some(t), _) => Some(t.expose().to_string()),
        (None, Some(path)) => {
            Some(std::fs::read_to_string(path).map_err(|e| Error::local_io("read the token file", path, &e))?)
        }
        (None, None) => None,
    };
    match text.map(|t| t.trim().to_string()) {
        Some(t) if t.is_empty() => Err(Error::invalid_input("token", "is empty; set a token or leave it out")),
        Some(t) => {
            let token = Secret::new(t);
            s3_connector_server::check_token(&token).map_err(|m| Error::invalid_input("token", m))?;
            Ok(Some(token))
        }
        None => Ok(None),
    }
}

/// Whether the user said anything about which S3 to use; if not, `serve` starts the
/// embedded store rather than reaching for AWS with whatever credentials happen to be around.
pub fn connection_configured(g: &Global) -> bool {
    let env = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    g.endpoint.is_some()
        || g.profile.is_some()
        || g.access_key_id.is_some()
        || g.config.is_some()
        || g.embedded.is_some()
        || s3_connector::ConnectionSettings::default_file().is_some_and(|p| p.is_file())
        || [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
        ]
        .iter()
        .any(|n| env(n))
}

/// Resolves when the process is asked to stop: Ctrl-C, SIGTERM (an orchestrator) or SIGHUP.
pub async fn stop_signal() {
    let stop = crate::stop_signal().await;
    tracing::info!(signal = ?stop, "asked to stop");
}

/// Runs the service.
pub async fn run(g: &Global, args: &ServeArgs) -> Result<(), Error> {
    let token = token(args.token.as_ref(), args.token_file.as_deref())?;
    s3_connector_server::check_bind(&args.listen, token.is_some()).map_err(|m| Error::invalid_input("listen", m))?;
    let embedded = match connection_configured(g) {
        true => None,
        false => Some(args.data.join("s3")),
    };
    // Kept alive while serving; dropping it stops the embedded store.
    let (mut settings, _store) = crate::settings(g, embedded).await?;
    if settings.transfer.is_none() {
        // A service runs many transfers at once: 4 parts in flight per transfer (not the CLI's
        // 8) keeps a 1 GiB upload, embedded store included, under 128 MiB.
        settings.transfer = Some(s3_connector::TransferSettings {
            concurrency: SERVICE_CONCURRENCY,
            ..Default::default()
        });
    }
    let conn = Connector::connect(settings).await?;
    let spec = g
        .documents
        .clone()
        .unwrap_or_else(|| format!("local:{}", args.data.join("documents").display()));
    let documents = s3_connector::documents::open_store("documents", &spec, Some(&conn))?;
    eprintln!(
        "documents: {} (store id {:?})",
        s3_connector::documents::shown_spec(&spec),
        documents.store_id()
    );
    let own = crate::own_secret_values(conn.settings()).await;
    let config = ServerConfig {
        guard: s3_connector::net::AddressGuard::from_env()?,
        secrets: s3_connector::camunda::secrets::SecretSource::from_env()?.refusing(own),
        token,
        limits: Limits {
            max_request_bytes: usize::try_from(args.max_request_bytes).unwrap_or(usize::MAX),
            max_upload_bytes: args.max_upload_bytes,
            request_timeout: args.request_timeout.max(Duration::from_secs(1)),
            max_concurrent: args.max_concurrent.max(1),
            shutdown_grace: args.shutdown_grace,
        },
    };
    let protected = config.token.is_some();
    let state = AppState::new(conn, Arc::from(documents), ExternalFetch::from_env()?, config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().unwrap_or(args.listen);
    if protected {
        eprintln!("serving on http://{addr} (requests need the bearer token); Ctrl-C stops");
    } else {
        eprintln!("serving on http://{addr} with no token: loopback only, set S3_CONNECTOR_TOKEN to require one; Ctrl-C stops");
    }
    let _stops_are_ours = crate::Waiting::new();
    s3_connector_server::serve(listener, state, stop_signal())
        .await
        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("the service stopped: {e}")))?;
    eprintln!("stopped");
    Ok(())
}
