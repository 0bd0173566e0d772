//! Listing: a depth-first walk of a bucket's tree that yields keys in UTF-8 byte order.
//!
//! Only one directory per level is held in memory. Each directory's entries are sorted by
//! the key range they cover: a file by its key, a directory `d` by `d/` (its keys all start
//! with that), plus the object `d` itself when the directory holds [`IN_DIR_OBJECT`]. These
//! ranges never overlap, so visiting them in order visits keys in order; `a-c` comes before
//! `a/b` because `-` sorts before `/`. A chunk directory (a long segment's first part) covers
//! keys that continue its text without a `/`, which interleave with its siblings' ranges, so
//! its entries are merged into its parent's list instead of being visited as a unit.
//! Subtrees that cannot hold a wanted key (outside the prefix, before the start, or under
//! a common prefix already answered) are never read.

use std::io;
use std::path::{Path, PathBuf};

use crate::layout::{decode_name, encode_key, Name, IN_DIR_OBJECT};
use crate::meta::is_missing;

/// An object found by the walk.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its key.
    pub key: String,
    /// Its content file.
    pub content: PathBuf,
}

enum Entry {
    Object(Found),
    /// A directory whose keys all start with `prefix`.
    Dir {
        path: PathBuf,
        prefix: String,
    },
}

impl Entry {
    fn sort_key(&self) -> &str {
        match self {
            Entry::Object(f) => &f.key,
            Entry::Dir { prefix, .. } => prefix,
        }
    }
}

/// A walk over the objects of one bucket whose keys start with `prefix` and sort after
/// `after`, in order.
pub struct Walk {
    bucket_dir: PathBuf,
    prefix: String,
    after: Option<String>,
    /// Keys starting with this are no longer wanted (a common prefix already answered).
    skip: Option<String>,
    /// One list per directory level, sorted so that `pop` gives the smallest entry.
    stack: Vec<Vec<Entry>>,
}

impl Walk {
    /// A walk of the bucket directory `bucket_dir`.
    pub fn new(bucket_dir: PathBuf, prefix: &str, after: Option<&str>) -> Walk {
        let root = Entry::Dir {
            path: bucket_dir.clone(),
            prefix: String::new(),
        };
        Walk {
            bucket_dir,
            prefix: prefix.to_string(),
            after: after.map(str::to_string),
            skip: None,
            stack: vec![vec![root]],
        }
    }

    /// From now on, skips every key that starts with `prefix`. The walk is in order, so this
    /// is only ever called with prefixes at or after everything yielded so far.
    pub fn skip_prefix(&mut self, prefix: &str) {
        self.skip = Some(prefix.to_string());
    }

    fn wants_key(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && self.after.as_deref().is_none_or(|a| key > a)
            && self.skip.as_deref().is_none_or(|s| !key.starts_with(s))
    }

    /// Whether some key starting with `start` could be wanted.
    fn wants_subtree(&self, start: &str) -> bool {
        let meets_prefix = start.starts_with(&self.prefix) || self.prefix.starts_with(start);
        // Every key starting with `start` is at or before `after` exactly when `after` is
        // beyond `start` without continuing it.
        let all_before = self
            .after
            .as_deref()
            .is_some_and(|a| a > start && !a.starts_with(start));
        let all_skipped = self.skip.as_deref().is_some_and(|s| start.starts_with(s));
        meets_prefix && !all_before && !all_skipped
    }

    /// The next object, or `None` at the end.
    pub fn next_object(&mut self) -> io::Result<Option<Found>> {
        loop {
            let Some(level) = self.stack.last_mut() else {
                return Ok(None);
            };
            let Some(entry) = level.pop() else {
                self.stack.pop();
                continue;
            };
            match entry {
                Entry::Object(found) => {
                    if self.wants_key(&found.key) {
                        return Ok(Some(found));
                    }
                }
                Entry::Dir { path, prefix } => {
                    if self.wants_subtree(&prefix) {
                        let mut entries = Vec::new();
                        self.read_dir(&path, &prefix, "", &mut entries)?;
                        entries.sort_by(|a, b| b.sort_key().cmp(a.sort_key()));
                        self.stack.push(entries);
                    }
                }
            }
        }
    }

