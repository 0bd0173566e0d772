//! `s3-connector job`: runs one Camunda job (variables, task headers, retries) and prints how
//! it ends, exactly as a job worker would report it to the engine.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use s3_connector::camunda::job::{run_job, JobEnv, JobRequest};
use s3_connector::camunda::secrets;
use s3_connector::documents::external::ExternalFetch;
use s3_connector::documents::DocumentStore;
use s3_connector::{Connector, Error};

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
pub async fn run(
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
        secrets: &secrets::from_env,
        connected: Some(&remember),
    };
    let outcome = tokio::select! {
        outcome = run_job(&request, &env) => outcome,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: cleaning up (aborting unfinished uploads)...");
            let started = conn.lock().ok().and_then(|c| c.clone());
            if let Some(c) = started {
                c.finish_cleanup(crate::CLEANUP_GRACE).await;
            }
            std::process::exit(130);
        }
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
