//! Property test: random operations on keys biased to the nasty cases (`..`, `/x`, NUL,
//! `%_`, prefixes of each other, 200-255 byte segments, 1024-byte keys), driven through the
//! real aws-sdk-s3 client over HTTP, agree with a `BTreeMap` after every step, and nothing
//! ever appears outside the data directory.
//!
//! `PROPTEST_CASES` sets the number of cases (default 32).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, EncodingType, ObjectIdentifier};
use aws_sdk_s3::Client;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestCaseError;
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};

/// One server for the whole run; every case gets a fresh bucket.
struct Harness {
    rt: tokio::runtime::Runtime,
    _store: EmbeddedStore,
    client: Client,
    /// Holds the data directory `data` and must hold nothing else.
    outer: tempfile::TempDir,
    data: PathBuf,
    cases: AtomicUsize,
}

const VICTIM: &str = "victim";
const SECRET: &[u8] = b"the victim's secret";

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let outer = tempfile::tempdir().expect("temp dir");
        let store = rt
            .block_on(EmbeddedStore::start(EmbeddedOptions::new(outer.path().join("data"))))
            .expect("store");
        let data = store.data_dir().to_path_buf();
        let client = support::client(&store);
        rt.block_on(async {
            client
                .create_bucket()
                .bucket(VICTIM)
                .send()
                .await
                .expect("victim bucket");
            client
                .put_object()
                .bucket(VICTIM)
                .key("secret.txt")
                .body(ByteStream::from_static(SECRET))
                .send()
                .await
                .expect("victim secret");
        });
        Harness {
            rt,
            _store: store,
            client,
            outer,
            data,
            cases: AtomicUsize::new(0),
        }
    })
}

const NASTY: &[&str] = &[
    ".",
    "..",
    "../x",
    "../../etc/passwd",
    "../victim/secret.txt",
    "../.s3-connector/tmp/x",
    "/x",
    "/",
    "//",
    "a//b",
    "a/",
    "a/./b",
    "x/..",
    "x/../..",
    "a\0b",
    "\u{1}ctl\u{1f}",
    "\u{7f}",
    "tab\there\nnewline",
    "%",
    "%25",
    "%_",
    "x%+",
    "%-",
    "%2E%2E",
    "a/%_",
    ".a%_m",
    "a",
    "a/b",
    "a/b/c",
    "a-c",
    "a/b-c",
    "a.",
    "日本語/ファイル",
    "ü/ß",
];

fn segment() -> impl Strategy<Value = String> {
    let pieces = select(vec![
        "", ".", "..", "a", "b", "-", "%", "%25", "%_", "%+", "%-", "\0", "\t", "\u{7f}", "é", "日本", " ", "+", "?#",
    ]);
    prop::collection::vec(pieces, 1..3).prop_map(|p| p.concat())
}

/// A segment around the 200-byte chunk size, with an ending that sorts before, after or at
/// the `/` of a sibling.
fn long_key() -> impl Strategy<Value = String> {
    let unit = select(vec!["x", "é", "\0", "%", ".", "日"]);
    let bytes = prop_oneof![3 => Just(200usize), 1 => 195usize..=262];
    let end = select(vec!["", "-", "z", "/q", "..", "/", "\0", ".", "/r/s"]);
    (unit, bytes, end).prop_map(|(unit, bytes, end)| format!("{}{end}", unit.repeat(bytes / unit.len())))
}

