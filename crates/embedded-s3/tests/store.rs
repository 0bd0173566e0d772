//! Focused tests of the store over real HTTP with the real aws-sdk-s3 client: traversal keys
//! stay names, prefix objects coexist, multipart uploads are listed and assembled, ranges,
//! conditions, cut-off bodies, checksums, copies, listing order, s3s-fs data directories,
//! and several stores on one data directory (starting, stopping and dying mid-conversion).

mod support;

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, MetadataDirective};
use aws_sdk_s3::Client;
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};

async fn start(dir: &Path) -> (EmbeddedStore, Client) {
    let store = EmbeddedStore::start(EmbeddedOptions::new(dir)).await.expect("store");
    let client = support::client(&store);
    (store, client)
}

async fn put(client: &Client, bucket: &str, key: &str, content: &[u8]) -> String {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(content.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"))
        .e_tag()
        .unwrap_or_default()
        .to_string()
}

async fn get(client: &Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Some(out.body.collect().await.expect("body").into_bytes().to_vec()),
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_no_such_key(), "get {key:?}: {e:?}");
            None
        }
    }
}

async fn keys(client: &Client, bucket: &str) -> Vec<String> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .expect("list");
    out.contents()
        .iter()
        .map(|o| support::url_decoded(o.key().unwrap_or_default()))
        .collect()
}

/// The S3 error code of a failed request.
fn code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .map(str::to_string)
        .unwrap_or_else(|| "no service error".to_string())
}

/// The HTTP status of a failed request.
fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or_default()
}

const TRAVERSAL: &[&str] = &[
    ".",
    "..",
    "../x",
    "../../etc/passwd",
    "../victim/secret.txt",
    "/x",
    "//",
    "a//b",
    "a/",
    "a/./b",
    "a\0b",
    "\u{1}\u{1f}\u{7f}",
    "../.s3-connector/lock",
];

#[tokio::test]
async fn traversal_keys_are_names() {
    let outer = tempfile::tempdir().expect("tmp");
    let (store, client) = start(&outer.path().join("data")).await;
    for bucket in ["trav", "victim"] {
        client.create_bucket().bucket(bucket).send().await.expect("bucket");
    }
    put(&client, "victim", "secret.txt", b"secret").await;
    assert_eq!(get(&client, "trav", "../victim/secret.txt").await, None);
    for key in TRAVERSAL {
        put(&client, "trav", key, key.as_bytes()).await;
    }
    for key in TRAVERSAL {
        assert_eq!(
            get(&client, "trav", key).await.as_deref(),
            Some(key.as_bytes()),
            "{key:?}"
        );
        let head = client
            .head_object()
            .bucket("trav")
            .key(*key)
            .send()
            .await
            .expect("head");
        assert_eq!(head.content_length(), Some(key.len() as i64));
    }
    let mut want: Vec<String> = TRAVERSAL.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(keys(&client, "trav").await, want);
    assert_eq!(
        get(&client, "victim", "secret.txt").await.as_deref(),
        Some(&b"secret"[..])
    );
    assert_eq!(keys(&client, "victim").await, ["secret.txt"]);
    assert_eq!(support::names_in(outer.path()), ["data"]);
    assert_eq!(support::names_in(store.data_dir()), [".s3-connector", "trav", "victim"]);
    assert_eq!(support::temp_files(store.data_dir()), Vec::<String>::new());
    for key in TRAVERSAL {
        client
            .delete_object()
            .bucket("trav")
            .key(*key)
            .send()
            .await
            .expect("delete");
    }
    assert!(support::tree(&store.data_dir().join("trav")).is_empty());
    assert_eq!(
        get(&client, "victim", "secret.txt").await.as_deref(),
        Some(&b"secret"[..])
    );
}

#[tokio::test]
async fn dot_dot_does_not_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("dots").send().await.expect("bucket");
    assert_eq!(get(&client, "dots", "..").await, None);
    client
        .delete_object()
        .bucket("dots")
        .key("..")
        .send()
        .await
        .expect("delete missing");
    put(&client, "dots", "..", b"up").await;
    assert_eq!(get(&client, "dots", "..").await.as_deref(), Some(&b"up"[..]));
    client
        .delete_object()
        .bucket("dots")
        .key("..")
        .send()
        .await
        .expect("delete");
    assert_eq!(get(&client, "dots", "..").await, None);
    // The store is still serving.
    client.head_bucket().bucket("dots").send().await.expect("head bucket");
}

#[tokio::test]
async fn a_key_and_keys_below_it_coexist() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, client) = start(dir.path()).await;
    client.create_bucket().bucket("pre").send().await.expect("bucket");
    for (first, second) in [("a", "a/b"), ("c/d", "c")] {
        put(&client, "pre", first, first.as_bytes()).await;
        put(&client, "pre", second, second.as_bytes()).await;
        assert_eq!(get(&client, "pre", first).await.as_deref(), Some(first.as_bytes()));
        assert_eq!(get(&client, "pre", second).await.as_deref(), Some(second.as_bytes()));
    }
    assert_eq!(keys(&client, "pre").await, ["a", "a/b", "c", "c/d"]);
    // Each survives deleting the other.
    client
        .delete_object()
        .bucket("pre")
        .key("a")
        .send()
        .await
        .expect("delete");
    assert_eq!(get(&client, "pre", "a").await, None);
    assert_eq!(get(&client, "pre", "a/b").await.as_deref(), Some(&b"a/b"[..]));
    client
        .delete_object()
        .bucket("pre")
        .key("c/d")
        .send()
        .await
        .expect("delete");
    assert_eq!(get(&client, "pre", "c").await.as_deref(), Some(&b"c"[..]));
    assert_eq!(get(&client, "pre", "c/d").await, None);
    assert_eq!(keys(&client, "pre").await, ["a/b", "c"]);
    // The object file became a directory holding it; the sidecar moved along.
    assert!(store.data_dir().join("pre/c/%_").is_file());
    assert!(store.data_dir().join("pre/c/.%_%_m").is_file());
    let head = client.head_object().bucket("pre").key("c").send().await.expect("head");
    assert_eq!(head.e_tag(), Some(format!("\"{}\"", support::md5_hex(b"c")).as_str()));
}

