//! `moveObject`: move an object to another bucket and/or key without ever losing it
//! (Mendix "Move Object").
//!
//! S3 has no rename. A move is three steps, and the source is deleted only after the third
//! step's precondition holds:
//! 1. copy, on the condition that the source still has the ETag read at the start;
//! 2. verify the copy: its size, and its ETag against the copy's answer and (for
//!    single-part objects) against the source's content hash;
//! 3. re-read the source's ETag, then delete it with `If-Match` on the ETag we copied, so a
//!    source rewritten after the copy is kept.
//!
//! Not every store enforces each condition (moto ignores the copy condition, Garage 2.5 the
//! delete condition), so the guards overlap: a change during the copy is caught by the copy
//! condition or by verification; a change after it by the re-read or by `If-Match`. On a store
//! that ignores `If-Match` on DeleteObject, a write landing between the re-read and the delete
//! (one round trip) would be lost; the result says which guard was in force
//! (`deleteGuard`), and `requireConditionalDelete` refuses to delete on such stores.
//!
//! If any step fails the source stays, and the error says which step failed and what exists.

use serde::{Deserialize, Serialize};

use crate::actions::{ActionRequest, Streams};
use crate::actions::head_object::head;
use crate::transfer::ObjectRef;
use crate::actions::CopyObjectRequest;
use crate::encryption::Encryption;
use crate::fields::Tags;
use crate::error::{Error, ErrorCode, Missing, Result};
use crate::transfer::{copy, Replace};
use crate::client::Connector;

/// Request: the same fields as `copyObject`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(after_help = "Example:\n  s3-connector --embedded ./data move-object inbox scan.pdf \\\n      --to-bucket processed --to-key 2026/scan.pdf"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveObjectRequest {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Destination bucket; default: the source bucket.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long = "to-bucket", visible_alias = "destination-bucket"))]
    pub destination_bucket: Option<String>,
    /// Destination key; default: the source key.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long = "to-key", visible_alias = "destination-key"))]
    pub destination_key: Option<String>,
    /// Move only if the source has this ETag.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub if_match: Option<String>,
    /// Refuse to delete the source on stores that ignore `If-Match` on DeleteObject
    /// (the copy is kept; the error says so). Default false: re-read and delete.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub require_conditional_delete: bool,
    /// Replace the tags (`{}` removes them). Default: the moved object keeps the source's.
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub tags: Option<Tags>,
    /// Storage class at the destination, e.g. `STANDARD_IA`; default: the source's. A store
    /// that does not keep it answers `NotSupported`, and the source is kept.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub storage_class: Option<String>,
    /// Server-side encryption: `{"algorithm": "AES256"}` (SSE-S3), or `aws:kms` with an
    /// optional `kmsKeyId`, `kmsContext` and `bucketKey`; default: the destination bucket's. A store
    /// that does not keep it answers `NotSupported`, and the source is kept.
    #[serde(default)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub encryption: Option<Encryption>,
    /// Move this version of the source (see `listObjectVersions`): it is copied, and then
    /// that version is deleted. Default: the current one.
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub version_id: Option<String>,
}

/// Result of a completed move: the copy exists, was verified, and the source is gone.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveObjectResult {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Destination bucket.
    pub destination_bucket: String,
    /// Destination key.
    pub destination_key: String,
    /// Bytes moved.
    pub size: u64,
    /// The destination's ETag, without quotes.
    pub etag: Option<String>,
    /// What was checked before the source was deleted.
    pub verified: Vec<String>,
    /// Always true in a result; when the delete fails, the move is an error instead.
    pub source_deleted: bool,
    /// What kept the delete safe: `ifMatch` (the store enforced the ETag condition),
    /// `recheck` (the store ignores it; only the re-read just before the delete guarded it), or
    /// `versionId` (a version of a bucket that keeps versions was moved: it cannot change, and
    /// only it was deleted).
    pub delete_guard: String,
}

impl MoveObjectRequest {
    fn done(
        self,
        destination_bucket: String,
        destination_key: String,
        dest: crate::actions::HeadObjectResult,
        verified: Vec<String>,
        guard: &str,
    ) -> MoveObjectResult {
        MoveObjectResult {
            bucket: self.bucket,
            key: self.key,
            destination_bucket,
            destination_key,
            size: dest.size,
            etag: dest.etag,
            verified,
            source_deleted: true,
            delete_guard: guard.to_string(),
        }
    }

