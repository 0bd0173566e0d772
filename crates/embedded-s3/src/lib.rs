//! The embedded S3-compatible store: s3s-fs serving a data directory on loopback.
//!
//! It lets every command, the demo and the tests run against a real S3 server over real
//! HTTP with no AWS account. Objects are plain files under the data directory.
//!
//! Two S3 behaviours that s3s-fs 0.14 lacks are added by [`Store`], a thin wrapper that
//! delegates everything else: DeleteBucket refuses a bucket that still holds objects
//! (`BucketNotEmpty`, where s3s-fs would silently delete them all), and DeleteObject honours
//! `If-Match` (`PreconditionFailed`), which `moveObject` relies on to never delete a source
//! that changed after it was copied. GetObject honours `If-Match` too, so a parallel ranged
//! download pinned to one ETag never mixes two versions. Listings also carry each object's ETag, as S3's do
//! (s3s-fs leaves it out), and writes into a missing bucket are `NoSuchBucket` (s3s-fs would
//! create the bucket's directory on the fly).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The data directory could not be created or opened.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// s3s-fs refused the directory.
    #[error("cannot serve {path}: {message}")]
    Store {
        /// The directory.
        path: PathBuf,
        /// What s3s-fs said.
        message: String,
    },
}

/// How to start the store.
#[derive(Clone)]
pub struct EmbeddedOptions {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// Where to listen; `127.0.0.1:0` picks a free loopback port.
    pub listen: SocketAddr,
    /// Access key clients must use; random when `None`.
    pub access_key: Option<String>,
    /// Secret key clients must use; random when `None`.
    pub secret_key: Option<String>,
}

impl std::fmt::Debug for EmbeddedOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedOptions")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("access_key", &self.access_key)
            .field("secret_key", &"***")
            .finish()
    }
}

impl EmbeddedOptions {
    /// Options for `data_dir` on a free loopback port with random credentials.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            access_key: None,
            secret_key: None,
        }
    }
}

/// A running embedded store. Dropping it stops the server.
pub struct EmbeddedStore {
    addr: SocketAddr,
    data_dir: PathBuf,
    access_key: String,
    secret_key: String,
    /// Dropping the store sends this; the accept loop then ends.
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("access_key", &self.access_key)
            .field("secret_key", &"***")
            .finish()
    }
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

impl EmbeddedStore {
    /// Starts serving `opts.data_dir` in the current tokio runtime.
    pub async fn start(opts: EmbeddedOptions) -> Result<EmbeddedStore, EmbeddedError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|source| EmbeddedError::DataDir {
            path: opts.data_dir.clone(),
            source,
        })?;
        let data_dir = std::fs::canonicalize(&opts.data_dir).map_err(|source| EmbeddedError::DataDir {
            path: opts.data_dir.clone(),
            source,
        })?;
        let access_key = opts.access_key.unwrap_or_else(|| format!("EMB{}", random_token(17)));
        let secret_key = opts.secret_key.unwrap_or_else(|| random_token(40));
        let fs = s3s_fs::FileSystem::new(&data_dir).map_err(|e| EmbeddedError::Store {
            path: data_dir.clone(),
            message: format!("{e:?}"),
        })?;
        let service = {
            let mut b = S3ServiceBuilder::new(Store {
                inner: fs,
                root: data_dir.clone(),
            });
            b.set_auth(SimpleAuth::from_single(access_key.clone(), secret_key.clone()));
            b.build()
        };
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| EmbeddedError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| EmbeddedError::Bind {
            addr: opts.listen,
            source,
        })?;
        let (tx, mut rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(e) => {
                            tracing::warn!("embedded store: accept failed: {e}");
                            continue;
                        }
                    },
                    _ = &mut rx => break,
                };
                // Without TCP_NODELAY small responses wait ~40 ms for the client's delayed ACK.
                let _ = socket.set_nodelay(true);
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Ok(EmbeddedStore {
            addr,
            data_dir,
            access_key,
            secret_key,
            shutdown: Some(tx),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data directory (canonical path).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The access key clients must sign with.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key clients must sign with. Handle as a secret.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// s3s-fs plus the S3 semantics it lacks (see the crate docs).
struct Store {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

impl Store {
    /// Whether `key` names a directory of s3s-fs (a prefix of other keys) rather than an
    /// object. s3s-fs answers such keys with 500 InternalError; S3 has no object there.
    fn is_prefix_dir(&self, bucket: &str, key: &str) -> bool {
        let safe = s3s::path::check_bucket_name(bucket)
            && !key.ends_with('/')
            && !key.split('/').any(|seg| seg == ".." || seg == ".");
        safe && self.root.join(bucket).join(key).is_dir()
    }

    /// `NoSuchKey` when `key` is only a prefix of other keys (see [`Self::is_prefix_dir`]).
    fn require_object(&self, bucket: &str, key: &str) -> S3Result<()> {
        if self.is_prefix_dir(bucket, key) {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        }
        Ok(())
    }

    /// `NoSuchBucket` unless the bucket's directory exists.
    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if s3s::path::check_bucket_name(bucket) && !self.root.join(bucket).is_dir() {
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        }
        Ok(())
    }

    /// `PreconditionFailed` unless the object's current ETag satisfies `condition`.
    /// Checked just before the operation; in one process the window between is microseconds.
    async fn check_if_match<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        condition: &ETagCondition,
    ) -> S3Result<()> {
        let head = HeadObjectInput {
            bucket: bucket.to_string(),
            key: key.to_string(),
            ..Default::default()
        };
        let current = self.inner.head_object(bare(req, head)).await?;
        let holds = match (condition, &current.output.e_tag) {
            (ETagCondition::Any, _) => true,
            (ETagCondition::ETag(want), Some(have)) => want.value() == have.value(),
            (ETagCondition::ETag(_), None) => false,
        };
        if holds {
            Ok(())
        } else {
            Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ))
        }
    }
}

