//! Human-readable output and the progress bar. JSON output is the result's serde form.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3_connector::transfer::{NoProgress, Progress};
use s3_connector::ActionResult;

/// A progress bar on stderr, or nothing when stderr is not a terminal.
pub fn progress(enabled: bool) -> Box<dyn Progress> {
    if !enabled {
        return Box::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    Box::new(Bar(bar))
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Prints a result for people: listings as columns, the rest as `name: value` lines.
pub fn human(result: &ActionResult) {
    match result {
        ActionResult::ListBuckets(r) => {
            for b in &r.buckets {
                println!("{:<25} {}", b.creation_date.as_deref().unwrap_or("-"), b.name);
            }
        }
        ActionResult::ListObjects(r) => {
            for p in &r.common_prefixes {
                println!("{:>25} {:>12} {}", "", "PRE", p);
            }
            for o in &r.objects {
                println!(
                    "{:>25} {:>12} {}",
                    o.last_modified.as_deref().unwrap_or("-"),
                    o.size,
                    o.key
                );
            }
            if let Some(token) = &r.next_continuation_token {
                eprintln!("(more keys: pass --continuation-token {token})");
            }
        }
        ActionResult::ListPrefixes(r) => {
            for p in &r.prefixes {
                println!("{}", p.prefix);
            }
        }
        ActionResult::DeleteObjects(r) => {
            for k in &r.results {
                match &k.message {
                    None => println!("deleted {}", k.key),
                    Some(m) => println!("FAILED  {}: {m}", k.key),
                }
            }
            println!("{} deleted, {} failed", r.deleted, r.failed);
        }
        ActionResult::PresignUrl(r) => println!("{}", r.url),
        ActionResult::ListMultipartUploads(r) => {
            for u in &r.uploads {
                println!(
                    "{:<25} {:>10} {}  {}",
                    u.initiated.as_deref().unwrap_or("-"),
                    u.age_seconds.map(|a| format!("{}s", a)).unwrap_or_else(|| "-".into()),
                    u.key,
                    u.upload_id
                );
            }
            if r.truncated {
                eprintln!("(more uploads match: raise --max-uploads)");
            }
        }
        ActionResult::AbortMultipartUploads(r) => {
            let verb = if r.dry_run { "would abort" } else { "aborted" };
            for u in &r.aborted {
                println!("{verb} {}  {}", u.key, u.upload_id);
            }
            for f in &r.failed {
                println!("FAILED  {}  {}: {}", f.key, f.upload_id, f.message);
            }
            println!("{} {verb}, {} failed", r.aborted.len(), r.failed.len());
        }
        other => {
            let value = serde_json::to_value(other).unwrap_or_default();
            if let Some(map) = value.as_object() {
                for (name, v) in map {
                    match v {
                        serde_json::Value::Null => {}
                        serde_json::Value::String(s) => println!("{name}: {s}"),
                        serde_json::Value::Object(o) if o.is_empty() => {}
                        other => println!("{name}: {other}"),
                    }
                }
            }
        }
    }
}