/// A key of exactly 1024 bytes (S3's maximum).
fn max_key() -> impl Strategy<Value = String> {
    let piece = select(vec![
        "a/",
        "%",
        "\0",
        "é",
        "..",
        "/",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "日",
        "../",
    ]);
    prop::collection::vec(piece, 1..40).prop_map(|pieces| {
        let mut key = String::new();
        for p in pieces.iter().cycle().take(4000) {
            if key.len() + p.len() > 1024 {
                break;
            }
            key.push_str(p);
        }
        while key.len() < 1024 {
            key.push('y');
        }
        key
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(NASTY.to_vec()).prop_map(str::to_string),
        4 => prop::collection::vec(segment(), 1..4).prop_map(|s| s.join("/")),
        2 => long_key(),
        1 => max_key(),
    ]
    // aws-sdk-s3 refuses to send a key of only whitespace (it trims the `Key` endpoint
    // parameter); S3 itself takes any 1 to 1024 bytes.
    .prop_filter("S3 keys the SDK sends", |k| !k.trim().is_empty() && k.len() <= 1024)
}

#[derive(Debug, Clone)]
enum PrefixChoice {
    Empty,
    Fixed(&'static str),
    /// The first bytes of a key of the pool, cut at a character boundary.
    OfKey(Index, Index),
}

#[derive(Debug, Clone)]
enum Op {
    Put(Index, Vec<u8>),
    Get(Index),
    Head(Index),
    Delete(Index),
    DeleteMany(Vec<Index>, bool),
    List {
        prefix: PrefixChoice,
        delimiter: Option<&'static str>,
        max_keys: i32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let prefix = prop_oneof![
        1 => Just(PrefixChoice::Empty),
        1 => select(vec!["a", "a/", "x", "%", ".", "/", "xxxxxxxxxx"]).prop_map(PrefixChoice::Fixed),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(k, c)| PrefixChoice::OfKey(k, c)),
    ];
    let delimiter = prop_oneof![
        2 => Just(None),
        3 => Just(Some("/")),
        1 => select(vec!["-", "b", "%", "/b", "xx", "é", "\0"]).prop_map(Some),
    ];
    let max_keys = prop_oneof![3 => 1i32..=4, 1 => Just(1000)];
    prop_oneof![
        5 => (any::<Index>(), prop::collection::vec(any::<u8>(), 0..48)).prop_map(|(k, c)| Op::Put(k, c)),
        2 => any::<Index>().prop_map(Op::Get),
        1 => any::<Index>().prop_map(Op::Head),
        2 => any::<Index>().prop_map(Op::Delete),
        1 => (prop::collection::vec(any::<Index>(), 1..5), any::<bool>()).prop_map(|(k, q)| Op::DeleteMany(k, q)),
        3 => (prefix, delimiter, max_keys).prop_map(|(prefix, delimiter, max_keys)| Op::List { prefix, delimiter, max_keys }),
    ]
}

fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

/// What a full listing should give: keys and common prefixes in order.
fn expected_listing(model: &BTreeMap<String, Vec<u8>>, prefix: &str, delimiter: Option<&str>) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for key in model.keys().filter(|k| k.starts_with(prefix)) {
        match delimiter.and_then(|d| key[prefix.len()..].find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                let common = key[..prefix.len() + i + d.len()].to_string();
                if out.last().is_none_or(|(is_prefix, p)| !*is_prefix || *p != common) {
                    out.push((true, common));
                }
            }
            None => out.push((false, key.clone())),
        }
    }
    out
}

async fn list_all(
    client: &Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
    model: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<(bool, String)>, TestCaseError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..2000 {
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .max_keys(max_keys)
            .encoding_type(EncodingType::Url)
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| fail(format!("list {prefix:?} {delimiter:?}: {e:?}")))?;
        let mut page: Vec<(bool, String)> = Vec::new();
        for object in out.contents() {
            let key = support::url_decoded(object.key().unwrap_or_default());
            let content = model
                .get(&key)
                .ok_or_else(|| fail(format!("listed {key:?}, which does not exist")))?;
            prop_assert_eq!(object.size(), Some(content.len() as i64), "size of {:?}", key);
            let e_tag = format!("\"{}\"", support::md5_hex(content));
            prop_assert_eq!(object.e_tag(), Some(e_tag.as_str()), "ETag of {:?}", key);
            page.push((false, key));
        }
        prop_assert!(
            page.windows(2).all(|w| w[0].1 < w[1].1),
            "contents out of order: {:?}",
            page
        );
        for common in out.common_prefixes() {
            page.push((true, support::url_decoded(common.prefix().unwrap_or_default())));
        }
        prop_assert_eq!(out.key_count(), Some(page.len() as i32));
        prop_assert!(
            page.len() <= max_keys as usize,
            "page of {} for max_keys {}",
            page.len(),
            max_keys
        );
        page.sort_by(|a, b| a.1.cmp(&b.1));
        all.extend(page);
        if out.is_truncated() == Some(true) {
            token = out.next_continuation_token().map(str::to_string);
            prop_assert!(token.is_some(), "truncated without a token");
        } else {
            return Ok(all);
        }
    }
    Err(fail("listing never ended"))
}

