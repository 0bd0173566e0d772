//! Camunda `uploadObject`: put a document into a bucket; result `{bucket, key, link}`.

use serde::Serialize;

use crate::actions::{ActionRequest, PutObjectRequest, Streams};
use crate::client::Connector;
use crate::documents::external::ExternalFetch;
use crate::documents::{DocumentReader, DocumentReference, DocumentStore};
use crate::error::{Error, Result};
use crate::s3::content_type_for;
use crate::validate;

/// `{bucket, key, link}`. Divergence from Camunda's connector (see docs/camunda.md): `key` is
/// the key actually written (Camunda echoes the input, `null` when it fell back to the file
/// name), and `link` is the object's real URL at the configured endpoint and region with the
/// key percent-encoded (Camunda always builds `https://{bucket}.s3.amazonaws.com/{key}`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UploadObjectResult {
    /// Bucket.
    pub bucket: String,
    /// The key written.
    pub key: String,
    /// The object's URL.
    pub link: String,
}

/// A document's content with what it says about itself.
pub(crate) struct OpenedDocument {
    pub reader: DocumentReader,
    pub content_type: String,
    pub file_name: Option<String>,
}

/// Opens any kind of document reference for reading.
pub(crate) async fn open_document(
    store: &dyn DocumentStore,
    external: &ExternalFetch,
    document: &DocumentReference,
) -> Result<OpenedDocument> {
    match document {
        DocumentReference::Camunda(r) => {
            let (meta, reader) = store.open(r).await?;
            let name = meta.file_name.clone().unwrap_or_default();
            Ok(OpenedDocument {
                reader,
                content_type: content_type_for(meta.content_type.as_deref(), &name),
                file_name: meta.file_name,
            })
        }
        DocumentReference::Inline(d) => {
            // A missing name becomes a UUID, as in Camunda's runtime.
            let name = d.name.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            Ok(OpenedDocument {
                content_type: content_type_for(d.content_type.as_deref(), &name),
                reader: Box::new(std::io::Cursor::new(d.content.clone().into_bytes())),
                file_name: Some(name),
            })
        }
        DocumentReference::External(e) => {
            let fetched = external.fetch(&e.url).await?;
            // The name given, else the URL's last path segment.
            let name = e.name.clone().or_else(|| {
                reqwest::Url::parse(&e.url)
                    .ok()
                    .and_then(|u| u.path_segments().and_then(|mut s| s.next_back().map(str::to_string)))
                    .filter(|s| !s.is_empty())
            });
            Ok(OpenedDocument {
                content_type: content_type_for(fetched.content_type.as_deref(), name.as_deref().unwrap_or_default()),
                reader: fetched.reader,
                file_name: name,
            })
        }
    }
}

/// Uploads `document` to `bucket`, under `key` or else the document's file name.
pub async fn upload_object(
    conn: &Connector,
    store: &dyn DocumentStore,
    external: &ExternalFetch,
    bucket: &str,
    key: Option<&str>,
    document: &DocumentReference,
) -> Result<UploadObjectResult> {
    validate::bucket("action.bucket", bucket)?;
    if let Some(k) = key {
        validate::key("action.key", k)?;
    }
    let opened = open_document(store, external, document).await?;
    let key = match key.map(str::to_string).or(opened.file_name.clone()) {
        Some(k) => k,
        None => {
            return Err(Error::invalid_input(
                "action.key",
                "must not be blank: give a key, or a document with a file name",
            ))
        }
    };
    validate::key("action.key", &key)?;
    // Through putObject itself, so that an upload here is written as putObject writes.
    let put = PutObjectRequest {
        bucket: bucket.to_string(),
        key: key.clone(),
        file: None,
        content: None,
        content_type: Some(opened.content_type),
        metadata: Default::default(),
        tags: Default::default(),
        cache_control: None,
        content_disposition: None,
        content_encoding: None,
        expires: None,
        storage_class: None,
        encryption: None,
        sse_customer_key: None,
    };
    let streams = Streams {
        input: Some(opened.reader),
        ..Streams::default()
    };
    put.execute(conn, streams).await?;
    Ok(UploadObjectResult {
        bucket: bucket.to_string(),
        link: conn.object_url(bucket, &key),
        key,
    })
}
