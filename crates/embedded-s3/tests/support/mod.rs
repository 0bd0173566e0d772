//! What the store's tests share: a real aws-sdk-s3 client for a running store, and checks
//! of the data directory itself.

#![allow(dead_code)]

use std::path::Path;

use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::Client;
use s3_connector_embedded::EmbeddedStore;

/// A client as the connector makes one for a custom endpoint: path style, checksums only
/// where required, no retries (so that every failure shows).
pub fn client(store: &EmbeddedStore) -> Client {
    client_with(store, RequestChecksumCalculation::WhenRequired)
}

/// A client computing request checksums as asked (`WhenSupported` sends aws-chunked
/// bodies with a CRC32 trailer).
pub fn client_with(store: &EmbeddedStore, checksums: RequestChecksumCalculation) -> Client {
    let credentials = aws_credential_types::Credentials::new(
        store.access_key(),
        store.secret_key(),
        None,
        None,
        "embedded-store-test",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(store.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .force_path_style(true)
        .request_checksum_calculation(checksums)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// The hex MD5 of `bytes`, as S3 ETags are.
pub fn md5_hex(bytes: &[u8]) -> String {
    use s3s::crypto::{Checksum as _, Md5};
    let mut md5 = Md5::new();
    md5.update(bytes);
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file and directory under `dir`, relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(rel);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The names directly in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Decodes a key from a listing made with `encoding-type=url`.
pub fn url_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Whether `name` is the name of a store's own temporary directory (32 hex digits).
pub fn is_store_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the path `rel`, relative to `.s3-connector/tmp`, is a store's own directory or
/// its lock file: those live as long as the store, and are no temporary files.
pub fn is_store_dir_or_lock(rel: &str) -> bool {
    match rel.split_once('/') {
        None => is_store_id(rel),
        Some((id, rest)) => is_store_id(id) && rest == "lock",
    }
}

/// The temporary files in the data directory `data`: everything under `.s3-connector/tmp`
/// but the stores' own directories and their lock files.
pub fn temp_files(data: &Path) -> Vec<String> {
    tree(&data.join(".s3-connector/tmp"))
        .into_iter()
        .filter(|rel| !is_store_dir_or_lock(rel))
        .collect()
}

/// The stores' own directories in `.s3-connector/tmp` of `data`.
pub fn store_dirs(data: &Path) -> Vec<String> {
    let tmp = data.join(".s3-connector/tmp");
    names_in(&tmp)
        .into_iter()
        .filter(|name| is_store_id(name) && tmp.join(name).is_dir())
        .collect()
}