fn resolve_prefix(choice: &PrefixChoice, pool: &[String]) -> String {
    match choice {
        PrefixChoice::Empty => String::new(),
        PrefixChoice::Fixed(p) => p.to_string(),
        PrefixChoice::OfKey(k, cut) => {
            let key = k.get(pool);
            let bounds: Vec<usize> = (0..=key.len()).filter(|i| key.is_char_boundary(*i)).collect();
            key[..*cut.get(&bounds)].to_string()
        }
    }
}

async fn run_case(h: &Harness, pool: Vec<String>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let client = &h.client;
    let bucket = format!("prop-{}", h.cases.fetch_add(1, Ordering::SeqCst));
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?;
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for op in &ops {
        match op {
            Op::Put(k, content) => {
                let key = k.get(&pool);
                let out = client
                    .put_object()
                    .bucket(&bucket)
                    .key(key)
                    .body(ByteStream::from(content.clone()))
                    .send()
                    .await
                    .map_err(|e| fail(format!("put {key:?}: {e:?}")))?;
                let e_tag = format!("\"{}\"", support::md5_hex(content));
                prop_assert_eq!(out.e_tag(), Some(e_tag.as_str()));
                model.insert(key.clone(), content.clone());
            }
            Op::Get(k) => {
                let key = k.get(&pool);
                let got = client.get_object().bucket(&bucket).key(key).send().await;
                match (got, model.get(key)) {
                    (Ok(out), Some(want)) => {
                        let body = out.body.collect().await.map_err(|e| fail(format!("{e:?}")))?;
                        prop_assert_eq!(&body.into_bytes()[..], &want[..], "content of {:?}", key);
                    }
                    (Err(e), None) => {
                        let e = e.into_service_error();
                        prop_assert!(e.is_no_such_key(), "get {:?}: {:?}", key, e);
                    }
                    (Ok(_), None) => return Err(fail(format!("got {key:?}, which does not exist"))),
                    (Err(e), Some(_)) => return Err(fail(format!("get {key:?}: {e:?}"))),
                }
            }
            Op::Head(k) => {
                let key = k.get(&pool);
                let got = client.head_object().bucket(&bucket).key(key).send().await;
                match (got, model.get(key)) {
                    (Ok(out), Some(want)) => {
                        prop_assert_eq!(out.content_length(), Some(want.len() as i64), "size of {:?}", key);
                    }
                    (Err(e), None) => {
                        let e = e.into_service_error();
                        prop_assert!(e.is_not_found(), "head {:?}: {:?}", key, e);
                    }
                    (Ok(_), None) => return Err(fail(format!("head found {key:?}, which does not exist"))),
                    (Err(e), Some(_)) => return Err(fail(format!("head {key:?}: {e:?}"))),
                }
            }
            Op::Delete(k) => {
                let key = k.get(&pool);
                client
                    .delete_object()
                    .bucket(&bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| fail(format!("delete {key:?}: {e:?}")))?;
                model.remove(key);
            }
            Op::DeleteMany(ks, quiet) => {
                let mut keys: Vec<&String> = ks.iter().map(|k| k.get(&pool)).collect();
                keys.sort();
                keys.dedup();
                // XML 1.0 cannot carry most control characters: an answer naming such a
                // key cannot be parsed by any client, so only ask for names when none has one.
                let xml_safe = keys
                    .iter()
                    .all(|k| !k.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')));
                let quiet = *quiet || !xml_safe;
                let objects = keys
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(k.as_str()).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| fail(format!("{e:?}")))?;
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(quiet)
                    .build()
                    .map_err(|e| fail(format!("{e:?}")))?;
                let out = client
                    .delete_objects()
                    .bucket(&bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| fail(format!("delete {keys:?}: {e:?}")))?;
                prop_assert!(out.errors().is_empty(), "delete errors: {:?}", out.errors());
                if quiet {
                    prop_assert!(out.deleted().is_empty());
                } else {
                    let mut deleted: Vec<String> = out
                        .deleted()
                        .iter()
                        .filter_map(|d| d.key().map(str::to_string))
                        .collect();
                    deleted.sort();
                    let wanted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                    prop_assert_eq!(deleted, wanted);
                }
                for key in keys {
                    model.remove(key);
                }
            }
            Op::List {
                prefix,
                delimiter,
                max_keys,
            } => {
                let prefix = resolve_prefix(prefix, &pool);
                let got = list_all(client, &bucket, &prefix, *delimiter, *max_keys, &model).await?;
                let want = expected_listing(&model, &prefix, *delimiter);
                prop_assert_eq!(
                    got,
                    want,
                    "list prefix {:?} delimiter {:?} max {}",
                    prefix,
                    delimiter,
                    max_keys
                );
            }
        }
    }

    // Everything listed, then everything deleted: no directory may be left behind.
    let all = list_all(client, &bucket, "", None, 1000, &model).await?;
    prop_assert_eq!(all, expected_listing(&model, "", None));
    for key in model.keys() {
        client
            .delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| fail(format!("delete {key:?}: {e:?}")))?;
    }
    let left = support::tree(&h.data.join(&bucket));
    prop_assert!(left.is_empty(), "left in the bucket: {:?}", left);
    client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?;
    check_data_dir(h).await
}

