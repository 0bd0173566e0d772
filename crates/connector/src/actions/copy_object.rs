//! `copyObject`: copy an object to another bucket and/or key (Mendix "Copy Object").

use std::collections::BTreeMap;

use aws_sdk_s3::types::MetadataDirective;
use futures::stream::StreamExt;
use serde::{Deserialize, Serialize};

use crate::actions::head_object::head;
use crate::actions::{encode_key, unquote, HeadObjectResult};
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::transfer::{part_size_for, Multipart, UploadTarget};
use crate::{validate, Connector};

/// Request. The destination defaults to the source's bucket and key; at least one must differ.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyObjectRequest {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Destination bucket; default: the source bucket.
    #[serde(default)]
    pub destination_bucket: Option<String>,
    /// Destination key; default: the source key.
    #[serde(default)]
    pub destination_key: Option<String>,
    /// Copy only if the source still has this ETag (optimistic concurrency).
    #[serde(default)]
    pub if_match: Option<String>,
    /// Replace the user metadata (default: keep the source's).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Replace the content type (default: keep the source's).
    #[serde(default)]
    pub content_type: Option<String>,
}

/// Result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyObjectResult {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Destination bucket.
    pub destination_bucket: String,
    /// Destination key.
    pub destination_key: String,
    /// Bytes copied.
    pub size: u64,
    /// The copy's ETag, without quotes.
    pub etag: Option<String>,
    /// Whether multipart copy was used (objects over the copy threshold, 5 GiB by default).
    pub multipart: bool,
}

impl CopyObjectRequest {
    /// The destination bucket and key after defaults.
    pub fn destination(&self) -> (&str, &str) {
        (
            self.destination_bucket.as_deref().unwrap_or(&self.bucket),
            self.destination_key.as_deref().unwrap_or(&self.key),
        )
    }

    /// Checks both ends, and that they differ unless metadata is being replaced.
    pub fn validate(&self) -> Result<()> {
        validate::bucket("bucket", &self.bucket)?;
        validate::key("key", &self.key)?;
        if let Some(b) = &self.destination_bucket {
            validate::bucket("destinationBucket", b)?;
        }
        if let Some(k) = &self.destination_key {
            validate::key("destinationKey", k)?;
        }
        if let Some(m) = &self.metadata {
            validate::metadata("metadata", m)?;
        }
        let same = self.destination() == (self.bucket.as_str(), self.key.as_str());
        if same && self.metadata.is_none() && self.content_type.is_none() {
            return Err(Error::invalid_input(
                "destinationKey",
                "the destination equals the source; give another destinationBucket or destinationKey",
            ));
        }
        Ok(())
    }

    /// # Behavior
    /// Reads the source's size and ETag, then copies on the condition that the source still
    /// has that ETag, so the copy is of one version even if the source is being rewritten.
    /// Up to the copy threshold (5 GiB, S3's CopyObject limit) one CopyObject; above it a
    /// multipart copy with bounded concurrency, aborted on any failure.
    pub async fn execute(self, conn: &Connector) -> Result<CopyObjectResult> {
        self.validate()?;
        let source = head(conn, &self.bucket, &self.key).await?;
        if let Some(expected) = &self.if_match {
            if source.etag.as_deref() != Some(expected.trim_matches('"')) {
                return Err(Error::new(
                    ErrorCode::PreconditionFailed,
                    format!(
                        "s3://{}/{} has ETag {:?}, not {expected:?}; it changed since you read it",
                        self.bucket,
                        self.key,
                        source.etag.as_deref().unwrap_or("")
                    ),
                ));
            }
        }
        let (dest_bucket, dest_key) = self.destination();
        let copied = copy(
            conn,
            &source,
            dest_bucket,
            dest_key,
            self.metadata.as_ref(),
            self.content_type.as_deref(),
        )
        .await?;
        Ok(CopyObjectResult {
            destination_bucket: dest_bucket.to_string(),
            destination_key: dest_key.to_string(),
            bucket: self.bucket,
            key: self.key,
            size: source.size,
            etag: copied.etag,
            multipart: copied.multipart,
        })
    }
}

/// What [`copy`] did.
pub(crate) struct Copied {
    pub etag: Option<String>,
    pub multipart: bool,
}

/// Copies the object `source` describes, pinned to its ETag. Shared with `moveObject`.
pub(crate) async fn copy(
    conn: &Connector,
    source: &HeadObjectResult,
    dest_bucket: &str,
    dest_key: &str,
    metadata: Option<&BTreeMap<String, String>>,
    content_type: Option<&str>,
) -> Result<Copied> {
    let copy_source = format!("{}/{}", source.bucket, encode_key(&source.key));
    let etag = source.etag.clone().unwrap_or_default();
    let quoted = format!("\"{etag}\"");
    let what = format!(
        "CopyObject s3://{}/{} to s3://{dest_bucket}/{dest_key}",
        source.bucket, source.key
    );
    let changed = |e: Error| {
        if e.code == ErrorCode::PreconditionFailed {
            Error::new(
                ErrorCode::PreconditionFailed,
                format!("{what}: the source changed while being copied; nothing was copied"),
            )
        } else {
            e
        }
    };
    if source.size <= conn.transfer().multipart_copy_threshold {
        let replace = metadata.is_some() || content_type.is_some();
        let mut req = conn
            .client()
            .copy_object()
            .bucket(dest_bucket)
            .key(dest_key)
            .copy_source(&copy_source)
            .copy_source_if_match(&quoted);
        if replace {
            let meta = metadata.cloned().unwrap_or_else(|| source.metadata.clone());
            req = req
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(Some(meta.into_iter().collect()))
                .set_content_type(content_type.map(str::to_string).or_else(|| source.content_type.clone()));
        }
        // A copy's length depends on the object's size: the stall timeout bounds it, not the
        // attempt timeout (S3 keeps a long copy's connection alive with whitespace).
        let out = req
            .customize()
            .config_override(conn.no_attempt_timeout())
            .send()
            .await
            .map_err(|e| changed(Error::from_sdk(e, &what, Missing::Key)))?;
        return Ok(Copied {
            etag: unquote(out.copy_object_result().and_then(|r| r.e_tag())),
            multipart: false,
        });
    }

    // Multipart copy: the new object gets the source's (or the given) type and metadata.
    let meta = metadata.cloned().unwrap_or_else(|| source.metadata.clone());
    let ctype = content_type
        .map(str::to_string)
        .or_else(|| source.content_type.clone())
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let target = UploadTarget {
        bucket: dest_bucket,
        key: dest_key,
        content_type: &ctype,
        metadata: &meta,
    };
    let size = source.size;
    let part_size = part_size_for(conn.transfer().copy_part_size, size);
    let count = size.div_ceil(part_size);
    let mpu = Multipart::create(conn, &target).await?;
    let parts = async {
        let mut pending = futures::stream::iter(0..count)
            .map(|i| {
                let start = i * part_size;
                let end = (start + part_size).min(size) - 1;
                let mpu = &mpu;
                let copy_source = &copy_source;
                let quoted = &quoted;
                async move {
                    mpu.upload_part_copy((i + 1) as i32, copy_source, format!("bytes={start}-{end}"), quoted)
                        .await
                }
            })
            .buffer_unordered(conn.transfer().concurrency);
        let mut done = Vec::with_capacity(count as usize);
        while let Some(p) = pending.next().await {
            done.push(p.map_err(changed)?);
        }
        Ok(done)
    }
    .await;
    let etag = mpu.finish(parts).await?;
    Ok(Copied {
        etag: unquote(etag.as_deref()),
        multipart: true,
    })
}
