//! `camunda`: documents kept by a Camunda 8 cluster, through its REST API
//! (`POST /v2/documents`, `GET /v2/documents/{id}?storeId&contentHash`,
//! `DELETE /v2/documents/{id}`).
//!
//! The cluster has stores of its own (in-memory, local, AWS, GCP, Azure); a reference's
//! `storeId` names one of them and is passed through, so this client reads any document the
//! cluster holds. Content streams both ways: uploads go as a multipart `file` part, reads are
//! verified against the reference's `contentHash` as they stream.

use serde_json::Value;
use tokio::io::AsyncRead;

use std::sync::Arc;

use crate::cluster::{status_error, ClusterAuth, ClusterClient};
use crate::config::Secret;
use crate::documents::store::{
    check_document_id, check_expiry, parse_expiry, DocumentReader, DocumentStore, VerifyingReader,
};
use crate::documents::{CamundaReference, DocumentMetadata, DocumentReference};
use crate::error::{Error, ErrorCode, Result};

/// How long the cluster may leave a document's stream without a byte.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A client of a Camunda cluster's document API.
#[derive(Debug)]
pub struct CamundaClusterStore {
    cluster: ClusterClient,
    store_id: Option<String>,
}

impl CamundaClusterStore {
    /// A client of the cluster at `base_url` (e.g. `http://localhost:8080`). `store_id` picks
    /// the cluster store new documents go to (the cluster's default when `None`); `token` is
    /// sent as a bearer token.
    pub fn new(base_url: &str, store_id: Option<String>, token: Option<Secret>) -> Result<Self> {
        let auth = match token {
            Some(t) => ClusterAuth::Bearer(t),
            None => ClusterAuth::None,
        };
        Self::with_auth(base_url, store_id, Arc::new(auth))
    }

    /// As [`new`](Self::new), authenticating as `auth` says (e.g. OAuth, shared with a job
    /// worker so that both use one token).
    pub fn with_auth(base_url: &str, store_id: Option<String>, auth: Arc<ClusterAuth>) -> Result<Self> {
        Ok(CamundaClusterStore {
            cluster: ClusterClient::new(base_url, "documents", auth, Some(READ_TIMEOUT))?,
            store_id,
        })
    }

    fn document_url(&self, id: &str) -> String {
        self.cluster.url(&format!("/documents/{id}"))
    }
}

#[async_trait::async_trait]
impl DocumentStore for CamundaClusterStore {
    fn store_id(&self) -> &str {
        self.store_id.as_deref().unwrap_or("camunda")
    }

    async fn create(&self, content: DocumentReader, metadata: DocumentMetadata) -> Result<CamundaReference> {
        // The cluster makes the id.
        self.upload(None, content, metadata).await
    }

    async fn create_with_id(
        &self,
        document_id: &str,
        content: DocumentReader,
        metadata: DocumentMetadata,
    ) -> Result<CamundaReference> {
        check_document_id(document_id)?;
        self.upload(Some(document_id), content, metadata).await
    }

