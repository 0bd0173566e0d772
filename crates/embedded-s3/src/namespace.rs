//! Changes to the tree of names: the locks they run under, finding an object's files,
//! putting finished files into place (turning an object file into a directory when a key
//! below it arrives, and finishing such a conversion that a crash cut short) and removing
//! objects with the directories they leave empty.
//!
//! Everything here but [`BucketLocks::run`] and [`lock_data_dir`] is blocking file-system
//! code, meant to run inside `run`'s closure, on a blocking thread, under both locks (or,
//! at start-up, under the data directory's lock).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use s3s::S3Result;
use tokio::sync::OwnedMutexGuard;

use crate::content::{internal, TempFile};
use crate::layout::{encode_key, parked_of, sidecar_of, Layout, IN_DIR_OBJECT};
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
            let file = lock_data_dir(&lock_file).map_err(|e| internal("cannot take the lock file", e))?;
            let out = f();
            // Closing the file releases the lock.
            drop(file);
            out
        })
        .await
        .map_err(|e| internal("a store task failed", e))?
    }
}

/// Opens the data directory's lock file `lock_file` and waits for it exclusively; closing
/// the file releases it. This blocks: call it on a blocking thread.
pub fn lock_data_dir(lock_file: &Path) -> io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_file)?;
    file.lock()?;
    Ok(file)
}

/// The content file of the object `key`, if it exists: the file at the key's path, or
/// [`IN_DIR_OBJECT`] inside the directory there. An object that a crash left parked
/// mid-conversion is put back first, so that it is found (and not written over by a
/// delete or put that believes it missing).
pub fn locate(layout: &Layout, bucket: &str, key: &str) -> io::Result<Option<PathBuf>> {
    let path = layout.object_path(bucket, key);
    match locate_at(&path)? {
        Some(found) => Ok(Some(found)),
        None if settle(&path)? => locate_at(&path),
        None => Ok(None),
    }
}

/// The content file of the object whose path is `path`, if there is one.
fn locate_at(path: &Path) -> io::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(path.to_path_buf())),
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

/// Begins the name of a note in a store's temporary directory: the file records, as its
/// path relative to the data directory, an object file being turned into a directory.
pub const CONVERSION_NOTE: &str = "convert-";

/// Turns the object file `file` into a directory of the same name holding it as
/// [`IN_DIR_OBJECT`], so that keys below it can be stored.
///
/// The file waits beside its directory-to-be as [`parked_of`] and never leaves the bucket's
/// directory, so no clean-up of temporary files can take it. A note in this store's
/// temporary directory names it meanwhile: if the process dies halfway, whichever store
/// starts next finds the note among the files of a store that is gone and calls [`settle`].
/// The sidecar moves straight to its new place once the directory exists; it is not in the
/// way of the directory, so it needs no parking.
fn convert_to_dir(file: &Path, layout: &Layout) -> io::Result<()> {
    let note = write_note(layout, file)?;
    let parked = parked_of(file);
    if let Err(e) = std::fs::rename(file, &parked) {
        let _ = std::fs::remove_file(&note);
        return Err(e);
    }
    let inner = file.join(IN_DIR_OBJECT);
    let moved = std::fs::create_dir(file)
        .and_then(|()| match std::fs::rename(sidecar_of(file), sidecar_of(&inner)) {
            Err(e) if !is_missing(&e) => Err(e),
            _ => Ok(()),
        })
        .and_then(|()| std::fs::rename(&parked, &inner));
    match moved {
        Ok(()) => {
            let _ = std::fs::remove_file(&note);
            Ok(())
        }
        Err(e) => {
            // Finish or undo it now; if that fails too, the note stays for the next start.
            if settle(file).is_ok() {
                let _ = std::fs::remove_file(&note);
            }
            Err(e)
        }
    }
}

/// Records in this store's temporary directory that `file` is about to be converted.
fn write_note(layout: &Layout, file: &Path) -> io::Result<PathBuf> {
    let relative = file
        .strip_prefix(layout.root())
        .ok()
        .and_then(Path::to_str)
        .ok_or_else(|| io::Error::other(format!("{} is not a name of this store", file.display())))?;
    let note = layout
        .tmp_dir()
        .join(format!("{CONVERSION_NOTE}{:032x}", rand::random::<u128>()));
    std::fs::write(&note, relative)?;
    Ok(note)
}

