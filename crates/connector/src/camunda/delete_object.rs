//! Camunda `deleteObject`: `{bucket, key}`; deleting a missing key succeeds.

use serde::Serialize;

use crate::actions::{ActionRequest, DeleteObjectRequest, Streams};
use crate::client::Connector;
use crate::error::Result;

/// `{bucket, key}`, the same whether or not the key existed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeleteObjectResult {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
}

/// Deletes `key` from `bucket` through the core's `deleteObject`.
pub async fn delete_object(conn: &Connector, bucket: &str, key: &str) -> Result<DeleteObjectResult> {
    let done = DeleteObjectRequest {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: None,
    }
    .execute(conn, Streams::default())
    .await?;
    Ok(DeleteObjectResult {
        bucket: done.bucket,
        key: done.key,
    })
}
