//! The records of multipart uploads on disk: each upload a directory under
//! `.s3-connector/uploads/` named by its ID. Below both the multipart operations and the store,
//! which removes a deleted bucket's uploads.

use std::io;
use std::path::PathBuf;

use s3s::{s3_error, S3Error, S3Result};

use crate::content::internal;
use crate::layout::Layout;
use crate::meta::{is_missing, read_json, UploadInfo};

pub(crate) fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

/// Whether `id` has the form of the IDs made here (so that it may be joined onto a path).
pub(crate) fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new upload ID: the creation time first, so that IDs sort as uploads were initiated
/// (ListMultipartUploads orders by key, then initiation, and pages by ID).
pub(crate) fn new_upload_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!("{nanos:016x}{:016x}", rand::random::<u64>())
}

pub(crate) fn upload_dir(layout: &Layout, id: &str) -> PathBuf {
    layout.uploads_dir().join(id)
}

pub(crate) fn part_path(layout: &Layout, id: &str, n: i32) -> PathBuf {
    upload_dir(layout, id).join(format!("part-{n}"))
}

pub(crate) fn part_record_path(layout: &Layout, id: &str, n: i32) -> PathBuf {
    upload_dir(layout, id).join(format!("part-{n}.json"))
}

/// The upload `id` of `bucket` (and `key`, when given), or `NoSuchUpload`.
pub(crate) fn load_upload(layout: &Layout, id: &str, bucket: &str, key: Option<&str>) -> S3Result<UploadInfo> {
    if !is_upload_id(id) {
        return Err(no_such_upload());
    }
    let info = read_json::<UploadInfo>(&upload_dir(layout, id).join("upload.json"))
        .map_err(|e| internal("cannot read an upload", e))?
        .ok_or_else(no_such_upload)?;
    if info.bucket != bucket || key.is_some_and(|k| k != info.key) {
        return Err(no_such_upload());
    }
    Ok(info)
}

/// Every upload record in the store, with its ID; unreadable ones are skipped.
pub(crate) fn all_uploads(layout: &Layout) -> io::Result<Vec<(String, UploadInfo)>> {
    let entries = match std::fs::read_dir(layout.uploads_dir()) {
        Ok(entries) => entries,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(id) = entry.file_name().into_string() else {
            continue;
        };
        if !is_upload_id(&id) {
            continue;
        }
        if let Ok(Some(info)) = read_json::<UploadInfo>(&entry.path().join("upload.json")) {
            out.push((id, info));
        }
    }
    Ok(out)
}

/// Removes every unfinished upload into `bucket` (when the bucket is deleted).
pub(crate) fn remove_uploads_of(layout: &Layout, bucket: &str) -> io::Result<()> {
    for (id, info) in all_uploads(layout)? {
        if info.bucket == bucket {
            std::fs::remove_dir_all(upload_dir(layout, &id))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_sort_by_creation() {
        let a = new_upload_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_upload_id();
        assert!(is_upload_id(&a) && is_upload_id(&b) && a < b);
        assert!(!is_upload_id("../../etc/passwd"));
    }
}