#[tokio::test]
async fn listing_order_is_byte_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("order").send().await.expect("bucket");
    let long = "x".repeat(200);
    let mut all: Vec<String> = vec![
        "a".into(),
        "a/b".into(),
        "a-c".into(),
        "a.d".into(),
        "a0".into(),
        format!("{long}-"),
        format!("{long}/q"),
        format!("{long}z"),
        long.clone(),
        format!("{}é", "x".repeat(199)),
        format!("{}\0", "x".repeat(199)),
    ];
    for key in &all {
        put(&client, "order", key, b"o").await;
    }
    all.sort();
    assert_eq!(keys(&client, "order").await, all);
    // One key per page, resumed with continuation tokens.
    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket("order")
            .max_keys(1)
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        paged.extend(
            out.contents()
                .iter()
                .map(|o| support::url_decoded(o.key().unwrap_or_default())),
        );
        token = out.next_continuation_token().map(str::to_string);
        if out.is_truncated() != Some(true) {
            break;
        }
    }
    assert_eq!(paged, all);
    // With a delimiter: `a-c` and `a.d` come before the common prefix `a/`.
    let out = client
        .list_objects_v2()
        .bucket("order")
        .prefix("a")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let contents: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(contents, ["a", "a-c", "a.d", "a0"]);
    let prefixes: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["a/"]);
    // ListObjects (v1) pages with markers.
    let first = client
        .list_objects()
        .bucket("order")
        .max_keys(2)
        .send()
        .await
        .expect("v1");
    assert_eq!(first.is_truncated(), Some(true));
    let marker = first.next_marker().expect("next marker").to_string();
    assert_eq!(marker, "a-c");
    let rest = client
        .list_objects()
        .bucket("order")
        .marker(&marker)
        .max_keys(2)
        .send()
        .await
        .expect("v1");
    let rest: Vec<&str> = rest.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(rest, ["a.d", "a/b"]);
}