    async fn open(&self, reference: &CamundaReference) -> Result<(DocumentMetadata, DocumentReader)> {
        // Ids go into a URL path: only canonical UUIDs, as the cluster generates them.
        check_document_id(&reference.document_id)?;
        check_expiry(&reference.document_id, &reference.metadata)?;
        let mut url = reqwest::Url::parse(&self.document_url(&reference.document_id))
            .map_err(|e| Error::invalid_input("documentId", e))?;
        url.query_pairs_mut().append_pair("storeId", &reference.store_id);
        if let Some(hash) = &reference.content_hash {
            url.query_pairs_mut().append_pair("contentHash", hash);
        }
        let what = format!("GET /v2/documents/{}", reference.document_id);
        let resp = self.cluster.call(&what, |http| http.get(url.as_str())).await?;
        if !resp.status().is_success() {
            return Err(status_error(&what, resp).await);
        }
        let mut metadata = reference.metadata.clone();
        if metadata.content_type.is_none() {
            metadata.content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        let stream = futures::TryStreamExt::map_err(resp.bytes_stream(), std::io::Error::other);
        let reader = crate::documents::external::stream_reader(stream);
        let reader: DocumentReader = match &reference.content_hash {
            // The cluster checked the hash; check the bytes that actually arrive too.
            Some(hash) => Box::new(VerifyingReader::new(
                reader,
                hash.to_ascii_lowercase(),
                reference.document_id.clone(),
            )),
            None => Box::new(reader),
        };
        Ok((metadata, reader))
    }

    async fn delete(&self, document_id: &str) -> Result<()> {
        check_document_id(document_id)?;
        let mut url = self.document_url(document_id);
        if let Some(store) = &self.store_id {
            url = format!(
                "{url}?storeId={}",
                percent_encoding::utf8_percent_encode(store, percent_encoding::NON_ALPHANUMERIC)
            );
        }
        let what = format!("DELETE /v2/documents/{document_id}");
        let resp = self.cluster.call(&what, |http| http.delete(&url)).await?;
        if resp.status().is_success() || resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(status_error(&what, resp).await)
    }
}

impl CamundaClusterStore {
    /// `POST /v2/documents`, with `documentId` when the caller chose one.
    async fn upload(
        &self,
        document_id: Option<&str>,
        mut content: DocumentReader,
        metadata: DocumentMetadata,
    ) -> Result<CamundaReference> {
        parse_expiry(metadata.expires_at.as_deref())?;

        // The cluster measures the size itself; do not send a guess.
        let meta = DocumentMetadata { size: None, ..metadata };
        let meta_json = serde_json::to_string(&meta)
            .map_err(|e| Error::new(ErrorCode::ServiceError, format!("cannot encode document metadata: {e}")))?;
        let stream = futures::stream::poll_fn(move |cx| {
            let mut buf = vec![0u8; 64 * 1024];
            let mut read_buf = tokio::io::ReadBuf::new(&mut buf);
            match std::pin::Pin::new(&mut content).poll_read(cx, &mut read_buf) {
                std::task::Poll::Ready(Ok(())) if read_buf.filled().is_empty() => std::task::Poll::Ready(None),
                std::task::Poll::Ready(Ok(())) => {
                    let n = read_buf.filled().len();
                    buf.truncate(n);
                    std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(bytes::Bytes::from(buf))))
                }
                std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Some(Err(e))),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        });
        let file = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream))
            .file_name(meta.file_name.clone().unwrap_or_else(|| "document".into()))
            .mime_str(meta.content_type.as_deref().unwrap_or("application/octet-stream"))
            .map_err(|e| Error::invalid_input("contentType", e))?;
        let metadata_part = reqwest::multipart::Part::text(meta_json)
            .mime_str("application/json")
            .map_err(|e| Error::new(ErrorCode::ServiceError, e.to_string()))?;
        // Metadata first: a server that needs it before storing the content (as ours does)
        // can then stream the file straight through instead of spooling it.
        let form = reqwest::multipart::Form::new()
            .part("metadata", metadata_part)
            .part("file", file);
        let mut url =
            reqwest::Url::parse(&self.cluster.url("/documents")).map_err(|e| Error::invalid_input("documents", e))?;
        if let Some(store) = &self.store_id {
            url.query_pairs_mut().append_pair("storeId", store);
        }
        if let Some(id) = document_id {
            url.query_pairs_mut().append_pair("documentId", id);
        }
        let url = url.to_string();
        let what = "POST /v2/documents";
        // The content streams once: a refused token is dropped for the next call, not retried.
        let req = self.cluster.request(reqwest::Method::POST, &url).multipart(form);
        let resp = self.cluster.call_once(what, req).await?;
        if !resp.status().is_success() {
            return Err(status_error(what, resp).await);
        }
        let text = resp.bytes().await.map_err(|e| crate::cluster::send_error(what, e))?;
        let body: Value = serde_json::from_slice(&text).map_err(|e| {
            Error::new(
                ErrorCode::ServiceError,
                format!("{what}: the answer is not a document reference: {e}"),
            )
        })?;
        match DocumentReference::from_value("response", &body) {
            Ok(DocumentReference::Camunda(r)) => Ok(*r),
            Ok(_) => Err(Error::new(
                ErrorCode::ServiceError,
                format!("{what}: the cluster answered with a non-camunda reference"),
            )),
            Err(e) => Err(Error::new(ErrorCode::ServiceError, format!("{what}: {}", e.message))),
        }
    }
}
