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

/// Prints a result for people, as the action's file words it; hints go to stderr.
pub fn human(result: &ActionResult) {
    let text = result.human();
    for line in &text.lines {
        println!("{line}");
    }
    if let Some(hint) = &text.hint {
        eprintln!("{hint}");
    }
}