#[tokio::test]
async fn multipart_uploads_are_listed_assembled_and_aborted() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, client) = start(dir.path()).await;
    client.create_bucket().bucket("mpu").send().await.expect("bucket");
    let up = client
        .create_multipart_upload()
        .bucket("mpu")
        .key("big/../file")
        .content_type("text/x-test")
        .metadata("k", "v")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_string();
    let listed = client
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("list uploads");
    assert_eq!(listed.uploads().len(), 1);
    assert_eq!(listed.uploads()[0].key(), Some("big/../file"));
    assert_eq!(listed.uploads()[0].upload_id(), Some(id.as_str()));
    assert!(listed.uploads()[0].initiated().is_some());

    let part1: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let part2 = b"the tail".to_vec();
    let mut tags = Vec::new();
    for (n, part) in [(1, &part1), (2, &part2)] {
        let out = client
            .upload_part()
            .bucket("mpu")
            .key("big/../file")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .expect("part");
        assert_eq!(out.e_tag(), Some(format!("\"{}\"", support::md5_hex(part)).as_str()));
        tags.push(out.e_tag().unwrap_or_default().to_string());
    }
    let parts = client
        .list_parts()
        .bucket("mpu")
        .key("big/../file")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    let sizes: Vec<Option<i64>> = parts.parts().iter().map(|p| p.size()).collect();
    assert_eq!(sizes, [Some(part1.len() as i64), Some(part2.len() as i64)]);

    let completed = |order: &[(i32, &str)]| {
        CompletedMultipartUpload::builder()
            .set_parts(Some(
                order
                    .iter()
                    .map(|(n, t)| CompletedPart::builder().part_number(*n).e_tag(*t).build())
                    .collect(),
            ))
            .build()
    };
    let complete = |upload: CompletedMultipartUpload| {
        client
            .complete_multipart_upload()
            .bucket("mpu")
            .key("big/../file")
            .upload_id(&id)
            .multipart_upload(upload)
            .send()
    };
    let e = complete(completed(&[(2, &tags[1]), (1, &tags[0])]))
        .await
        .expect_err("order");
    assert_eq!(code(&e), "InvalidPartOrder");
    let e = complete(completed(&[(1, &tags[1]), (2, &tags[1])]))
        .await
        .expect_err("etag");
    assert_eq!(code(&e), "InvalidPart");
    let e = complete(completed(&[(1, &tags[0]), (3, &tags[1])]))
        .await
        .expect_err("missing");
    assert_eq!(code(&e), "InvalidPart");
    let done = complete(completed(&[(1, &tags[0]), (2, &tags[1])]))
        .await
        .expect("complete");
    let mut binary = Vec::new();
    for part in [&part1, &part2] {
        use s3s::crypto::{Checksum as _, Md5};
        binary.extend_from_slice(&Md5::checksum(part));
    }
    let want = format!("\"{}-2\"", support::md5_hex(&binary));
    assert_eq!(done.e_tag(), Some(want.as_str()));
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(get(&client, "mpu", "big/../file").await, Some(whole));
    let head = client
        .head_object()
        .bucket("mpu")
        .key("big/../file")
        .send()
        .await
        .expect("head");
    assert_eq!(head.e_tag(), Some(want.as_str()));
    assert_eq!(head.content_type(), Some("text/x-test"));
    assert_eq!(head.metadata().and_then(|m| m.get("k")).map(String::as_str), Some("v"));
    let listed = client
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("list uploads");
    assert!(listed.uploads().is_empty());
    assert!(support::tree(&store.data_dir().join(".s3-connector/uploads")).is_empty());

    // A part too small that is not the last one.
    let small = client
        .create_multipart_upload()
        .bucket("mpu")
        .key("small")
        .send()
        .await
        .expect("create");
    let small_id = small.upload_id().expect("id").to_string();
    let mut small_tags = Vec::new();
    for n in 1..=2 {
        let out = client
            .upload_part()
            .bucket("mpu")
            .key("small")
            .upload_id(&small_id)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .expect("part");
        small_tags.push(out.e_tag().unwrap_or_default().to_string());
    }
    let e = client
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&small_id)
        .multipart_upload(completed(&[(1, &small_tags[0]), (2, &small_tags[1])]))
        .send()
        .await
        .expect_err("too small");
    assert_eq!(code(&e), "EntityTooSmall");

    // Abort removes it; then it is unknown.
    client
        .abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&small_id)
        .send()
        .await
        .expect("abort");
    let listed = client
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("list uploads");
    assert!(listed.uploads().is_empty());
    let e = client
        .abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&small_id)
        .send()
        .await
        .expect_err("abort twice");
    assert_eq!(code(&e), "NoSuchUpload");
    for bogus in ["0123456789abcdef0123456789abcdef", "../../victim", "x"] {
        let e = client
            .upload_part()
            .bucket("mpu")
            .key("small")
            .upload_id(bogus)
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("unknown upload");
        assert_eq!(code(&e), "NoSuchUpload", "{bogus}");
    }
    assert!(support::tree(&store.data_dir().join(".s3-connector/uploads")).is_empty());
    assert!(support::temp_files(store.data_dir()).is_empty());
}

#[tokio::test]
async fn ranged_gets() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("range").send().await.expect("bucket");
    put(&client, "range", "r", b"0123456789").await;
    for (range, want, content_range) in [
        ("bytes=2-5", &b"2345"[..], "bytes 2-5/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ] {
        let out = client
            .get_object()
            .bucket("range")
            .key("r")
            .range(range)
            .send()
            .await
            .expect(range);
        assert_eq!(out.content_range(), Some(content_range), "{range}");
        assert_eq!(out.content_length(), Some(want.len() as i64));
        assert_eq!(
            &out.body.collect().await.expect("body").into_bytes()[..],
            want,
            "{range}"
        );
    }
    let e = client
        .get_object()
        .bucket("range")
        .key("r")
        .range("bytes=10-")
        .send()
        .await
        .expect_err("beyond the end");
    assert_eq!(code(&e), "InvalidRange");
    assert_eq!(status(&e), 416);
}

#[tokio::test]
async fn conditions_on_get_and_delete() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("cond").send().await.expect("bucket");
    let tag = put(&client, "cond", "k", b"v1").await;
    let other = "\"00000000000000000000000000000000\"";
    client
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match(&tag)
        .send()
        .await
        .expect("matching");
    let e = client
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match(other)
        .send()
        .await
        .expect_err("412");
    assert_eq!(status(&e), 412);
    let e = client
        .get_object()
        .bucket("cond")
        .key("k")
        .if_none_match(&tag)
        .send()
        .await
        .expect_err("304");
    assert_eq!(status(&e), 304);
    let e = client
        .delete_object()
        .bucket("cond")
        .key("k")
        .if_match(other)
        .send()
        .await
        .expect_err("412");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(get(&client, "cond", "k").await.as_deref(), Some(&b"v1"[..]));
    let e = client
        .delete_object()
        .bucket("cond")
        .key("missing")
        .if_match(other)
        .send()
        .await
        .expect_err("404");
    assert_eq!(code(&e), "NoSuchKey");
    client
        .delete_object()
        .bucket("cond")
        .key("k")
        .if_match(&tag)
        .send()
        .await
        .expect("delete");
    assert_eq!(get(&client, "cond", "k").await, None);
    // Conditional puts.
    put(&client, "cond", "p", b"first").await;
    let e = client
        .put_object()
        .bucket("cond")
        .key("p")
        .if_none_match("*")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(&e), "PreconditionFailed");
    let e = client
        .put_object()
        .bucket("cond")
        .key("p")
        .if_match(other)
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .expect_err("changed");
    assert_eq!(code(&e), "PreconditionFailed");
    assert_eq!(get(&client, "cond", "p").await.as_deref(), Some(&b"first"[..]));
    let e = client
        .put_object()
        .bucket("nonexistent-bucket")
        .key("p")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no bucket");
    assert_eq!(code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn digests_and_checksums_are_verified_and_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, client) = start(dir.path()).await;
    client.create_bucket().bucket("sums").send().await.expect("bucket");
    let e = client
        .put_object()
        .bucket("sums")
        .key("md5")
        .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .body(ByteStream::from_static(b"content"))
        .send()
        .await
        .expect_err("bad md5");
    assert_eq!(code(&e), "BadDigest");
    let e = client
        .put_object()
        .bucket("sums")
        .key("crc")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"content"))
        .send()
        .await
        .expect_err("bad crc32");
    assert_eq!(code(&e), "BadDigest");
    assert_eq!(get(&client, "sums", "md5").await, None);
    assert_eq!(get(&client, "sums", "crc").await, None);
    // A CRC32 sent as an aws-chunked trailer is verified and stored.
    let chunked = support::client_with(&store, RequestChecksumCalculation::WhenSupported);
    let out = chunked
        .put_object()
        .bucket("sums")
        .key("trailer")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"checked content"))
        .send()
        .await
        .expect("put with trailer");
    let crc = out.checksum_crc32().expect("crc32").to_string();
    let head = client
        .head_object()
        .bucket("sums")
        .key("trailer")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(head.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(
        get(&client, "sums", "trailer").await.as_deref(),
        Some(&b"checked content"[..])
    );
    assert!(support::temp_files(store.data_dir()).is_empty());
}

