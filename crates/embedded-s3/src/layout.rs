//! Where everything lives under the data directory, and how an S3 key becomes a path.
//!
//! Every path the store touches is built here, from a checked bucket name and the encoding
//! below; no byte a client sent is ever joined onto a path as it came. The encoding is the
//! identity for ordinary keys, so a data directory stays browsable and old ones stay readable.
//! See the crate documentation for the full layout.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The store's own directory under the data directory. A bucket name never starts with `.`.
pub const INTERNAL_DIR: &str = ".s3-connector";
/// Inside a directory `P(K)`, the content of the object `K` itself (`K` is also a prefix).
pub const IN_DIR_OBJECT: &str = "%_";
/// Ends a directory name that continues its path segment in the next path component.
const CHUNK_SUFFIX: &str = "%+";
/// Ends a sidecar's name (`.` + content file name + this).
const SIDECAR_SUFFIX: &str = "%_m";
/// Ends the name an object file is parked under, beside its own, while it becomes a
/// directory (see [`parked_of`]).
pub const PARKED_SUFFIX: &str = "%_c";
/// Stands for an empty segment (`/x`, `a//b`, `a/`).
const EMPTY_SEGMENT: &str = "%-";
/// The longest encoded segment (or chunk of one) stored as one name; NAME_MAX is 255 and
/// the sidecar's name adds 4 bytes.
pub const MAX_CHUNK: usize = 200;
/// S3's limit on a key's length in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a key cannot name an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKey {
    /// S3 keys have at least one byte.
    Empty,
    /// S3 keys have at most 1024 bytes.
    TooLong,
}

/// Checks the only two rules S3 has for a key: 1 to 1024 bytes (it is UTF-8 by type).
pub fn check_key(key: &str) -> Result<(), BadKey> {
    if key.is_empty() {
        Err(BadKey::Empty)
    } else if key.len() > MAX_KEY_LEN {
        Err(BadKey::TooLong)
    } else {
        Ok(())
    }
}

/// Whether a byte must be written as `%XX` in a name: `%` itself (so that `%` always starts
/// an escape) and the control characters, which are awkward or impossible in file names.
fn must_escape(c: char) -> bool {
    c == '%' || c.is_ascii_control()
}

