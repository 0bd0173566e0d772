//! Multipart uploads: each one a directory under `.s3-connector/uploads/` holding its record
//! (`upload.json`) and its parts (`part-N` with `part-N.json`), until it is completed into an
//! object or aborted. ListMultipartUploads reads them, so unfinished uploads can be seen.

use std::io;

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use crate::content::{claims_of, hex, internal, receive_body, TempFile};
use crate::meta::{read_json, Checksums, Headers, ObjectMeta, PartInfo, UploadInfo};
use crate::namespace::{place, place_file};
use crate::store::{
    blocking, check_write_conditions, copy_to_temp, find, names, page_size, precondition_failed, require_bucket,
    url_encode, valid_bucket, valid_key, wants_url_encoding, Store,
};
use crate::uploads::{all_uploads, load_upload, new_upload_id, part_path, part_record_path, upload_dir};

/// S3's smallest part, except for the last one.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=10_000).contains(&n) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

/// Parses `bytes=first-last` against an object of `size` bytes: `(first, length)`.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else { return Ok((0, size)) };
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    };
    let (first, last) = range
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.parse().map_err(|_| bad())?;
    let last: u64 = last.parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
    }
    Ok((first, last - first + 1))
}

/// Decodes a hex MD5 (a part's ETag) to its 16 bytes.
fn md5_bytes(e_tag: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if e_tag.len() != 32 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(e_tag.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Store {
    /// Puts a finished part (content and record) into its upload, if that still exists.
    async fn commit_part(&self, bucket: &str, id: String, n: i32, temp: TempFile, info: PartInfo) -> S3Result<()> {
        let record = serde_json::to_vec(&info).map_err(|e| internal("cannot encode a part record", e))?;
        let layout = self.layout.clone();
        let b = bucket.to_string();
        self.locks
            .run(bucket, move || {
                let temp = temp;
                load_upload(&layout, &id, &b, None)?;
                let record = TempFile::create_with(&layout.tmp_dir(), &record)
                    .map_err(|e| internal("cannot write a part record", e))?;
                place_file(&temp, &part_path(&layout, &id, n)).map_err(|e| internal("cannot store a part", e))?;
                place_file(&record, &part_record_path(&layout, &id, n))
                    .map_err(|e| internal("cannot store a part record", e))
            })
            .await
    }

    pub(crate) async fn create_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        valid_bucket(&input.bucket)?;
        valid_key(&input.key)?;
        crate::meta::refuse_encryption(
            input.server_side_encryption.as_ref(),
            input.sse_customer_algorithm.as_ref(),
        )?;
        let id = new_upload_id();
        let info = UploadInfo {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiated: Timestamp::from(std::time::SystemTime::now()),
            headers: Headers {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
                metadata: input.metadata,
            },
            checksum_algorithm: input.checksum_algorithm.as_ref().map(|a| a.as_str().to_string()),
            owner: req.credentials.map(|c| c.access_key),
            tags: crate::tags::from_header(input.tagging.as_deref())?,
            storage_class: crate::meta::storage_class_of(input.storage_class)?,
        };
        let record = serde_json::to_vec(&info).map_err(|e| internal("cannot encode an upload record", e))?;
        let layout = self.layout.clone();
        let (b, upload_id) = (input.bucket.clone(), id.clone());
        self.locks
            .run(&input.bucket, move || {
                require_bucket(&layout, &b)?;
                let dir = upload_dir(&layout, &upload_id);
                std::fs::create_dir(&dir).map_err(|e| internal("cannot create an upload", e))?;
                let temp = TempFile::create_with(&layout.tmp_dir(), &record)
                    .map_err(|e| internal("cannot create an upload", e))?;
                place_file(&temp, &dir.join("upload.json")).map_err(|e| internal("cannot create an upload", e))
            })
            .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    pub(crate) async fn put_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        {
            let layout = self.layout.clone();
            let (id, b, k) = (input.upload_id.clone(), input.bucket.clone(), input.key.clone());
            blocking(move || load_upload(&layout, &id, &b, Some(&k)).map(|_| ())).await?;
        }
        let claims = claims_of!(input, req);
        let (temp, written) = receive_body(&self.layout.tmp_dir(), input.body, claims).await?;
        let e_tag = hex(&written.md5);
        let info = PartInfo {
            e_tag: e_tag.clone(),
            size: written.size,
            checksums: written.checksums.clone(),
        };
        self.commit_part(&input.bucket, input.upload_id, input.part_number, temp, info)
            .await?;
        let c = written.checksums;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(e_tag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    pub(crate) async fn copy_part(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "Only bucket copy sources are supported"));
        };
        let (src_bucket, src_key) = (src_bucket.to_string(), src_key.to_string());
        valid_bucket(&src_bucket)?;
        {
            let layout = self.layout.clone();
            let (id, b, k) = (input.upload_id.clone(), input.bucket.clone(), input.key.clone());
            blocking(move || load_upload(&layout, &id, &b, Some(&k)).map(|_| ())).await?;
        }
        let layout = self.layout.clone();
        let (sb, sk) = (src_bucket.clone(), src_key.clone());
        valid_key(&src_key)?;
        let (source, file) = self
            .locks
            .run(&src_bucket, move || {
                require_bucket(&layout, &sb)?;
                let current = find(&layout, &sb, &sk)?.ok_or_else(crate::store::no_such_key)?;
                let file = std::fs::File::open(&current.content).map_err(|e| internal("cannot open an object", e))?;
                Ok((current, file))
            })
            .await?;
        let src_tag = Some(source.meta.e_tag.as_str());
        if input.copy_source_if_match.as_ref().is_some_and(|c| !names(c, src_tag))
            || input
                .copy_source_if_none_match
                .as_ref()
                .is_some_and(|c| names(c, src_tag))
        {
            return Err(precondition_failed());
        }
        let (start, len) = copy_range(input.copy_source_range.as_deref(), source.meta.size)?;
        let tmp_dir = self.layout.tmp_dir();
        let (temp, md5, copied) =
            blocking(move || copy_to_temp(file, start, len, &tmp_dir).map_err(|e| internal("cannot copy a part", e)))
                .await?;
        if copied != len {
            return Err(internal("cannot copy a part", "the source ended early"));
        }
        let e_tag = hex(&md5);
        let info = PartInfo {
            e_tag: e_tag.clone(),
            size: len,
            checksums: Checksums::default(),
        };
        self.commit_part(&input.bucket, input.upload_id, input.part_number, temp, info)
            .await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(e_tag)),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(crate) async fn parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max = page_size(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let layout = self.layout.clone();
        let (id, b, k) = (input.upload_id.clone(), input.bucket.clone(), input.key.clone());
        let (upload, mut parts) = self
            .locks
            .run(&input.bucket, move || {
                let upload = load_upload(&layout, &id, &b, Some(&k))?;
                let mut parts = Vec::new();
                let entries =
                    std::fs::read_dir(upload_dir(&layout, &id)).map_err(|e| internal("cannot read an upload", e))?;
                for entry in entries.flatten() {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let Some(n) = name
                        .strip_prefix("part-")
                        .and_then(|n| n.strip_suffix(".json"))
                        .and_then(|n| n.parse::<i32>().ok())
                    else {
                        continue;
                    };
                    let Ok(Some(info)) = read_json::<PartInfo>(&entry.path()) else {
                        continue;
                    };
                    let modified = std::fs::symlink_metadata(part_path(&layout, &id, n))
                        .and_then(|m| m.modified())
                        .map(Timestamp::from)
                        .ok();
                    parts.push((n, info, modified));
                }
                Ok((upload, parts))
            })
            .await?;
        parts.sort_by_key(|(n, _, _)| *n);
        parts.retain(|(n, _, _)| *n > marker);
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next = parts.last().map(|(n, _, _)| *n);
        let owner = upload.owner.map(|o| Owner {
            display_name: Some(o.clone()),
            id: Some(o),
        });
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            initiator: owner.as_ref().map(|o| Initiator {
                display_name: o.display_name.clone(),
                id: o.id.clone(),
            }),
            owner,
            storage_class: Some(StorageClass::from(
                upload
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| StorageClass::STANDARD.to_string()),
            )),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            parts: Some(
                parts
                    .into_iter()
                    .map(|(n, info, modified)| Part {
                        part_number: Some(n),
                        e_tag: Some(ETag::Strong(info.e_tag)),
                        size: Some(i64::try_from(info.size).unwrap_or(i64::MAX)),
                        last_modified: modified,
                        checksum_crc32: info.checksums.crc32,
                        checksum_crc32c: info.checksums.crc32c,
                        checksum_sha1: info.checksums.sha1,
                        checksum_sha256: info.checksums.sha256,
                        checksum_crc64nvme: info.checksums.crc64nvme,
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    /// Completes an upload in three steps, so that a large object is assembled without
    /// holding the lock: check the request against the parts (under the lock), concatenate
    /// the parts into a temporary file, then (under the lock again) make sure no part changed
    /// meanwhile and put the object in place.
    pub(crate) async fn complete_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let requested = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if requested.is_empty() {
            return Err(s3_error!(MalformedXML, "You must specify at least one part"));
        }
        let layout = self.layout.clone();
        let (id, b, k) = (input.upload_id.clone(), input.bucket.clone(), input.key.clone());
        let (upload, parts) = self
            .locks
            .run(&input.bucket, move || {
                let upload = load_upload(&layout, &id, &b, Some(&k))?;
                let invalid = || {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                    )
                };
                let mut parts: Vec<(i32, PartInfo)> = Vec::with_capacity(requested.len());
                for part in &requested {
                    let n = part.part_number.ok_or_else(invalid)?;
                    if parts.last().is_some_and(|(prev, _)| n <= *prev) {
                        return Err(s3_error!(
                            InvalidPartOrder,
                            "The list of parts was not in ascending order. The parts list must be specified in order by part number."
                        ));
                    }
                    let info = read_json::<PartInfo>(&part_record_path(&layout, &id, n))
                        .map_err(|e| internal("cannot read a part record", e))?
                        .ok_or_else(invalid)?;
                    if part.e_tag.as_ref().is_none_or(|e| e.value() != info.e_tag) {
                        return Err(invalid());
                    }
                    parts.push((n, info));
                }
                if parts[..parts.len() - 1].iter().any(|(_, p)| p.size < MIN_PART_SIZE) {
                    return Err(s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed object size."
                    ));
                }
                Ok((upload, parts))
            })
            .await?;

        let layout = self.layout.clone();
        let (id, assembling) = (input.upload_id.clone(), parts.clone());
        let (temp, size) = blocking(move || {
            let fail = |e: io::Error| internal("cannot assemble an upload", e);
            let temp = TempFile::create_with(&layout.tmp_dir(), b"").map_err(fail)?;
            let mut out = std::fs::OpenOptions::new()
                .append(true)
                .open(temp.path())
                .map_err(fail)?;
            let mut size = 0u64;
            for (n, info) in &assembling {
                let mut part = std::fs::File::open(part_path(&layout, &id, *n)).map_err(fail)?;
                let copied = std::io::copy(&mut part, &mut out).map_err(fail)?;
                if copied != info.size {
                    return Err(s3_error!(
                        InvalidPart,
                        "A part changed while the upload was being completed"
                    ));
                }
                size += copied;
            }
            Ok((temp, size))
        })
        .await?;

        let mut etag_md5 = <s3s::crypto::Md5 as s3s::crypto::Checksum>::new();
        for (_, info) in &parts {
            let bytes = md5_bytes(&info.e_tag)
                .ok_or_else(|| internal("cannot assemble an upload", "a part's ETag is no MD5"))?;
            s3s::crypto::Checksum::update(&mut etag_md5, &bytes);
        }
        let e_tag = format!("{}-{}", hex(&s3s::crypto::Checksum::finalize(etag_md5)), parts.len());
        let meta = ObjectMeta {
            e_tag: e_tag.clone(),
            size,
            headers: upload.headers,
            checksums: Checksums::default(),
            parts_count: i32::try_from(parts.len()).ok(),
            tags: upload.tags,
            storage_class: upload.storage_class,
        };
        let sidecar_json = serde_json::to_vec(&meta).map_err(|e| internal("cannot encode metadata", e))?;
        let layout = self.layout.clone();
        let (id, b, k) = (input.upload_id.clone(), input.bucket.clone(), input.key.clone());
        let (if_match, if_none_match) = (input.if_match, input.if_none_match);
        self.locks
            .run(&input.bucket, move || {
                let temp = temp;
                require_bucket(&layout, &b)?;
                load_upload(&layout, &id, &b, Some(&k))?;
                for (n, info) in &parts {
                    let now = read_json::<PartInfo>(&part_record_path(&layout, &id, *n))
                        .map_err(|e| internal("cannot read a part record", e))?;
                    if now.as_ref() != Some(info) {
                        return Err(s3_error!(
                            InvalidPart,
                            "A part changed while the upload was being completed"
                        ));
                    }
                }
                if if_match.is_some() || if_none_match.is_some() {
                    let current = find(&layout, &b, &k)?;
                    check_write_conditions(if_match.as_ref(), if_none_match.as_ref(), current.as_ref())?;
                }
                let sidecar = TempFile::create_with(&layout.tmp_dir(), &sidecar_json)
                    .map_err(|e| internal("cannot write metadata", e))?;
                place(&layout, &b, &k, &temp, &sidecar).map_err(|e| internal("cannot store an object", e))?;
                std::fs::remove_dir_all(upload_dir(&layout, &id)).map_err(|e| internal("cannot remove an upload", e))
            })
            .await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(e_tag)),
            location: Some(format!("/{}/{}", input.bucket, url_encode(&input.key))),
            ..Default::default()
        }))
    }

    pub(crate) async fn abort_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let layout = self.layout.clone();
        let (id, b, k) = (input.upload_id, input.bucket.clone(), input.key);
        self.locks
            .run(&input.bucket, move || {
                load_upload(&layout, &id, &b, Some(&k))?;
                std::fs::remove_dir_all(upload_dir(&layout, &id)).map_err(|e| internal("cannot remove an upload", e))
            })
            .await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        valid_bucket(&input.bucket)?;
        let url = wants_url_encoding(input.encoding_type.as_ref())?;
        let max = page_size(input.max_uploads)?;
        let layout = self.layout.clone();
        let b = input.bucket.clone();
        let mut uploads = self
            .locks
            .run(&input.bucket, move || {
                require_bucket(&layout, &b)?;
                all_uploads(&layout).map_err(|e| internal("cannot read uploads", e))
            })
            .await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        uploads.retain(|(_, u)| u.bucket == input.bucket && u.key.starts_with(&prefix));
        uploads.sort_by(|(a_id, a), (b_id, b)| a.key.cmp(&b.key).then_with(|| a_id.cmp(b_id)));
        if let Some(key_marker) = input.key_marker.as_deref() {
            let id_marker = input.upload_id_marker.as_deref();
            uploads.retain(|(id, u)| {
                u.key.as_str() > key_marker || (u.key == key_marker && id_marker.is_some_and(|m| id.as_str() > m))
            });
        }
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let shown = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let (mut listed, mut prefixes) = (Vec::new(), Vec::<String>::new());
        let mut truncated = false;
        let mut last: Option<(String, Option<String>)> = None;
        for (id, u) in uploads {
            let common = delimiter.and_then(|d| {
                u.key[prefix.len()..]
                    .find(d)
                    .map(|i| u.key[..prefix.len() + i + d.len()].to_string())
            });
            if let Some(common) = &common {
                // A common prefix at or before the key marker ended an earlier page (its
                // uploads sort after it, `a/x` > `a/`): listing it again would page forever.
                if prefixes.last() == Some(common) || input.key_marker.as_deref().is_some_and(|m| common.as_str() <= m)
                {
                    continue;
                }
            }
            if listed.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            match common {
                Some(common) => {
                    last = Some((common.clone(), None));
                    prefixes.push(common);
                }
                None => {
                    last = Some((u.key.clone(), Some(id.clone())));
                    let owner = u.owner.clone();
                    listed.push(MultipartUpload {
                        key: Some(shown(&u.key)),
                        upload_id: Some(id),
                        initiated: Some(u.initiated),
                        storage_class: Some(StorageClass::from(
                            u.storage_class
                                .clone()
                                .unwrap_or_else(|| StorageClass::STANDARD.to_string()),
                        )),
                        checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                        owner: owner.clone().map(|o| Owner {
                            display_name: Some(o.clone()),
                            id: Some(o),
                        }),
                        initiator: owner.map(|o| Initiator {
                            display_name: Some(o.clone()),
                            id: Some(o),
                        }),
                        ..Default::default()
                    });
                }
            }
        }
        let (next_key_marker, next_upload_id_marker) = match (truncated, last) {
            (true, Some((key, id))) => (Some(shown(&key)), id),
            _ => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(|p| shown(&p)),
            delimiter: input.delimiter.map(|d| shown(&d)),
            key_marker: input.key_marker.map(|k| shown(&k)),
            upload_id_marker: input.upload_id_marker,
            next_key_marker,
            next_upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            uploads: Some(listed),
            common_prefixes: (!prefixes.is_empty()).then(|| {
                prefixes
                    .iter()
                    .map(|p| CommonPrefix { prefix: Some(shown(p)) })
                    .collect()
            }),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range(None, 10).ok(), Some((0, 10)));
        assert_eq!(copy_range(Some("bytes=2-5"), 10).ok(), Some((2, 4)));
        assert!(copy_range(Some("bytes=2-10"), 10).is_err());
        assert!(copy_range(Some("bytes=5-2"), 10).is_err());
        assert!(copy_range(Some("2-5"), 10).is_err());
    }
}