/// Nothing outside the data directory, nothing in it but the victim bucket and the store's
/// own (empty) directories, and the victim untouched. A violation is repaired before it is
/// reported, so that the cases proptest runs while shrinking start clean.
async fn check_data_dir(h: &Harness) -> Result<(), TestCaseError> {
    let found = data_dir_problems(h).await;
    if found.is_empty() {
        return Ok(());
    }
    repair(h).await;
    Err(fail(found.join("; ")))
}

async fn data_dir_problems(h: &Harness) -> Vec<String> {
    let mut problems = Vec::new();
    let outside = support::names_in(h.outer.path());
    if outside != ["data"] {
        problems.push(format!("outside the data directory: {outside:?}"));
    }
    // Buckets of earlier failed cases (while shrinking) are no concern here.
    let top: Vec<String> = support::names_in(&h.data)
        .into_iter()
        .filter(|n| !n.starts_with("prop-"))
        .collect();
    if top != [".s3-connector", VICTIM] {
        problems.push(format!("in the data directory: {top:?}"));
    }
    // The store's own temporary directory and its lock live as long as the store.
    let internal: Vec<String> = support::tree(&h.data.join(".s3-connector"))
        .into_iter()
        .filter(|rel| !rel.strip_prefix("tmp/").is_some_and(support::is_store_dir_or_lock))
        .collect();
    if internal != ["lock", "tmp", "uploads"] {
        problems.push(format!("in .s3-connector: {internal:?}"));
    }
    let victim = support::tree(&h.data.join(VICTIM));
    if victim != [".secret.txt%_m", "secret.txt"] {
        problems.push(format!("in the victim bucket: {victim:?}"));
    }
    match h.client.get_object().bucket(VICTIM).key("secret.txt").send().await {
        Ok(out) => {
            let body = out.body.collect().await.map(|b| b.into_bytes().to_vec());
            if body.as_deref().ok() != Some(SECRET) {
                problems.push("the victim's secret changed".to_string());
            }
        }
        Err(e) => problems.push(format!("the victim's secret: {e:?}")),
    }
    problems
}

fn remove_path(path: &std::path::Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Puts the data directory back as [`check_data_dir`] expects it.
async fn repair(h: &Harness) {
    for name in support::names_in(h.outer.path()) {
        if name != "data" {
            remove_path(&h.outer.path().join(name));
        }
    }
    for name in support::names_in(&h.data) {
        if !name.starts_with("prop-") && name != ".s3-connector" && name != VICTIM {
            remove_path(&h.data.join(name));
        }
    }
    let tmp = h.data.join(".s3-connector/tmp");
    for rel in support::tree(&tmp) {
        if !support::is_store_dir_or_lock(&rel) {
            remove_path(&tmp.join(rel));
        }
    }
    let uploads = h.data.join(".s3-connector/uploads");
    for name in support::names_in(&uploads) {
        remove_path(&uploads.join(name));
    }
    for name in support::names_in(&h.data.join(".s3-connector")) {
        if !["lock", "tmp", "uploads"].contains(&name.as_str()) {
            remove_path(&h.data.join(".s3-connector").join(name));
        }
    }
    for name in support::names_in(&h.data.join(VICTIM)) {
        remove_path(&h.data.join(VICTIM).join(name));
    }
    let _ = h
        .client
        .put_object()
        .bucket(VICTIM)
        .key("secret.txt")
        .body(ByteStream::from_static(SECRET))
        .send()
        .await;
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_agrees_with_a_map(pool in prop::collection::vec(key(), 1..12), ops in prop::collection::vec(op(), 1..40)) {
        let h = harness();
        h.rt.block_on(run_case(h, pool, ops))?;
    }
}
