//! `s3-connector job`: runs one Camunda job (variables, task headers, retries) and prints how
//! it ends, exactly as a job worker would report it to the engine.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use s3_connector::camunda::job::{run_job, JobConnections, JobEnv, JobRequest};
use s3_connector::camunda::secrets::SecretSource;
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::DocumentStore;
use s3_connector::net::EndpointPolicy;
use s3_connector::{ConnectionSettings, Connector, Error};

/// Reads a JSON file (`-` for stdin) named by the flag `field`.
async fn read_json(field: &str, path: &Path) -> Result<serde_json::Value, Error> {
    let (text, _) = crate::read_requests(Some(path.to_path_buf())).await?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid_input(field, format!("{} is not valid JSON: {e}", path.display())))?;
    if !value.is_object() {
        return Err(Error::invalid_input(
            field,
            format!("{} must hold a JSON object", path.display()),
        ));
    }
    Ok(value)
}

/// Runs the job and prints `{"outcome": ...}` on stdout. A job that fails or throws a BPMN
/// error is still a successful run of this command: the outcome says how the job ended.
///
/// `settings` are the command's own connection settings (flags, environment, config file, or
/// the embedded store): their endpoint is the operator's, so a job may name it; every other
/// endpoint goes through the address guard. Their timeouts and retries apply to the job, and
/// their credentials can never be read as a job's secrets.
pub async fn run(
    settings: &ConnectionSettings,
    variables: &Path,
    headers: Option<&PathBuf>,
    retries: i64,
    store: &dyn DocumentStore,
) -> Result<(), Error> {
    let variables = read_json("variables", variables).await?;
    let headers = match headers {
        Some(path) => read_json("headers", path).await?,
        None => serde_json::json!({}),
    };
    let headers = headers.as_object().cloned().unwrap_or_default();
    let external = ExternalFetch::from_env()?;
    let connections = JobConnections {
        metrics: None,
        endpoints: EndpointPolicy::from_env()?.trusting(settings.endpoint.as_deref()),
        timeouts: settings.timeouts.clone(),
        max_attempts: settings.max_attempts,
        // The job waits for its own clean-up when it ends (and on a signal, below).
        cleanup: None,
    };
    let own = crate::own_secret_values(settings).await;
    let secrets = SecretSource::from_env()?.refusing(own);
    let lookup = move |name: &str| secrets.lookup(name);
    let request = JobRequest {
        variables,
        headers,
        retries,
    };
    request.check()?;
    let conn: Mutex<Option<Connector>> = Mutex::new(None);
    let remember = |c: &Connector| {
        if let Ok(mut slot) = conn.lock() {
            *slot = Some(c.clone());
        }
    };
    let env = JobEnv {
        store,
        external: &external,
        secrets: &lookup,
        connections: &connections,
        connected: Some(&remember),
    };
    let outcome = tokio::select! {
        // The signal first, so that it is waited for before the job's work starts.
        biased;
        stop = crate::stop_signal() => {
            let started = conn.lock().ok().and_then(|c| c.clone());
            crate::exit_after_cleanup(stop, started.as_ref()).await
        }
        outcome = run_job(&request, &env) => outcome,
    };
    let text = serde_json::to_string_pretty(&outcome).map_err(|e| {
        Error::new(
            s3_connector::ErrorCode::ServiceError,
            format!("cannot render the outcome: {e}"),
        )
    })?;
    println!("{text}");
    Ok(())
}
