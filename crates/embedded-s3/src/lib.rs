//! The embedded S3-compatible store: a data directory served as S3 on loopback.
//!
//! It lets every command, the demo and the tests run against a real S3 server over real
//! HTTP with no AWS account. s3s speaks the protocol (HTTP, SigV4, XML); the storage is our
//! own, so that every valid S3 key (1 to 1024 bytes of UTF-8, `..`, `/x`, `a//b`, NUL and
//! all) is stored as a plain name and nothing is ever read or written outside the data
//! directory.
//!
//! # Layout
//!
//! - `DATA/BUCKET/` is a bucket (names checked with `s3s::path::check_bucket_name`).
//! - `DATA/.s3-connector/` is the store's own: `tmp/`, `uploads/UPLOAD_ID/` (a multipart
//!   upload: `upload.json` with bucket, key, initiation time, headers, checksum algorithm and
//!   owner; `part-N` and its record `part-N.json` with ETag, size and checksums) and `lock`
//!   (the advisory lock file). A bucket name never starts with `.`, so this directory can
//!   never be a bucket.
//! - `tmp/STORE_ID/` belongs to one running store (`STORE_ID` is 32 random hex digits): its
//!   temporary files, `convert-*` notes of conversions in progress (below; each holds the
//!   object file's path relative to `DATA`) and `lock`, which the store holds exclusively
//!   (`flock`) for as long as it lives. A store removes its directory once it has stopped
//!   and its last request is done, unless a note is left in it. At start-up (and before
//!   DeleteBucket) a store removes only the directories whose lock it can take, whose stores
//!   are gone, after settling the conversions their notes name; the directories of running
//!   stores are left alone. Files directly in `tmp/` are from versions before this layout
//!   and are left alone too (with a warning): such a version wrote its temporary files there
//!   outside any lock, so nothing tells whether one still runs, and one of them may be the
//!   only copy of an object it had parked there when it crashed.
//! - A key is split at `/` into segments and each segment becomes one name: `%`, the control
//!   characters 0x00-0x1F and 0x7F become `%XX` (uppercase hex), the segments `.` and `..`
//!   become `%2E` and `%2E%2E`, and an empty segment becomes `%-`. Everything else is kept, so
//!   ordinary keys are identity: `reports/2026/q1.csv` is `DATA/BUCKET/reports/2026/q1.csv`.
//!   A `%` followed by anything but two hex digits never comes out of this, which leaves names
//!   containing `%_`, `%-` and `%+` to the store:
//!   - A segment longer than 200 bytes once encoded is cut into chunks of at most 200 bytes
//!     (never inside an escape or a character); every chunk but the last is a directory named
//!     `CHUNK%+`, whose children continue the segment without a `/`.
//!   - An object's metadata (ETag, size, stored headers, user metadata, checksums, number of
//!     parts) is the JSON sidecar `.NAME%_m` beside its content file `NAME`.
//!   - When a key `K` is both an object and a prefix of other keys (`a` and `a/b`), the
//!     directory for `K` holds the object as `%_` (its sidecar `.%_%_m`). Writing `a/b` while
//!     `a` is a file first turns the file into that form: the store notes the conversion in
//!     its `tmp/STORE_ID/`, renames `a` to `a%_c` beside it (parked, never outside the
//!     bucket), makes the directory `a`, moves the sidecar `.a%_m` to `a/.%_%_m` and `a%_c`
//!     to `a/%_`, and drops the note. Listings skip `a%_c` like every name with `%_`, and
//!     every step runs under the locks below, so no request sees it half done. A crash on
//!     the way leaves `a%_c`: the next start finds the note and settles it, and so does any
//!     lookup or write of `a` before that (into `a/%_` if the directory `a` exists and `a/%_`
//!     does not, back to `a` if `a` does not exist; dropped if `a` has been written again
//!     since). Deleting removes the content and sidecar, then every directory this leaves
//!     empty, up to the bucket's directory.
//!   - Names that do not decode to exactly the path they are at (a stray `%`, a file dropped
//!     in by hand) are not objects: listings skip them.
//! - Changes to the names (putting files in place, conversions, deletes) run under a mutex
//!   per bucket and under an advisory lock on `DATA/.s3-connector/lock`, so two processes may
//!   serve one data directory. Content is always written to the store's `tmp/STORE_ID/`
//!   first and renamed into place, so readers never see half an object, and a body that is
//!   cut off or fails its checksum leaves nothing behind.
//! - Data directories written by s3s-fs 0.14.1 stay readable: its objects are files at their
//!   keys' paths, and without a sidecar their headers and ETag come from its files
//!   `DATA/.bucket-B64(BUCKET).object-B64(KEY).{metadata,internal}.json`, or the ETag is the
//!   content's MD5.
//!
//! Listings walk the tree depth-first in key order without reading every key (see `walk`).
//! In-progress multipart uploads are visible through ListMultipartUploads.

mod content;
mod layout;
mod meta;
mod multipart;
mod namespace;
mod startup;
mod store;
mod tags;
mod uploads;
mod walk;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::layout::Layout;

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
    /// The store's own directories in the data directory could not be prepared.
    #[error("cannot serve {path}: {message}")]
    Store {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
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

/// A running embedded store. Dropping it stops the server; requests under way still finish,
/// and the store's temporary directory goes with the last of them.
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
        let store_id = format!("{:032x}", rand::random::<u128>());
        let layout = Layout::new(data_dir.clone(), &store_id);
        let prepared = {
            let layout = layout.clone();
            // It may wait for another process's lock on the data directory.
            tokio::task::spawn_blocking(move || startup::prepare_internal_dirs(&layout)).await
        };
        let store_failed = |message: String| EmbeddedError::Store {
            path: data_dir.clone(),
            message,
        };
        let own_tmp = prepared
            .map_err(|e| store_failed(e.to_string()))?
            .map_err(|e| store_failed(e.to_string()))?;
        let service = {
            let mut b = S3ServiceBuilder::new(store::Store::new(layout, own_tmp));
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
