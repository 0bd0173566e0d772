//! Changes to the tree of names: the locks they run under, finding an object's files,
//! putting finished files into place (turning an object file into a directory when a key
//! below it arrives) and removing objects with the directories they leave empty.
//!
//! Everything here but [`BucketLocks::run`] is blocking file-system code, meant to run
//! inside `run`'s closure, on a blocking thread, under both locks.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use s3s::S3Result;
use tokio::sync::OwnedMutexGuard;

use crate::content::{internal, TempFile};
use crate::layout::{encode_key, sidecar_of, Layout, IN_DIR_OBJECT};
use crate::meta::is_missing;

/// Serializes changes to one bucket: an async mutex per bucket within the process, and an
/// advisory lock on one file between processes sharing the data directory.
#[derive(Debug)]
pub struct BucketLocks {
    lock_file: PathBuf,
    buckets: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a bucket's mutex; forgets the mutex when nobody else wants it.
struct Held<'a> {
    locks: &'a BucketLocks,
    bucket: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds it now: no task holds or waits for this bucket's lock.
        if map.get(&self.bucket).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.bucket);
        }
    }
}

impl BucketLocks {
    /// Locks for the data directory whose lock file is `lock_file`.
    pub fn new(lock_file: PathBuf) -> Self {
        BucketLocks {
            lock_file,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f` on a blocking thread while holding the bucket's mutex and the lock file.
    /// The lock file is opened anew each time: `flock` locks belong to an open file, so two
    /// opens exclude each other even within this process (where the bucket mutexes do not:
    /// two buckets may be changed at once). A request given up halfway leaves `f` running
    /// to its end, still under the file lock.
    pub async fn run<T, F>(&self, bucket: &str, f: F) -> S3Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> S3Result<T> + Send + 'static,
    {
        let mutex = {
            let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(bucket.to_string()).or_default().clone()
        };
        let _held = Held {
            locks: self,
            bucket: bucket.to_string(),
            guard: Some(mutex.lock_owned().await),
        };
        let lock_file = self.lock_file.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_file)
                .map_err(|e| internal("cannot open the lock file", e))?;
            file.lock().map_err(|e| internal("cannot take the lock file", e))?;
            let out = f();
            // Closing the file releases the lock.
            drop(file);
            out
        })
        .await
        .map_err(|e| internal("a store task failed", e))?
    }
}

/// The content file of the object `key`, if it exists: the file at the key's path, or
/// [`IN_DIR_OBJECT`] inside the directory there.
pub fn locate(layout: &Layout, bucket: &str, key: &str) -> io::Result<Option<PathBuf>> {
    let path = layout.object_path(bucket, key);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => Ok(Some(path)),
        Ok(m) if m.is_dir() => {
            let inner = path.join(IN_DIR_OBJECT);
            match std::fs::symlink_metadata(&inner) {
                Ok(m) if m.is_file() => Ok(Some(inner)),
                Ok(_) => Ok(None),
                Err(e) if is_missing(&e) => Ok(None),
                Err(e) => Err(e),
            }
        }
        Ok(_) => Ok(None),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Turns the object file `file` into a directory of the same name holding it as
/// [`IN_DIR_OBJECT`], so that keys below it can be stored.
fn convert_to_dir(file: &Path, tmp_dir: &Path) -> io::Result<()> {
    let parked = tmp_dir.join(format!("{:032x}", rand::random::<u128>()));
    std::fs::rename(file, &parked)?;
    if let Err(e) = std::fs::create_dir(file) {
        let _ = std::fs::rename(&parked, file);
        return Err(e);
    }
    std::fs::rename(&parked, file.join(IN_DIR_OBJECT))?;
    match std::fs::rename(sidecar_of(file), sidecar_of(&file.join(IN_DIR_OBJECT))) {
        Err(e) if !is_missing(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Makes the directories leading to `key`'s path, converting object files met on the way,
/// and returns where its content file goes.
fn prepare(layout: &Layout, bucket: &str, key: &str) -> io::Result<PathBuf> {
    let mut path = layout.bucket_dir(bucket);
    let components = encode_key(key);
    let (last, parents) = components
        .split_last()
        .ok_or_else(|| io::Error::other("a key has at least one component"))?;
    for component in parents {
        path.push(component);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.is_file() => convert_to_dir(&path, &layout.tmp_dir())?,
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is neither file nor directory",
                    path.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&path)?,
            Err(e) => return Err(e),
        }
    }
    path.push(last);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path.join(IN_DIR_OBJECT)),
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(io::Error::other(format!(
            "{} is neither file nor directory",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path),
        Err(e) => Err(e),
    }
}

/// Puts finished content and its sidecar in place as the object `key` and returns the
/// content file's path. Both were complete before this, so readers see the old object or
/// the new one, never a part of one.
pub fn place(layout: &Layout, bucket: &str, key: &str, content: &TempFile, sidecar: &TempFile) -> io::Result<PathBuf> {
    let target = prepare(layout, bucket, key)?;
    std::fs::rename(content.path(), &target)?;
    std::fs::rename(sidecar.path(), sidecar_of(&target))?;
    // s3s-fs's metadata for this key no longer describes it.
    remove_legacy(layout, bucket, key);
    Ok(target)
}

/// Removes s3s-fs's metadata files of an object, where there are any.
fn remove_legacy(layout: &Layout, bucket: &str, key: &str) {
    for path in [
        layout.legacy_metadata_path(bucket, key),
        layout.legacy_internal_path(bucket, key),
    ]
    .into_iter()
    .flatten()
    {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes the object whose content file is `content`, then the directories this leaves
/// empty, up to but not including the bucket's directory.
pub fn remove(layout: &Layout, bucket: &str, key: &str, content: &Path) -> io::Result<()> {
    for path in [content.to_path_buf(), sidecar_of(content)] {
        match std::fs::remove_file(&path) {
            Err(e) if !is_missing(&e) => return Err(e),
            _ => {}
        }
    }
    remove_legacy(layout, bucket, key);
    let bucket_dir = layout.bucket_dir(bucket);
    let mut dir = content.parent();
    while let Some(d) = dir {
        if d == bucket_dir || !d.starts_with(&bucket_dir) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Moves a finished file to `to`, replacing what is there (multipart parts and records).
pub fn place_file(temp: &TempFile, to: &Path) -> io::Result<()> {
    std::fs::rename(temp.path(), to)
}