/// Whether a directory tree holds any file. s3s-fs keeps its metadata outside bucket
/// directories, so any file inside one is an object (or a multipart part).
fn holds_files(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() || kind.is_symlink() || (kind.is_dir() && holds_files(&entry.path())?) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn bare<T, U>(req: &S3Request<T>, input: U) -> S3Request<U> {
    S3Request {
        input,
        method: req.method.clone(),
        uri: req.uri.clone(),
        headers: req.headers.clone(),
        extensions: Default::default(),
        credentials: req.credentials.clone(),
        region: req.region.clone(),
        service: req.service.clone(),
        trailing_headers: None,
    }
}

/// Forwards operations to s3s-fs unchanged. `#[async_trait]` cannot see `async fn`s that a
/// macro generates, so this spells out the boxed-future form it would have produced.
macro_rules! delegate {
    ($($name:ident($input:ty) -> $output:ty;)*) => {
        $(
            fn $name<'life0, 'async_trait>(
                &'life0 self,
                req: S3Request<$input>,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = S3Result<S3Response<$output>>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move { self.inner.$name(req).await })
            }
        )*
    };
}

#[async_trait::async_trait]
impl S3 for Store {
    delegate! {
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput;
        upload_part(UploadPartInput) -> UploadPartOutput;
        upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
        list_parts(ListPartsInput) -> ListPartsOutput;
        complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        // s3s-fs validates the name and resolves the path; we only add the emptiness check.
        if s3s::path::check_bucket_name(&req.input.bucket) {
            let dir = self.root.join(&req.input.bucket);
            if dir.is_dir() {
                let full = tokio::task::spawn_blocking(move || holds_files(&dir))
                    .await
                    .map_err(|e| s3_error!(InternalError, "{e}"))?
                    .map_err(|e| s3_error!(InternalError, "{e}"))?;
                if full {
                    return Err(s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"));
                }
            }
        }
        self.inner.delete_bucket(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.inner.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.inner.create_multipart_upload(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.inner.copy_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.require_object(&req.input.bucket, &req.input.key)?;
        self.inner.head_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.require_object(&req.input.bucket, &req.input.key)?;
        if let Some(condition) = req.input.if_match.clone() {
            self.check_if_match(&req, &req.input.bucket, &req.input.key, &condition)
                .await?;
        }
        self.inner.get_object(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let template = bare(&req, ());
        let mut resp = self.inner.list_objects_v2(req).await?;
        if let Some(contents) = resp.output.contents.as_mut() {
            for object in contents.iter_mut().filter(|o| o.e_tag.is_none()) {
                let Some(key) = object.key.clone() else { continue };
                let head = HeadObjectInput {
                    bucket: bucket.clone(),
                    key,
                    ..Default::default()
                };
                // s3s-fs keeps each object's ETag beside it, so this is a small file read.
                if let Ok(h) = self.inner.head_object(bare(&template, head)).await {
                    object.e_tag = h.output.e_tag;
                }
            }
        }
        Ok(resp)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        if self.is_prefix_dir(&req.input.bucket, &req.input.key) {
            // No object has this key, only keys below it: deleting a missing key succeeds,
            // unless a condition asked for an existing object.
            if req.input.if_match.is_some() {
                return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
            }
            return Ok(S3Response::new(DeleteObjectOutput::default()));
        }
        if let Some(condition) = req.input.if_match.clone() {
            self.check_if_match(&req, &req.input.bucket, &req.input.key, &condition)
                .await?;
        }
        self.inner.delete_object(req).await
    }
}