    fn as_copy(&self) -> CopyObjectRequest {
        CopyObjectRequest {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            destination_bucket: self.destination_bucket.clone(),
            destination_key: self.destination_key.clone(),
            if_match: self.if_match.clone(),
            metadata: None,
            content_type: None,
            tags: self.tags.clone(),
            cache_control: None,
            content_disposition: None,
            content_encoding: None,
            expires: None,
            storage_class: self.storage_class.clone(),
            encryption: self.encryption.clone(),
            sse_customer_key: None,
            version_id: self.version_id.clone(),
            copy_source_sse_customer_key: None,
        }
    }
}

impl ActionRequest for MoveObjectRequest {
    const NAME: &'static str = "moveObject";
    const LABEL: &'static str = "Move object";
    type Result = MoveObjectResult;

    /// The same checks as `copyObject`: both ends valid, and not the same object (which a copy
    /// may be, to change the storage class in place, but a move never: it would delete it).
    fn validate(&self) -> Result<()> {
        let copy = self.as_copy();
        copy.validate()?;
        if copy.destination() == (self.bucket.as_str(), self.key.as_str()) {
            return Err(Error::invalid_input(
                "destinationKey",
                "the destination equals the source; give another destinationBucket or destinationKey (to change the storage class in place, use copyObject)",
            ));
        }
        Ok(())
    }

