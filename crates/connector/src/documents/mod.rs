//! Documents: Camunda-compatible document references and the stores that hold documents.
//!
//! Processes pass documents between steps as references ([`DocumentReference`]). A
//! `camunda` reference points into a [`DocumentStore`]; `inline` and `external` references
//! carry their content or its URL. Stores share one trait and one conformance suite
//! (`tests/document_stores.rs`).

pub mod camunda_cluster;
pub mod external;
pub mod local;
pub mod memory;
pub mod reference;
pub mod s3;
pub mod store;

pub use camunda_cluster::CamundaClusterStore;
pub use local::LocalStore;
pub use memory::MemoryStore;
pub use reference::{CamundaReference, DocumentMetadata, DocumentReference, ExternalDocument, InlineDocument};
pub use s3::S3Store;
pub use store::{DocumentReader, DocumentStore};

use crate::client::Connector;
use crate::error::{Error, Result};

/// The default document store when none is configured: a local directory beside the data
/// the service keeps.
pub const DEFAULT_STORE: &str = "local:./s3-connector-data/documents";

/// The environment variable holding the bearer token for a `camunda:URL` document store.
pub const CAMUNDA_TOKEN_ENV: &str = "S3_CONNECTOR_CAMUNDA_TOKEN";

/// A store spec as it may be shown: a `camunda:URL` loses any user name and password in
/// its URL; other specs carry no secrets.
pub fn shown_spec(spec: &str) -> String {
    match spec.trim().split_once(':') {
        Some(("camunda", url)) => format!("camunda:{}", external::redact_url_text(url)),
        _ => spec.to_string(),
    }
}

/// Opens the store a spec names: `memory`, `local:DIR`, `s3:BUCKET[/PREFIX]` (the `s3`
/// store uses `conn`), or `camunda:URL` (a Camunda cluster's document API; bearer token from
/// [`CAMUNDA_TOKEN_ENV`]). A bad spec is `InvalidInput` naming `field`.
pub fn open_store(field: &str, spec: &str, conn: Option<&Connector>) -> Result<Box<dyn DocumentStore>> {
    let spec = spec.trim();
    let usage = "use memory, local:DIR, s3:BUCKET/PREFIX or camunda:URL";
    match spec.split_once(':') {
        Some(("camunda", url)) if !url.is_empty() => {
            let token = std::env::var(CAMUNDA_TOKEN_ENV)
                .ok()
                .filter(|t| !t.is_empty())
                .map(crate::config::Secret::new);
            Ok(Box::new(CamundaClusterStore::new(url, None, token)?))
        }
        None if spec == "memory" || spec == "in-memory" => Ok(Box::new(MemoryStore::new())),
        Some(("local", dir)) if !dir.is_empty() => Ok(Box::new(LocalStore::open(dir)?)),
        Some(("s3", rest)) if !rest.is_empty() => {
            let conn =
                conn.ok_or_else(|| Error::invalid_input(field, "the s3 document store needs an S3 connection"))?;
            let (bucket, prefix) = match rest.split_once('/') {
                Some((b, p)) if !p.is_empty() && !p.ends_with('/') => (b, format!("{p}/")),
                Some((b, p)) => (b, p.to_string()),
                None => (rest, String::new()),
            };
            Ok(Box::new(S3Store::new(conn.clone(), bucket, prefix)?))
        }
        _ => Err(Error::invalid_input(
            field,
            format!("{spec:?} is not a document store; {usage}"),
        )),
    }
}