#[tokio::test]
async fn copies() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("copy").send().await.expect("bucket");
    let tag = client
        .put_object()
        .bucket("copy")
        .key("src")
        .content_type("text/plain")
        .metadata("m", "1")
        .body(ByteStream::from_static(b"copied bytes"))
        .send()
        .await
        .expect("put")
        .e_tag()
        .unwrap_or_default()
        .to_string();
    let out = client
        .copy_object()
        .bucket("copy")
        .key("../dst")
        .copy_source("copy/src")
        .copy_source_if_match(&tag)
        .send()
        .await
        .expect("copy");
    let result = out.copy_object_result().expect("result");
    assert_eq!(result.e_tag(), Some(tag.as_str()));
    let head = client
        .head_object()
        .bucket("copy")
        .key("../dst")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.metadata().and_then(|m| m.get("m")).map(String::as_str), Some("1"));
    let e = client
        .copy_object()
        .bucket("copy")
        .key("dst2")
        .copy_source("copy/src")
        .copy_source_if_match("\"00000000000000000000000000000000\"")
        .send()
        .await
        .expect_err("412");
    assert_eq!(code(&e), "PreconditionFailed");
    let e = client
        .copy_object()
        .bucket("copy")
        .key("src")
        .copy_source("copy/src")
        .send()
        .await
        .expect_err("onto itself unchanged");
    assert_eq!(code(&e), "InvalidRequest");
    client
        .copy_object()
        .bucket("copy")
        .key("src")
        .copy_source("copy/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/csv")
        .send()
        .await
        .expect("onto itself, replacing metadata");
    let head = client
        .head_object()
        .bucket("copy")
        .key("src")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("text/csv"));
    assert_eq!(head.metadata().map(|m| m.len()).unwrap_or_default(), 0);
    assert_eq!(get(&client, "copy", "src").await.as_deref(), Some(&b"copied bytes"[..]));
}

#[tokio::test]
async fn buckets() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    for b in ["zeta", "alpha", "mid"] {
        client.create_bucket().bucket(b).send().await.expect("bucket");
    }
    let names: Vec<String> = client
        .list_buckets()
        .send()
        .await
        .expect("list")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    let e = client.create_bucket().bucket("mid").send().await.expect_err("exists");
    assert_eq!(code(&e), "BucketAlreadyOwnedByYou");
    put(&client, "mid", "k/k", b"x").await;
    let e = client
        .delete_bucket()
        .bucket("mid")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(code(&e), "BucketNotEmpty");
    client
        .delete_object()
        .bucket("mid")
        .key("k/k")
        .send()
        .await
        .expect("delete");
    client
        .delete_bucket()
        .bucket("mid")
        .send()
        .await
        .expect("delete bucket");
    let e = client.delete_bucket().bucket("mid").send().await.expect_err("gone");
    assert_eq!(code(&e), "NoSuchBucket");
    assert!(client.head_bucket().bucket("mid").send().await.is_err());
}

/// How long a presigned request made here stays valid.
fn presigning() -> aws_sdk_s3::presigning::PresigningConfig {
    aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).expect("config")
}