/// One segment (the text between two `/`) as a name, before splitting long ones.
fn encode_segment(segment: &str) -> String {
    match segment {
        "" => EMPTY_SEGMENT.to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => {
            let mut out = String::with_capacity(segment.len());
            for c in segment.chars() {
                if must_escape(c) {
                    // A char that must be escaped is ASCII, so one byte.
                    let _ = write!(out, "%{:02X}", c as u32);
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// The units a name may be split between: whole `%XX` escapes and whole characters.
fn units(encoded: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = encoded;
    while let Some(c) = rest.chars().next() {
        // `%` only ever starts an escape in the output of `encode_segment`.
        let len = if c == '%' { 3.min(rest.len()) } else { c.len_utf8() };
        let (unit, tail) = rest.split_at(len);
        out.push(unit);
        rest = tail;
    }
    out
}

/// Splits an encoded segment into chunks of at most [`MAX_CHUNK`] bytes.
fn chunks(encoded: &str) -> Vec<String> {
    if encoded.len() <= MAX_CHUNK {
        return vec![encoded.to_string()];
    }
    let mut out: Vec<Vec<&str>> = vec![Vec::new()];
    let mut len = 0;
    for unit in units(encoded) {
        if len + unit.len() > MAX_CHUNK {
            out.push(Vec::new());
            len = 0;
        }
        if let Some(last) = out.last_mut() {
            last.push(unit);
        }
        len += unit.len();
    }
    // The last chunk becomes a name of its own: `.` or `..` there would mean this directory
    // or its parent. Moving units over from the previous (full) chunk avoids both; it takes
    // two when that chunk ends in dots too.
    let n = out.len();
    while n >= 2 && matches!(out[n - 1].concat().as_str(), "." | "..") {
        let Some(unit) = out[n - 2].pop() else { break };
        out[n - 1].insert(0, unit);
    }
    out.into_iter().map(|c| c.concat()).collect()
}

/// The path components, relative to its bucket's directory, of the object `key`'s content
/// (or, when `key` is also a prefix, of the directory holding it as [`IN_DIR_OBJECT`]).
/// The key must have passed [`check_key`].
pub fn encode_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for segment in key.split('/') {
        let mut parts = chunks(&encode_segment(segment));
        let last = parts.pop().unwrap_or_default();
        out.extend(parts.into_iter().map(|c| c + CHUNK_SUFFIX));
        out.push(last);
    }
    out
}

/// What a name found in a bucket's tree stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// A whole segment: a file is an object, a directory a prefix ending in `/`.
    Segment(String),
    /// A directory continuing a long segment: its children's names follow this text directly.
    Chunk(String),
}

/// Undoes `%XX` escapes; `None` for anything the encoding could not have produced.
fn unescape(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)) {
                return None;
            }
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes one name of the bucket tree. `None` for the store's own names (sidecars, the
/// in-directory object) and for names the encoding cannot produce; listings skip those.
/// This is lenient about escapes: listings also compare the decoded key's encoding with
/// the path it was found at, which rejects every name that is not exactly canonical.
pub fn decode_name(name: &str) -> Option<Name> {
    if name.contains("%_") {
        return None;
    }
    if let Some(chunk) = name.strip_suffix(CHUNK_SUFFIX) {
        return unescape(chunk).map(Name::Chunk);
    }
    match name {
        EMPTY_SEGMENT => Some(Name::Segment(String::new())),
        "%2E" => Some(Name::Segment(".".to_string())),
        "%2E%2E" => Some(Name::Segment("..".to_string())),
        _ => unescape(name).map(Name::Segment),
    }
}

/// The sidecar (metadata) file of the content file `content`.
pub fn sidecar_of(content: &Path) -> PathBuf {
    let name = content
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    content.with_file_name(format!(".{name}{SIDECAR_SUFFIX}"))
}

/// Where the object file `file` waits while a directory of its name is made for it: beside
/// it, so that it never leaves its bucket's directory, under a name no key produces.
pub fn parked_of(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!("{name}{PARKED_SUFFIX}"))
}

/// The fixed places under one data directory, as one running store sees them.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    store_id: String,
}

impl Layout {
    /// The layout of the (canonical) data directory `root` for the store `store_id`, whose
    /// temporary files go to `tmp/STORE_ID/`. The ID must be a name of its own (the store
    /// makes it from hex digits).
    pub fn new(root: PathBuf, store_id: &str) -> Self {
        Layout {
            root,
            store_id: store_id.to_string(),
        }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A bucket's directory. The name must have passed `s3s::path::check_bucket_name`,
    /// which allows no `/`, no leading `.` and no `..`.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// Where the key's content lives when no directory of the same name exists.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        let mut path = self.bucket_dir(bucket);
        path.extend(encode_key(key));
        path
    }

    /// The store's own directory.
    pub fn internal_dir(&self) -> PathBuf {
        self.root.join(INTERNAL_DIR)
    }

    /// Where every running store has its temporary directory.
    pub fn tmp_root(&self) -> PathBuf {
        self.internal_dir().join("tmp")
    }

    /// This store's temporary files, renamed into place when complete. Its own, so that a
    /// store starting meanwhile can tell them from those of stores that are gone.
    pub fn tmp_dir(&self) -> PathBuf {
        self.tmp_root().join(&self.store_id)
    }

    /// Multipart uploads in progress, one directory each.
    pub fn uploads_dir(&self) -> PathBuf {
        self.internal_dir().join("uploads")
    }

    /// The advisory lock file that serializes namespace changes between processes.
    pub fn lock_file(&self) -> PathBuf {
        self.internal_dir().join("lock")
    }

