//! Camunda 8 compatibility: the job variables and results of Camunda's own AWS S3 connector
//! (`io.camunda:aws-s3:1`), bound to our core.
//!
//! [`input`] binds the variables of every element template version to a connection and one
//! of the three operations, with Camunda's validation messages. Each operation is one file
//! and returns exactly the contract's result shape (nulls written, not omitted).

pub mod delete_object;
pub mod download_object;
#[cfg(feature = "openapi")]
pub mod element_template;
pub mod feel;
pub mod input;
pub mod job;
pub mod secrets;
pub mod upload_object;

pub use input::{is_job_action, job_actions, CamundaInput, CamundaOperation, ReturnFormat};

use crate::client::Connector;
use crate::documents::external::ExternalFetch;
use crate::documents::DocumentStore;
use crate::error::{Error, ErrorCode, Result};

impl CamundaOperation {
    /// Runs the operation; `store` holds documents read for uploads and written for
    /// document downloads, `external` guards and bounds fetches of external documents.
    /// Returns the result as Camunda's connector shapes it.
    pub async fn execute(
        &self,
        conn: &Connector,
        store: &dyn DocumentStore,
        external: &ExternalFetch,
    ) -> Result<serde_json::Value> {
        crate::actions::within_deadline(conn, self.run(conn, store, external)).await
    }

    async fn run(
        &self,
        conn: &Connector,
        store: &dyn DocumentStore,
        external: &ExternalFetch,
    ) -> Result<serde_json::Value> {
        let value = match self {
            CamundaOperation::Upload { bucket, key, document } => serde_json::to_value(
                upload_object::upload_object(conn, store, external, bucket, key.as_deref(), document).await?,
            ),
            CamundaOperation::Download { bucket, key, format } => {
                serde_json::to_value(download_object::download_object(conn, store, bucket, key, format).await?)
            }
            CamundaOperation::Delete { bucket, key } => {
                serde_json::to_value(delete_object::delete_object(conn, bucket, key).await?)
            }
            CamundaOperation::Native(action) => serde_json::to_value(
                action
                    .as_ref()
                    .clone()
                    .execute(conn, crate::actions::Streams::default())
                    .await?,
            ),
        };
        value.map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot render the result: {e}")))
    }
}