/// Connects to the store and sends the head of the PUT `presigned`, announcing `length` body
/// bytes, with `Connection: close` so that the answer ends with the connection. The caller sends
/// the body, or not all of it.
async fn send_put_head(presigned: &aws_sdk_s3::presigning::PresignedRequest, length: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let uri: http::Uri = presigned.uri().parse().expect("uri");
    let authority = uri.authority().expect("authority").to_string();
    let mut request = format!(
        "PUT {} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {length}\r\nConnection: close\r\n",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    for (name, value) in presigned.headers() {
        if !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("content-length") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("\r\n");
    let mut socket = tokio::net::TcpStream::connect(&authority).await.expect("connect");
    socket.write_all(request.as_bytes()).await.expect("send head");
    socket
}

/// Sends a PUT whose body stops after 100 of its announced 1000 bytes.
async fn cut_off_put(client: &Client, bucket: &str, key: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let presigned = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .presigned(presigning())
        .await
        .expect("presign");
    let mut socket = send_put_head(&presigned, 1000).await;
    socket.write_all(&[b'z'; 100]).await.expect("send some body");
    socket.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
}

#[tokio::test]
async fn a_cut_off_body_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, client) = start(dir.path()).await;
    client.create_bucket().bucket("cut").send().await.expect("bucket");
    put(&client, "cut", "kept", b"original").await;
    cut_off_put(&client, "cut", "new/object").await;
    cut_off_put(&client, "cut", "kept").await;
    for _ in 0..100 {
        if support::temp_files(store.data_dir()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = support::temp_files(store.data_dir());
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(get(&client, "cut", "new/object").await, None);
    assert_eq!(get(&client, "cut", "kept").await.as_deref(), Some(&b"original"[..]));
    assert_eq!(keys(&client, "cut").await, ["kept"]);
    assert_eq!(support::tree(&store.data_dir().join("cut")), [".kept%_m", "kept"]);
}

#[tokio::test]
async fn reads_a_data_dir_written_by_s3s_fs() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    std::fs::create_dir_all(data.join("legacy/docs")).expect("mkdir");
    std::fs::write(data.join("legacy/docs/report.txt"), b"legacy report").expect("write");
    std::fs::write(
        data.join(format!(
            ".bucket-{}.object-{}.metadata.json",
            b64("legacy"),
            b64("docs/report.txt")
        )),
        br#"{"user_metadata":{"owner":"s3s-fs"},"content_type":"text/plain"}"#,
    )
    .expect("write");
    std::fs::write(
        data.join(format!(
            ".bucket-{}.object-{}.internal.json",
            b64("legacy"),
            b64("docs/report.txt")
        )),
        format!(r#"{{"e_tag":"{}"}}"#, support::md5_hex(b"legacy report")),
    )
    .expect("write");
    std::fs::write(data.join("legacy/plain.bin"), b"no metadata at all").expect("write");
    // Left by s3s-fs or by hand: no object of ours has these names.
    std::fs::write(data.join("legacy/stray%name"), b"?").expect("write");
    std::fs::write(data.join(".upload-0000.json"), b"null").expect("write");
    let (_store, client) = start(data).await;
    let head = client
        .head_object()
        .bucket("legacy")
        .key("docs/report.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("owner")).map(String::as_str),
        Some("s3s-fs")
    );
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", support::md5_hex(b"legacy report")).as_str())
    );
    assert_eq!(
        get(&client, "legacy", "docs/report.txt").await.as_deref(),
        Some(&b"legacy report"[..])
    );
    let plain = client
        .head_object()
        .bucket("legacy")
        .key("plain.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(
        plain.e_tag(),
        Some(format!("\"{}\"", support::md5_hex(b"no metadata at all")).as_str())
    );
    assert_eq!(keys(&client, "legacy").await, ["docs/report.txt", "plain.bin"]);
    let names: Vec<String> = client
        .list_buckets()
        .send()
        .await
        .expect("buckets")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, ["legacy"]);
    // Overwriting an old object gives it a sidecar; its s3s-fs metadata goes.
    put(&client, "legacy", "docs/report.txt", b"new").await;
    let head = client
        .head_object()
        .bucket("legacy")
        .key("docs/report.txt")
        .send()
        .await
        .expect("head");
    assert_ne!(head.content_type(), Some("text/plain"));
    assert!(head.metadata().is_none_or(|m| m.is_empty()));
    assert!(!data
        .join(format!(
            ".bucket-{}.object-{}.metadata.json",
            b64("legacy"),
            b64("docs/report.txt")
        ))
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_share_one_data_dir() {
    // Two stores on one directory have separate bucket mutexes, as two processes would:
    // only the lock file keeps their conversions and renames apart.
    let dir = tempfile::tempdir().expect("tmp");
    let (_one, client_one) = start(dir.path()).await;
    let (_two, client_two) = start(dir.path()).await;
    client_one
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .expect("bucket");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = if i % 2 == 0 {
            client_one.clone()
        } else {
            client_two.clone()
        };
        tasks.push(tokio::spawn(async move {
            // `p{n}` and `p{n}/q` race: each needs the other's path as file or directory.
            let key = if i % 4 < 2 {
                format!("p{}", i / 4)
            } else {
                format!("p{}/q", i / 4)
            };
            put(&client, "shared", &key, key.as_bytes()).await;
            key
        }));
    }
    let mut want = Vec::new();
    for task in tasks {
        want.push(task.await.expect("task"));
    }
    want.sort();
    want.dedup();
    assert_eq!(keys(&client_two, "shared").await, want);
    for key in &want {
        assert_eq!(get(&client_one, "shared", key).await.as_deref(), Some(key.as_bytes()));
    }
}

/// An UploadPart sent by hand: the request head and the first `first` bytes of `body` go
/// out now; [`finish_part_upload`] sends the rest. `Connection: close`, so that the answer
/// ends with the connection.
async fn start_part_upload(
    client: &Client,
    (bucket, key, upload_id): (&str, &str, &str),
    part_number: i32,
    body: &[u8],
    first: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let presigned = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(part_number)
        .presigned(presigning())
        .await
        .expect("presign");
    let mut socket = send_put_head(&presigned, body.len()).await;
    socket.write_all(&body[..first]).await.expect("send some body");
    socket.flush().await.expect("flush");
    socket
}

/// Sends the rest of a part started with [`start_part_upload`]; gives the answer's status
/// line and ETag.
async fn finish_part_upload(mut socket: tokio::net::TcpStream, rest: &[u8]) -> (String, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    socket.write_all(rest).await.expect("send the rest");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let e_tag = answer
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("etag")))
        .map(|(_, v)| v.trim().to_string());
    (status, e_tag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starting_a_second_store_leaves_the_first_ones_uploads_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let (one, client_one) = start(dir.path()).await;
    client_one.create_bucket().bucket("live").send().await.expect("bucket");
    let upload = client_one
        .create_multipart_upload()
        .bucket("live")
        .key("big")
        .send()
        .await
        .expect("create");
    let id = upload.upload_id().expect("id").to_string();
    let part1: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let tag1 = client_one
        .upload_part()
        .bucket("live")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(part1.clone()))
        .send()
        .await
        .expect("part 1")
        .e_tag()
        .unwrap_or_default()
        .to_string();
    // Part 2 is under way: half of it is in a temporary file of the first store.
    let part2: Vec<u8> = (0..1024 * 1024).map(|i| (i % 241) as u8).collect();
    let half = part2.len() / 2;
    let socket = start_part_upload(&client_one, ("live", "big", &id), 2, &part2, half).await;
    for _ in 0..200 {
        if !support::temp_files(one.data_dir()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let in_flight = support::temp_files(one.data_dir());
    assert_eq!(in_flight.len(), 1, "{in_flight:?}");

    let (two, client_two) = start(dir.path()).await;
    assert_eq!(support::temp_files(two.data_dir()), in_flight);
    assert_eq!(support::store_dirs(two.data_dir()).len(), 2);
    // Both serve the directory.
    put(&client_two, "live", "from-two", b"second store").await;
    assert_eq!(
        get(&client_one, "live", "from-two").await.as_deref(),
        Some(&b"second store"[..])
    );

    let (status, tag2) = finish_part_upload(socket, &part2[half..]).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let tag2 = tag2.expect("an ETag");
    assert_eq!(tag2, format!("\"{}\"", support::md5_hex(&part2)));
    let parts = [(1, tag1), (2, tag2)]
        .into_iter()
        .map(|(n, tag)| CompletedPart::builder().part_number(n).e_tag(tag).build())
        .collect();
    client_one
        .complete_multipart_upload()
        .bucket("live")
        .key("big")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    let mut whole = part1;
    whole.extend_from_slice(&part2);
    assert_eq!(get(&client_two, "live", "big").await, Some(whole));
    assert!(support::temp_files(one.data_dir()).is_empty());
}

/// Renames `from` to `to` under the data directory `data`, as a crash may have left it.
fn rename_in(data: &Path, from: &str, to: &str) {
    std::fs::rename(data.join(from), data.join(to)).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
}

#[tokio::test]
async fn a_conversion_cut_short_is_finished_and_gone_stores_are_cleared() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = std::fs::canonicalize(dir.path()).expect("canonical");
    let content = |n: usize| -> Vec<u8> { (0..100_000).map(|i| ((i * n) % 253) as u8).collect() };
    {
        let (store, client) = start(&data).await;
        client.create_bucket().bucket("conv").send().await.expect("bucket");
        for n in 1..=5 {
            client
                .put_object()
                .bucket("conv")
                .key(format!("k{n}"))
                .content_type(format!("text/x-k{n}"))
                .metadata("n", n.to_string())
                .body(ByteStream::from(content(n)))
                .send()
                .await
                .expect("put");
        }
        drop(client);
        drop(store);
    }
    // A store that has stopped removes its temporary directory once its last request is done.
    for _ in 0..200 {
        if support::store_dirs(&data).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(support::store_dirs(&data), Vec::<String>::new());

    // A store died in the middle of four conversions, each at another step: it had parked
    // `k1`; parked `k2` and made its directory; also moved `k3`'s sidecar; and parked `k5`,
    // which another store has written again since.
    let tmp = data.join(".s3-connector/tmp");
    let gone = tmp.join("0000000000000000000000000000dead");
    std::fs::create_dir_all(&gone).expect("mkdir");
    std::fs::write(gone.join("lock"), b"").expect("lock");
    std::fs::write(gone.join("0123456789abcdef0123456789abcdef"), b"half a body").expect("temp");
    for n in [1, 2, 3, 5] {
        std::fs::write(gone.join(format!("convert-{n}")), format!("conv/k{n}")).expect("note");
    }
    std::fs::write(gone.join("convert-bad"), "../../outside").expect("note");
    rename_in(&data, "conv/k1", "conv/k1%_c");
    rename_in(&data, "conv/k2", "conv/k2%_c");
    std::fs::create_dir(data.join("conv/k2")).expect("mkdir");
    rename_in(&data, "conv/k3", "conv/k3%_c");
    std::fs::create_dir(data.join("conv/k3")).expect("mkdir");
    rename_in(&data, "conv/.k3%_m", "conv/k3/.%_%_m");
    std::fs::copy(data.join("conv/k5"), data.join("conv/k5%_c")).expect("copy");
    std::fs::write(data.join("conv/k5"), b"written again").expect("write");
    std::fs::remove_file(data.join("conv/.k5%_m")).expect("remove");
    // Parked with no note to say so (a store that died in another way): found when asked for.
    rename_in(&data, "conv/k4", "conv/k4%_c");
    // A store that is running: its directory is locked and stays.
    let running = tmp.join("0000000000000000000000000000a11e");
    std::fs::create_dir_all(&running).expect("mkdir");
    let lock = std::fs::File::create(running.join("lock")).expect("lock");
    lock.lock().expect("take the lock");
    std::fs::write(running.join("fedcba9876543210fedcba9876543210"), b"in flight").expect("temp");
    // A store that died before it could lock its directory.
    let unlocked = tmp.join("00000000000000000000000000000001");
    std::fs::create_dir_all(&unlocked).expect("mkdir");
    std::fs::write(unlocked.join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), b"?").expect("temp");
    // A temporary file of an earlier version, which kept them straight in tmp/.
    std::fs::write(tmp.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), b"old").expect("old temp");

    let (store, client) = start(&data).await;
    assert!(!gone.exists() && !unlocked.exists());
    assert!(running.join("fedcba9876543210fedcba9876543210").is_file());
    assert!(tmp.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").is_file());
    assert_eq!(support::store_dirs(&data).len(), 2);
    assert!(data.join("../../outside").symlink_metadata().is_err());
    assert_eq!(store.data_dir(), data);
    assert_eq!(
        support::tree(&data.join("conv")),
        [
            ".k1%_m",
            ".k4%_m",
            "k1",
            "k2",
            "k2/%_",
            "k2/.%_%_m",
            "k3",
            "k3/%_",
            "k3/.%_%_m",
            "k4%_c",
            "k5"
        ]
    );
    // Listings skip the parked name.
    assert_eq!(keys(&client, "conv").await, ["k1", "k2", "k3", "k5"]);
    for n in 1..=4 {
        let key = format!("k{n}");
        assert_eq!(get(&client, "conv", &key).await, Some(content(n)), "{key}");
        let head = client
            .head_object()
            .bucket("conv")
            .key(&key)
            .send()
            .await
            .expect("head");
        assert_eq!(head.content_type(), Some(format!("text/x-k{n}").as_str()), "{key}");
        assert_eq!(
            head.metadata().and_then(|m| m.get("n")).cloned(),
            Some(n.to_string()),
            "{key}"
        );
    }
    assert_eq!(get(&client, "conv", "k5").await.as_deref(), Some(&b"written again"[..]));
    assert_eq!(keys(&client, "conv").await, ["k1", "k2", "k3", "k4", "k5"]);
    // A conversion now goes through to the end and leaves no note.
    put(&client, "conv", "k1/below", b"below").await;
    assert_eq!(get(&client, "conv", "k1").await, Some(content(1)));
    assert!(data.join("conv/k1/%_").is_file() && !data.join("conv/k1%_c").exists());
    let own: Vec<String> = support::tree(&tmp)
        .into_iter()
        .filter(|rel| !rel.starts_with("0000000000000000000000000000a11e"))
        .collect();
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own.iter().all(|rel| !rel.contains("convert-")), "{own:?}");

    // A store dies mid-conversion while this one runs, leaving a bucket whose only object is
    // parked: the bucket is not empty, and the object is still there.
    client.create_bucket().bucket("lone").send().await.expect("bucket");
    put(&client, "lone", "x", b"the only object").await;
    rename_in(&data, "lone/x", "lone/x%_c");
    let gone = tmp.join("000000000000000000000000000dead2");
    std::fs::create_dir_all(&gone).expect("mkdir");
    std::fs::write(gone.join("lock"), b"").expect("lock");
    std::fs::write(gone.join("convert-1"), "lone/x").expect("note");
    let e = client
        .delete_bucket()
        .bucket("lone")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(code(&e), "BucketNotEmpty");
    assert!(!gone.exists());
    assert_eq!(keys(&client, "lone").await, ["x"]);
    assert_eq!(
        get(&client, "lone", "x").await.as_deref(),
        Some(&b"the only object"[..])
    );
    // Parked with no note at all (its store died before writing one survived): still not
    // empty, and reading the key restores it.
    rename_in(&data, "lone/x", "lone/x%_c");
    let e = client
        .delete_bucket()
        .bucket("lone")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(code(&e), "BucketNotEmpty");
    assert!(data.join("lone/x%_c").is_file(), "the parked object is kept");
    assert_eq!(
        get(&client, "lone", "x").await.as_deref(),
        Some(&b"the only object"[..])
    );
    drop(lock);
}