    /// s3s-fs's metadata file of an object (content type, user metadata), if its name fits.
    pub fn legacy_metadata_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        self.legacy_path(bucket, key, "metadata")
    }

    /// s3s-fs's internal-info file of an object (its ETag and checksums), if its name fits.
    pub fn legacy_internal_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        self.legacy_path(bucket, key, "internal")
    }

    fn legacy_path(&self, bucket: &str, key: &str, kind: &str) -> Option<PathBuf> {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let name = format!(".bucket-{}.object-{}.{kind}.json", b64(bucket), b64(key));
        // s3s-fs could not have created a longer name: NAME_MAX is 255 bytes.
        (name.len() <= 255).then(|| self.root.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_path(components: &[String]) -> Option<String> {
        let mut key = String::new();
        for (i, c) in components.iter().enumerate() {
            match decode_name(c)? {
                Name::Chunk(text) => key.push_str(&text),
                Name::Segment(text) => {
                    key.push_str(&text);
                    if i + 1 < components.len() {
                        key.push('/');
                    }
                }
            }
        }
        Some(key)
    }

    #[test]
    fn parked_names_never_decode() {
        let parked = parked_of(Path::new("/data/b/a"));
        assert_eq!(parked, Path::new("/data/b/a%_c"));
        assert_eq!(decode_name("a%_c"), None);
    }

    #[test]
    fn ordinary_keys_are_paths() {
        assert_eq!(encode_key("reports/2026/q1.csv"), ["reports", "2026", "q1.csv"]);
        assert_eq!(encode_key("unicodé/日本語.txt"), ["unicodé", "日本語.txt"]);
        assert_eq!(encode_key(".hidden/..x"), [".hidden", "..x"]);
    }

    #[test]
    fn special_segments_are_escaped() {
        assert_eq!(encode_key(".."), ["%2E%2E"]);
        assert_eq!(encode_key("../x"), ["%2E%2E", "x"]);
        assert_eq!(encode_key("/x"), ["%-", "x"]);
        assert_eq!(encode_key("a//b"), ["a", "%-", "b"]);
        assert_eq!(encode_key("a/"), ["a", "%-"]);
        assert_eq!(encode_key("a/./b"), ["a", "%2E", "b"]);
        assert_eq!(encode_key("%_\0\x1f\x7f"), ["%25_%00%1F%7F"]);
    }

    #[test]
    fn long_segments_are_chunked_safely() {
        let key = "é".repeat(300);
        let parts = encode_key(&key);
        assert!(parts.iter().all(|p| p.len() <= MAX_CHUNK + 2));
        assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with("%+")));
        assert_eq!(decode_path(&parts).as_deref(), Some(key.as_str()));
        let dots = format!("{}..", "x".repeat(200));
        let parts = encode_key(&dots);
        assert_eq!(parts.last().map(String::as_str), Some("x.."));
        assert_eq!(decode_path(&parts).as_deref(), Some(dots.as_str()));
        let escapes = "\0".repeat(100);
        let parts = encode_key(&escapes);
        assert!(parts.iter().all(|p| p.len() <= MAX_CHUNK + 2));
        assert_eq!(decode_path(&parts).as_deref(), Some(escapes.as_str()));
    }

    #[test]
    fn no_component_is_special() {
        for unit in [".", "x", "é", "\0"] {
            for count in 1..450 {
                for end in ["", ".", "..", "x.."] {
                    let key = format!("{}{end}", unit.repeat(count));
                    let parts = encode_key(&key);
                    assert!(
                        parts.iter().all(|p| !matches!(p.as_str(), "" | "." | "..")
                            && !p.contains('/')
                            && p.len() <= MAX_CHUNK + 2),
                        "{key:?}: {parts:?}"
                    );
                    assert_eq!(decode_path(&parts).as_deref(), Some(key.as_str()));
                }
            }
        }
    }

    #[test]
    fn store_names_never_decode() {
        for name in ["%_", ".a%_m", ".%_%_m", "a%_c", "%", "%4", "%zz", "%2e", "a%-"] {
            assert!(
                !matches!(decode_name(name), Some(Name::Segment(s)) if encode_segment(&s) == name),
                "{name}"
            );
        }
    }
}