    /// Whether `path` is exactly where `key` is stored, so that names the encoding would
    /// not produce (typed by hand, or left by other tools) are never taken for objects.
    fn is_canonical(&self, key: &str, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.bucket_dir) else {
            return false;
        };
        let expected = encode_key(key);
        rel.components()
            .map(|c| c.as_os_str())
            .eq(expected.iter().map(std::ffi::OsStr::new))
    }

    /// Adds the entries of the directory `dir`, whose keys start with `prefix` followed by
    /// `partial` (the text of the chunk directories it is nested in, if any).
    fn read_dir(&self, dir: &Path, prefix: &str, partial: &str, out: &mut Vec<Entry>) -> io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(decoded) = decode_name(name) else { continue };
            // Never follows a symbolic link: everything read stays inside the data directory.
            let kind = entry.file_type()?;
            match decoded {
                Name::Chunk(text) if kind.is_dir() => {
                    let partial = format!("{partial}{text}");
                    if self.wants_subtree(&format!("{prefix}{partial}")) {
                        self.read_dir(&entry.path(), prefix, &partial, out)?;
                    }
                }
                Name::Segment(text) if kind.is_file() => {
                    let key = format!("{prefix}{partial}{text}");
                    let path = entry.path();
                    if self.wants_key(&key) && self.is_canonical(&key, &path) {
                        out.push(Entry::Object(Found { key, content: path }));
                    }
                }
                Name::Segment(text) if kind.is_dir() => {
                    let key = format!("{prefix}{partial}{text}");
                    let path = entry.path();
                    if self.wants_key(&key) && self.is_canonical(&key, &path) {
                        let inner = path.join(IN_DIR_OBJECT);
                        if std::fs::symlink_metadata(&inner).is_ok_and(|m| m.is_file()) {
                            out.push(Entry::Object(Found {
                                key: key.clone(),
                                content: inner,
                            }));
                        }
                    }
                    let below = format!("{key}/");
                    if self.wants_subtree(&below) {
                        out.push(Entry::Dir { path, prefix: below });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One entry of a listing page.
#[derive(Debug, Clone)]
pub enum Listed {
    /// An object.
    Object(Found),
    /// A common prefix: keys rolled up at the delimiter.
    Prefix(String),
}

impl Listed {
    /// The key or common prefix, which is also where the next page starts after.
    pub fn name(&self) -> &str {
        match self {
            Listed::Object(f) => &f.key,
            Listed::Prefix(p) => p,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    /// Objects and common prefixes, in order.
    pub entries: Vec<Listed>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// Lists up to `max` objects and common prefixes of the bucket in `bucket_dir` whose keys
/// start with `prefix`, after `after`. Keys with `delimiter` after the prefix roll up into
/// one common prefix each, which counts as one entry; a common prefix at or before `after`
/// was answered on an earlier page and is skipped with everything under it.
pub fn list(
    bucket_dir: PathBuf,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> io::Result<Page> {
    let mut page = Page::default();
    if max == 0 {
        return Ok(page);
    }
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut walk = Walk::new(bucket_dir, prefix, after);
    while let Some(found) = walk.next_object()? {
        let entry = match delimiter.and_then(|d| found.key[prefix.len()..].find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                let common = found.key[..prefix.len() + i + d.len()].to_string();
                walk.skip_prefix(&common);
                if after.is_some_and(|a| common.as_str() <= a) {
                    continue;
                }
                Listed::Prefix(common)
            }
            None => Listed::Object(found),
        };
        if page.entries.len() == max {
            page.truncated = true;
            break;
        }
        page.entries.push(entry);
    }
    Ok(page)
}

/// Whether the bucket in `bucket_dir` holds at least one object.
pub fn holds_objects(bucket_dir: PathBuf) -> io::Result<bool> {
    Ok(Walk::new(bucket_dir, "", None).next_object()?.is_some())
}