#[tokio::test]
async fn multipart_uploads_page_with_a_delimiter() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("pages").send().await.expect("bucket");
    let mut plain = Vec::new();
    for key in ["a", "a-b", "a/1", "a/2", "a/2", "a/3/deep", "b/1", "b/2", "c", "c", "d"] {
        let out = client
            .create_multipart_upload()
            .bucket("pages")
            .key(key)
            .send()
            .await
            .expect("create");
        if !key.contains('/') {
            plain.push((key.to_string(), out.upload_id().expect("id").to_string()));
        }
    }
    let (mut uploads, mut prefixes) = (Vec::new(), Vec::new());
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 20, "still paging: {uploads:?} {prefixes:?}");
        let out = client
            .list_multipart_uploads()
            .bucket("pages")
            .delimiter("/")
            .max_uploads(1)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .expect("list uploads");
        assert!(out.uploads().len() + out.common_prefixes().len() <= 1);
        for u in out.uploads() {
            uploads.push((
                u.key().unwrap_or_default().to_string(),
                u.upload_id().unwrap_or_default().to_string(),
            ));
        }
        for p in out.common_prefixes() {
            prefixes.push(p.prefix().unwrap_or_default().to_string());
        }
        if out.is_truncated() != Some(true) {
            break;
        }
        key_marker = out.next_key_marker().map(str::to_string);
        id_marker = out.next_upload_id_marker().map(str::to_string);
        assert!(key_marker.is_some(), "a truncated page without a key marker");
    }
    // In order: `a`, `a-b`, `a/`, `b/`, `c` twice, `d`.
    assert_eq!(uploads, plain);
    assert_eq!(prefixes, ["a/", "b/"]);
    assert_eq!(pages, 7);
    // Without a delimiter every upload comes once, in key order, pages resumed by ID.
    let mut all = Vec::new();
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    for _ in 0..20 {
        let out = client
            .list_multipart_uploads()
            .bucket("pages")
            .max_uploads(2)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .expect("list uploads");
        all.extend(out.uploads().iter().map(|u| u.key().unwrap_or_default().to_string()));
        if out.is_truncated() != Some(true) {
            key_marker = None;
            break;
        }
        key_marker = out.next_key_marker().map(str::to_string);
        id_marker = out.next_upload_id_marker().map(str::to_string);
    }
    assert!(key_marker.is_none(), "still paging: {all:?}");
    assert_eq!(
        all,
        ["a", "a-b", "a/1", "a/2", "a/2", "a/3/deep", "b/1", "b/2", "c", "c", "d"]
    );
}

