//! What a write asks the store to keep that some S3-compatible stores accept and silently
//! drop: a storage class and server-side encryption. No request can tell beforehand, so
//! after such a write the object is read back (one HEAD) and compared. A store that did not
//! keep it answers `NotSupported`, and the connection remembers that per bucket, so that
//! later writes asking for it are refused before anything is sent (docs/stores.md).

use crate::client::Connector;
use crate::encryption::Encryption;
use crate::error::{Error, ErrorCode, Result};

/// S3's default class: asking for it needs no confirmation, and a store that reports no
/// class has it.
pub const STANDARD: &str = "STANDARD";

/// A feature a write may ask for, as remembered per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// A storage class other than `STANDARD`.
    StorageClass,
    /// Server-side encryption (SSE-S3 or SSE-KMS).
    Encryption,
    /// Encryption with the caller's key (SSE-C).
    CustomerKey,
}

impl Feature {
    fn what(self) -> &'static str {
        match self {
            Feature::StorageClass => "storage classes",
            Feature::Encryption => "server-side encryption",
            Feature::CustomerKey => "encryption with a customer key (SSE-C)",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Feature::StorageClass => "storageClass",
            Feature::Encryption => "encryption",
            Feature::CustomerKey => "sseCustomerKey",
        }
    }
}

/// What the store reports about an object it wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reported<'a> {
    /// `x-amz-storage-class` (none for `STANDARD`).
    pub storage_class: Option<&'a str>,
    /// `x-amz-server-side-encryption`.
    pub encryption: Option<&'a str>,
    /// `x-amz-server-side-encryption-customer-algorithm`.
    pub customer_algorithm: Option<&'a str>,
}

/// What a write asks the store to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// The storage class, if any.
    pub storage_class: Option<&'a str>,
    /// The encryption, if any.
    pub encryption: Option<&'a Encryption>,
    /// The SSE-C key, if any (the read-back must give it too).
    pub customer_key: Option<&'a crate::encryption::CustomerKey>,
}

impl Asked<'_> {
    fn features(&self) -> impl Iterator<Item = Feature> + '_ {
        let class = self.storage_class.is_some_and(|c| c != STANDARD);
        [
            class.then_some(Feature::StorageClass),
            self.encryption.is_some().then_some(Feature::Encryption),
            self.customer_key.is_some().then_some(Feature::CustomerKey),
        ]
        .into_iter()
        .flatten()
    }

    /// Refuses the write when an earlier one to `bucket` showed that the store does not keep
    /// what it asks for: nothing is written.
    pub(crate) fn refuse_if_known_unkept(&self, conn: &Connector, bucket: &str) -> Result<()> {
        for feature in self.features() {
            if conn.kept(bucket, feature.field()) == Some(false) {
                return Err(Error::new(
                    ErrorCode::NotSupported,
                    format!(
                        "an earlier write to bucket {bucket} showed that the store does not keep {}; nothing was written. Leave {} out for this store (see docs/stores.md)",
                        feature.what(),
                        feature.field()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// After a write of `bucket/key`: reads the object back and checks what was asked for.
    pub(crate) async fn confirm(&self, conn: &Connector, bucket: &str, key: &str) -> Result<()> {
        if self.features().next().is_none() {
            return Ok(());
        }
        let req = conn.client().head_object().bucket(bucket).key(key);
        let head = crate::encryption::with_customer_key!(req, self.customer_key)
            .send()
            .await
            .map_err(|e| {
                Error::from_sdk(
                    e,
                    &format!("HeadObject s3://{bucket}/{key}"),
                    crate::error::Missing::Key,
                )
            })?;
        self.check(
            conn,
            bucket,
            &Reported {
                storage_class: head.storage_class().map(|s| s.as_str()),
                encryption: head.server_side_encryption().map(|s| s.as_str()),
                customer_algorithm: head.sse_customer_algorithm(),
            },
        )?;
        if self.customer_key.is_some() {
            // A store that keeps the SSE-C headers as plain metadata echoes them back (rclone
            // serve s3); one that encrypts cannot answer a HEAD without the key.
            let keyless = conn.client().head_object().bucket(bucket).key(key).send().await;
            if keyless.is_ok() {
                conn.remember_kept(bucket, Feature::CustomerKey.field(), false);
                return Err(Error::new(
                    ErrorCode::NotSupported,
                    format!(
                        "the store does not encrypt with customer keys (bucket {bucket}): it serves s3://{bucket}/{key} without the key. The object was written unencrypted; leave sseCustomerKey out for this store (see docs/stores.md)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Compares what a HEAD reported with what was asked for, and remembers the outcome.
    pub(crate) fn check(&self, conn: &Connector, bucket: &str, reported: &Reported<'_>) -> Result<()> {
        for feature in self.features() {
            let (asked, reported) = match feature {
                Feature::StorageClass => (
                    self.storage_class.unwrap_or(STANDARD),
                    reported.storage_class.unwrap_or(STANDARD),
                ),
                Feature::Encryption => (
                    self.encryption.map(|e| e.algorithm.as_str()).unwrap_or_default(),
                    reported.encryption.unwrap_or("none"),
                ),
                Feature::CustomerKey => (
                    "SSE-C AES256",
                    match reported.customer_algorithm {
                        Some("AES256") => "SSE-C AES256",
                        _ => "no SSE-C",
                    },
                ),
            };
            let kept = asked == reported;
            conn.remember_kept(bucket, feature.field(), kept);
            if !kept {
                return Err(Error::new(
                    ErrorCode::NotSupported,
                    format!(
                        "the store does not keep {} (bucket {bucket}): it reports {reported}, not {asked}. The object was written without it; leave {} out for this store (see docs/stores.md)",
                        feature.what(),
                        feature.field()
                    ),
                ));
            }
        }
        Ok(())
    }
}