/// The object file a conversion note names, if the note is one: a relative path of plain
/// names inside a bucket, so that acting on it can never touch anything else.
pub fn noted_file(root: &Path, note: &Path) -> io::Result<Option<PathBuf>> {
    use std::path::Component;
    let text = match std::fs::read_to_string(note) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(e),
    };
    let relative = Path::new(&text);
    let mut components = relative.components();
    let in_bucket = matches!(
        components.next(),
        Some(Component::Normal(bucket)) if bucket.to_str().is_some_and(s3s::path::check_bucket_name)
    );
    let plain = relative.components().all(|c| matches!(c, Component::Normal(_)));
    if !in_bucket || !plain || components.next().is_none() {
        return Ok(None);
    }
    Ok(Some(root.join(relative)))
}

/// Finishes or undoes a conversion of the object file `file` that was cut short, if its
/// parked file ([`parked_of`]) is there; returns whether it was. Where the directory was
/// made, the object moves in (with its sidecar, unless that moved already); where it was
/// not, the file goes back to its name. An object written at `file` since then is newer,
/// and the parked one is dropped rather than left to come back later.
pub fn settle(file: &Path) -> io::Result<bool> {
    let parked = parked_of(file);
    match std::fs::symlink_metadata(&parked) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(false),
        Err(e) if is_missing(&e) => return Ok(false),
        Err(e) => return Err(e),
    }
    let neither = |path: &Path| io::Error::other(format!("{} is neither file nor directory", path.display()));
    let what = match stat(file)? {
        None => {
            std::fs::rename(&parked, file)?;
            "put back"
        }
        Some(m) if m.is_dir() => {
            let inner = file.join(IN_DIR_OBJECT);
            match stat(&inner)? {
                Some(m) if m.is_file() => {
                    std::fs::remove_file(&parked)?;
                    "dropped as overwritten"
                }
                Some(_) => return Err(neither(&inner)),
                None => {
                    let sidecar = sidecar_of(&inner);
                    if stat(&sidecar)?.is_none() {
                        match std::fs::rename(sidecar_of(file), &sidecar) {
                            Err(e) if !is_missing(&e) => return Err(e),
                            _ => {}
                        }
                    }
                    std::fs::rename(&parked, &inner)?;
                    "moved into its directory"
                }
            }
        }
        Some(m) if m.is_file() => {
            std::fs::remove_file(&parked)?;
            "dropped as overwritten"
        }
        Some(_) => return Err(neither(file)),
    };
    tracing::info!(
        "embedded store: an object left parked by a conversion cut short was {what}: {}",
        file.display()
    );
    Ok(true)
}

/// What is at `path`, if anything.
fn stat(path: &Path) -> io::Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes the directories leading to `key`'s path, converting object files met on the way,
/// and returns where its content file goes. A name found missing (or, for the key itself,
/// a directory) may have a parked object beside it, which is settled first: otherwise it
/// could come back over what is written now.
fn prepare(layout: &Layout, bucket: &str, key: &str) -> io::Result<PathBuf> {
    let mut path = layout.bucket_dir(bucket);
    let components = encode_key(key);
    let (last, parents) = components
        .split_last()
        .ok_or_else(|| io::Error::other("a key has at least one component"))?;
    for component in parents {
        path.push(component);
        let mut found = stat(&path)?;
        if found.is_none() && settle(&path)? {
            found = stat(&path)?;
        }
        match found {
            Some(m) if m.is_dir() => {}
            Some(m) if m.is_file() => convert_to_dir(&path, layout)?,
            Some(_) => {
                return Err(io::Error::other(format!(
                    "{} is neither file nor directory",
                    path.display()
                )))
            }
            None => std::fs::create_dir(&path)?,
        }
    }
    path.push(last);
    let mut found = stat(&path)?;
    if found.as_ref().is_none_or(|m| m.is_dir()) && settle(&path)? {
        found = stat(&path)?;
    }
    match found {
        Some(m) if m.is_dir() => Ok(path.join(IN_DIR_OBJECT)),
        Some(m) if m.is_file() => Ok(path),
        Some(_) => Err(io::Error::other(format!(
            "{} is neither file nor directory",
            path.display()
        ))),
        None => Ok(path),
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