    /// # Behavior
    /// See the module docs. Errors carry the step: `step 1 (copy)` leaves the source as it was
    /// and no new object; `step 2 (verify)` leaves the source and the suspect copy; `step 3
    /// (delete source)` leaves both the source and the verified copy.
    async fn execute(self, conn: &Connector, _streams: Streams) -> Result<MoveObjectResult> {
        self.validate()?;
        let copy_req = self.as_copy();
        let (dest_bucket, dest_key) = copy_req.destination();
        let (dest_bucket, dest_key) = (dest_bucket.to_string(), dest_key.to_string());
        let src = format!("s3://{}/{}", self.bucket, self.key);
        let dst = format!("s3://{dest_bucket}/{dest_key}");

        if self.tags.is_some() {
            conn.require_tagging(&dest_bucket).await?;
        }
        let source_ref = ObjectRef {
            version_id: self.version_id.clone(),
            ..ObjectRef::new(&self.bucket, &self.key)
        };
        let source = head(conn, &source_ref).await?;
        let Some(etag) = source.etag.clone() else {
            return Err(Error::new(
                ErrorCode::ServiceError,
                format!(
                    "moveObject: the store gave {src} no ETag, so the move cannot be made safe; nothing was changed"
                ),
            ));
        };
        if let Some(expected) = &self.if_match {
            if expected.trim_matches('"') != etag {
                return Err(Error::new(
                    ErrorCode::PreconditionFailed,
                    format!("moveObject: {src} has ETag {etag:?}, not {expected:?}; nothing was changed"),
                ));
            }
        }

        // Step 1: copy, pinned to the ETag we just read.
        let replace = Replace {
            tags: self.tags.as_deref(),
            storage_class: self.storage_class.as_deref(),
            encryption: self.encryption.as_ref(),
            ..Replace::default()
        };
        let asked = crate::stored::Asked {
            storage_class: replace.storage_class,
            encryption: replace.encryption,
            customer_key: None,
        };
        asked
            .refuse_if_known_unkept(conn, &dest_bucket)
            .map_err(|e| e.context(format!("moveObject: {src} was not changed")))?;
        let mut from = source.as_copy_source();
        from.version_id = self.version_id.as_deref();
        let copied = copy(conn, &from, &dest_bucket, &dest_key, replace)
            .await
            .map_err(|e| {
                e.context(format!(
                    "moveObject step 1 (copy) failed; {src} was not changed and not deleted"
                ))
            })?;

        // Step 2: verify the destination is our copy, whole.
        let step2 = |why: String, code: ErrorCode| {
            Error::new(
                code,
                format!("moveObject step 2 (verify) failed: {why}; {src} was kept, and the copy at {dst} may be wrong: check it"),
            )
        };
        let dest = head(conn, &ObjectRef::new(&dest_bucket, &dest_key))
            .await
            .map_err(|e| step2(e.message.clone(), e.code))?;
        let mut verified = Vec::new();
        if dest.size != source.size {
            return Err(step2(
                format!(
                    "the copy has {} bytes, the source had {} when the move began: the source changed during the copy (the store ignored the copy condition)",
                    dest.size, source.size
                ),
                ErrorCode::PreconditionFailed,
            ));
        }
        verified.push(format!("size {} bytes", dest.size));
        if let (Some(copy_etag), Some(dest_etag)) = (&copied.etag, &dest.etag) {
            if copy_etag != dest_etag {
                return Err(step2(
                    format!(
                        "{dst} has ETag {dest_etag:?} but the copy produced {copy_etag:?}: something else wrote it"
                    ),
                    ErrorCode::PreconditionFailed,
                ));
            }
            verified.push("destination ETag equals the copy's".into());
        }
        asked
            .check(
                conn,
                &dest_bucket,
                &crate::stored::Reported {
                    storage_class: dest.storage_class.as_deref(),
                    encryption: dest.server_side_encryption.as_deref(),
                    customer_algorithm: None,
                },
            )
            .map_err(|e| step2(e.message.clone(), e.code))?;
        if let Some(class) = replace.storage_class {
            verified.push(format!("storage class {class}"));
        }
        if let Some(e) = replace.encryption {
            verified.push(format!("encryption {}", e.algorithm.as_str()));
        }
        // A plain MD5 ETag (no "-N" part count) is the content hash: a single-part copy of a
        // single-part object must have the same one.
        if !copied.multipart && is_md5(&etag) {
            match dest.etag.as_deref() {
                Some(d) if is_md5(d) && d != etag => {
                    return Err(step2(
                        format!("the copy's content hash {d:?} differs from the source's {etag:?}: the source changed during the copy"),
                        ErrorCode::PreconditionFailed,
                    ));
                }
                Some(d) if d == etag => verified.push("content MD5 equals the source's".into()),
                _ => {}
            }
        }

        // Step 3: delete the source only if it is still the version we copied.
        let step3 = |why: String, code: ErrorCode| {
            Error::new(
                code,
                format!(
                    "moveObject step 3 (delete source) failed: {why}; both {src} and the verified copy at {dst} exist"
                ),
            )
        };
        // A real version of a bucket that keeps versions never changes, so deleting that
        // version id deletes exactly what was copied and needs no condition (moto refuses
        // If-Match on a noncurrent version). The `null` version (written while versioning was
        // off or suspended) is overwritten by every plain write, and a store without
        // versioning ignores the id: both keep the ETag guard.
        let versioned = match self.version_id.as_deref() {
            Some(v) if v != "null" => matches!(
                crate::actions::get_bucket_versioning::versioning_of(conn, &self.bucket).await,
                Ok(Some(_))
            ),
            _ => false,
        };
        let enforced = versioned || conn.enforces_conditional_delete(&self.bucket).await;
        let guard = match (versioned, enforced) {
            (true, _) => "versionId",
            (false, true) => "ifMatch",
            (false, false) => "recheck",
        };
        if !enforced && self.require_conditional_delete {
            return Err(step3(
                "this store ignores If-Match on DeleteObject and requireConditionalDelete is set, so the source was not deleted".into(),
                ErrorCode::PreconditionFailed,
            ));
        }
        match head(conn, &source_ref).await {
            Ok(now) if now.etag.as_deref() == Some(etag.as_str()) => {}
            Ok(now) => {
                return Err(step3(
                    format!(
                        "{src} was rewritten after the copy (ETag {:?}, copied {etag:?}), so it was kept",
                        now.etag.unwrap_or_default()
                    ),
                    ErrorCode::PreconditionFailed,
                ))
            }
            Err(e) if e.code == ErrorCode::NoSuchKey => {
                // Gone already (someone else deleted or moved it): the copy stands.
                return Ok(self.done(dest_bucket, dest_key, dest, verified, guard));
            }
            Err(e) => return Err(step3(e.message, e.code)),
        }
        let deleted = conn
            .client()
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .set_if_match((!versioned).then(|| format!("\"{etag}\"")))
            .send()
            .await;
        if let Err(e) = deleted {
            let e = Error::from_sdk(e, &format!("DeleteObject {src}"), Missing::Key);
            return match e.code {
                ErrorCode::PreconditionFailed => Err(step3(
                    format!("{src} was rewritten after the copy, so it was kept"),
                    ErrorCode::PreconditionFailed,
                )),
                ErrorCode::NoSuchKey => Ok(self.done(dest_bucket, dest_key, dest, verified, guard)),
                code => Err(step3(e.message, code)),
            };
        }
        Ok(self.done(dest_bucket, dest_key, dest, verified, guard))
    }

}

fn is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}
