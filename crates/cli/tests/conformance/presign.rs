//! Presigned URLs.

use serde_json::json;

use crate::front::Ctx;
use crate::support;

/// Presigned GET and PUT URLs work for a plain HTTP client, with response overrides on GET
/// and signed headers on PUT.
pub async fn presigned_urls(t: &Ctx) {
    let b = t.new_bucket("main").await;
    let b = b.as_str();
    t.ok(json!({"action": "putObject", "bucket": b, "key": "signed/get me.txt", "content": "presigned body"}))
        .await;
    let p = t
        .ok(json!({"action": "presignUrl", "bucket": b, "key": "signed/get me.txt", "expiresIn": 300}))
        .await;
    let url = p["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!(
            "{}/{b}/signed/get%20me.txt?",
            t.settings.endpoint.clone().unwrap_or_default()
        )),
        "{url}"
    );
    let (status, body) = support::http("GET", url, b"").await;
    assert_eq!(status, 200, "{}: GET {url}: {}", t.name, String::from_utf8_lossy(&body));
    assert_eq!(body, b"presigned body");
    let p = t
        .ok(json!({"action": "presignUrl", "bucket": b, "key": "signed/put me.bin", "method": "PUT"}))
        .await;
    let (status, body) = support::http("PUT", p["url"].as_str().expect("url"), b"uploaded with a presigned URL").await;
    assert_eq!(status, 200, "{}: PUT: {}", t.name, String::from_utf8_lossy(&body));
    assert_eq!(
        t.get_bytes(b, "signed/put me.bin").await,
        b"uploaded with a presigned URL"
    );
    // A GET URL can have the download answered with other headers (a browser then saves it
    // under the given name); a PUT URL signs the headers the uploader must send.
    let p = t
        .ok(json!({"action": "presignUrl", "bucket": b, "key": "signed/get me.txt",
               "contentDisposition": "attachment; filename=\"report.txt\"", "contentType": "text/csv"}))
        .await;
    let (status, head, _) = support::http_with("GET", p["url"].as_str().expect("url"), &[], b"").await;
    assert_eq!(status, 200, "{}: {head}", t.name);
    assert!(
        head.contains("content-disposition: attachment; filename=\"report.txt\""),
        "{}: {head}",
        t.name
    );
    assert!(head.contains("content-type: text/csv"), "{}: {head}", t.name);
    let p = t
        .ok(
            json!({"action": "presignUrl", "bucket": b, "key": "signed/headers.bin", "method": "PUT",
               "cacheControl": "max-age=5"}),
        )
        .await;
    let must_send: Vec<(String, String)> = p["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    assert!(
        must_send.iter().any(|(k, _)| k.eq_ignore_ascii_case("cache-control")),
        "{}: {p}",
        t.name
    );
    let (status, _, body) =
        support::http_with("PUT", p["url"].as_str().expect("url"), &must_send, b"with headers").await;
    assert_eq!(status, 200, "{}: PUT: {}", t.name, String::from_utf8_lossy(&body));
    let h = t
        .ok(json!({"action": "headObject", "bucket": b, "key": "signed/headers.bin"}))
        .await;
    assert_eq!(h["cacheControl"], "max-age=5", "{}: {h}", t.name);
    t.ok(json!({"action": "deleteObjects", "bucket": b, "prefix": "signed/"}))
        .await;
}
