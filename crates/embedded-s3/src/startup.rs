//! What a store does when it starts: it claims a temporary directory of its own and clears
//! up after stores that are gone, never touching what a running store is using.
//!
//! Each store holds an exclusive lock on `tmp/STORE_ID/lock` for as long as it lives, so a
//! directory in `tmp/` whose lock can be taken belongs to a store that is gone (killed,
//! crashed or stopped): its temporary files are of no more use, and a conversion note among
//! them names an object that may still be parked ([`settle`]). Claiming and clearing both
//! happen under the data directory's lock, so a store that has made its directory but not
//! yet locked it is never taken for one that is gone. DeleteBucket clears up the same way
//! first, as it must not take a bucket holding only a parked object for an empty one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::layout::Layout;
use crate::namespace::{lock_data_dir, noted_file, settle, CONVERSION_NOTE};

/// The lock file in a store's temporary directory, held while the store lives.
const STORE_LOCK: &str = "lock";

/// A store's own temporary directory, with the lock that tells other stores it is in use.
/// Dropping it (with the store) removes the directory and releases the lock.
#[derive(Debug)]
pub struct OwnTmp {
    dir: PathBuf,
    /// Held, never read: closing the file releases the lock.
    _lock: File,
}

impl Drop for OwnTmp {
    fn drop(&mut self) {
        // A note left by a failed conversion is for the next store that starts to act on.
        let notes = std::fs::read_dir(&self.dir)
            .map(|entries| entries.flatten().any(|e| is_note(&e.file_name())))
            .unwrap_or(true);
        if !notes {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn is_note(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with(CONVERSION_NOTE))
}

/// Creates the store's own directories, claims `layout`'s temporary directory for this store
/// and clears away those of stores that are gone. Blocks on the data directory's lock.
pub fn prepare_internal_dirs(layout: &Layout) -> io::Result<OwnTmp> {
    std::fs::create_dir_all(layout.tmp_root())?;
    std::fs::create_dir_all(layout.uploads_dir())?;
    let data_lock = lock_data_dir(&layout.lock_file())?;
    let dir = layout.tmp_dir();
    std::fs::create_dir(&dir)?;
    let lock = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(STORE_LOCK))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(io::Error::other(format!("{} is locked already", dir.display())));
        }
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let own = OwnTmp { dir, _lock: lock };
    let loose = clear_gone_stores(layout, &own.dir);
    drop(data_lock);
    // Stores before per-store directories wrote their temporary files straight into tmp/,
    // most of them outside any lock, so nothing tells whether such a store still runs. One
    // of them could also be the only copy of an object that such a store had parked there
    // when it crashed mid-conversion. Only a person can tell: say so, and keep them.
    if loose > 0 {
        tracing::warn!(
            "embedded store: {loose} files directly in {} are from an earlier version of the store (its temporary \
             files, or an object it parked there when it crashed); they are left alone: remove them once no store \
             of that version serves this directory",
            layout.tmp_root().display()
        );
    }
    Ok(own)
}

/// Removes the temporary directories in `tmp/` of stores that are gone, but `own`, and
/// gives the number of plain files found directly in `tmp/`. Failures are logged, not
/// returned: what is left is tried again later, and none of it keeps this store from
/// working. Call it under the data directory's lock.
pub fn clear_gone_stores(layout: &Layout, own: &Path) -> usize {
    let tmp_root = layout.tmp_root();
    let entries = match std::fs::read_dir(&tmp_root) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!("embedded store: cannot read {}: {e}", tmp_root.display());
            return 0;
        }
    };
    let mut loose = 0usize;
    for entry in entries.flatten() {
        let path = entry.path();
        if path == own {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                if let Err(e) = clear_if_gone(layout.root(), &path) {
                    tracing::warn!("embedded store: cannot clear {}: {e}", path.display());
                }
            }
            Ok(_) => loose += 1,
            Err(_) => {}
        }
    }
    loose
}

/// Removes the store directory `dir` if its store is gone, first settling any conversion
/// its notes name (and keeping it, notes and all, when that fails).
fn clear_if_gone(root: &Path, dir: &Path) -> io::Result<()> {
    let lock = match OpenOptions::new().write(true).open(dir.join(STORE_LOCK)) {
        Ok(file) => Some(file),
        // Never locked: its store died while claiming it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(lock) = &lock {
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(()),
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Its store removed it on the way out.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut settled = true;
    for entry in entries.flatten() {
        if !is_note(&entry.file_name()) {
            continue;
        }
        let note = entry.path();
        match noted_file(root, &note) {
            Ok(Some(file)) => {
                if let Err(e) = settle(&file) {
                    tracing::warn!("embedded store: cannot finish converting {}: {e}", file.display());
                    settled = false;
                }
            }
            Ok(None) => tracing::warn!("embedded store: ignoring the unreadable note {}", note.display()),
            Err(e) => {
                tracing::warn!("embedded store: cannot read {}: {e}", note.display());
                settled = false;
            }
        }
    }
    if !settled {
        return Ok(());
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