#[tokio::test]
async fn objects_keep_tags_through_puts_copies_and_multipart_uploads() {
    use aws_sdk_s3::types::{Tag, Tagging, TaggingDirective};
    let dir = tempfile::tempdir().expect("dir");
    let (_store, client) = start(dir.path()).await;
    client.create_bucket().bucket("tags").send().await.expect("bucket");
    let tag_set = |key: &str| {
        let client = client.clone();
        let key = key.to_string();
        async move {
            let out = client
                .get_object_tagging()
                .bucket("tags")
                .key(&key)
                .send()
                .await
                .expect("get tagging");
            let mut pairs: Vec<(String, String)> = out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            pairs.sort();
            pairs
        }
    };
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };

    client
        .put_object()
        .bucket("tags")
        .key("a.txt")
        .tagging("team=ops&note=a%20b")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .expect("put with tags");
    assert_eq!(tag_set("a.txt").await, pairs(&[("note", "a b"), ("team", "ops")]));
    let got = client
        .get_object()
        .bucket("tags")
        .key("a.txt")
        .send()
        .await
        .expect("get");
    assert_eq!(got.tag_count(), Some(2));
    let etag = got.e_tag().map(str::to_string);

    // Replacing the tags rewrites neither the content nor the ETag.
    client
        .put_object_tagging()
        .bucket("tags")
        .key("a.txt")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("stage").value("done").build().expect("tag"))
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("put tagging");
    assert_eq!(tag_set("a.txt").await, pairs(&[("stage", "done")]));
    let head = client
        .head_object()
        .bucket("tags")
        .key("a.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(head.e_tag().map(str::to_string), etag);
    assert_eq!(get(&client, "tags", "a.txt").await.as_deref(), Some(&b"hello"[..]));

    // A copy keeps the source's tags unless told to replace them.
    client
        .copy_object()
        .bucket("tags")
        .key("kept.txt")
        .copy_source("tags/a.txt")
        .send()
        .await
        .expect("copy");
    assert_eq!(tag_set("kept.txt").await, pairs(&[("stage", "done")]));
    client
        .copy_object()
        .bucket("tags")
        .key("replaced.txt")
        .copy_source("tags/a.txt")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("copy=yes")
        .send()
        .await
        .expect("copy replacing tags");
    assert_eq!(tag_set("replaced.txt").await, pairs(&[("copy", "yes")]));

    // Tags given when a multipart upload starts are the object's when it completes.
    let created = client
        .create_multipart_upload()
        .bucket("tags")
        .key("big.bin")
        .tagging("kind=upload")
        .send()
        .await
        .expect("create");
    let id = created.upload_id().expect("id");
    let part = client
        .upload_part()
        .bucket("tags")
        .key("big.bin")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .expect("part");
    client
        .complete_multipart_upload()
        .bucket("tags")
        .key("big.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    assert_eq!(tag_set("big.bin").await, pairs(&[("kind", "upload")]));

    client
        .delete_object_tagging()
        .bucket("tags")
        .key("a.txt")
        .send()
        .await
        .expect("delete tagging");
    assert_eq!(tag_set("a.txt").await, pairs(&[]));

    // Bad tags are refused before anything is written; a missing object has no tags.
    let bad = client
        .put_object()
        .bucket("tags")
        .key("bad.txt")
        .tagging("a=1&a=2")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("a key twice");
    assert_eq!(code(&bad), "InvalidTag");
    assert_eq!(get(&client, "tags", "bad.txt").await, None);
    let missing = client
        .get_object_tagging()
        .bucket("tags")
        .key("nothing")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&missing), "NoSuchKey");
}
