//! What the CLI prints: results as text, JSON or JSON Lines, the progress bar, and stdout that
//! ends quietly when its reader goes away.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3_connector::transfer::{NoProgress, Progress};
use s3_connector::{ActionResult, Error};

use crate::args::{Global, OutputFormat};

/// Writes one line to stdout. When stdout's reader is gone (`s3-connector ls | head`), the
/// process ends at once with status 0, as ripgrep does: the reader has what it wanted, and
/// `println!` would panic instead.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            clear_bars();
            std::process::exit(0);
        }
        eprintln!("error[LocalIo]: cannot write to stdout: {e}");
        std::process::exit(s3_connector::ErrorCode::LocalIo.exit_code());
    }
}

/// Whether `err` is a write to a stdout whose reader went away.
pub fn is_broken_pipe(err: &Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = err.source.as_deref().map(|s| s as _);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// Prints a result in `format`. Text is the action's own wording, with its hint (e.g. how to
/// get the next page) on stderr unless `quiet`; JSON Lines prints each listed item on a line.
pub fn result(result: &ActionResult, format: OutputFormat, quiet: bool) {
    match format {
        OutputFormat::Json => print_line(&serde_json::to_string_pretty(result).unwrap_or_default()),
        OutputFormat::Jsonl => {
            for line in json_lines(result) {
                print_line(&line);
            }
            hint(result, quiet);
        }
        OutputFormat::Text => {
            for line in &result.human().lines {
                print_line(line);
            }
            hint(result, quiet);
        }
    }
}

fn hint(result: &ActionResult, quiet: bool) {
    if let Some(hint) = result.human().hint.filter(|_| !quiet) {
        eprintln!("{hint}");
    }
}

/// A result as JSON Lines: one compact line per item of the listing fields the action names
/// ([`ActionResult::items`]), a text item (a common prefix) as `{"prefix": ...}`; a result
/// that lists nothing is one line.
pub fn json_lines(result: &ActionResult) -> Vec<String> {
    let value = serde_json::to_value(result).unwrap_or_default();
    let fields = result.items();
    if fields.is_empty() {
        return vec![value.to_string()];
    }
    let mut lines = Vec::new();
    for field in fields {
        for item in value[*field].as_array().into_iter().flatten() {
            lines.push(match item {
                serde_json::Value::String(s) => serde_json::json!({ "prefix": s }).to_string(),
                other => other.to_string(),
            });
        }
    }
    lines
}

/// The bars on screen, so that a stop signal or a closed pipe can clear them before the
/// process exits: `std::process::exit` runs no destructors.
static BARS: Mutex<Vec<ProgressBar>> = Mutex::new(Vec::new());

/// Clears every progress bar still on screen.
pub fn clear_bars() {
    if let Ok(mut bars) = BARS.lock() {
        for bar in bars.drain(..) {
            bar.finish_and_clear();
        }
    }
}

/// A progress bar on stderr when stderr is a terminal and neither `--no-progress` nor
/// `--quiet` is given; otherwise nothing. Until the size is known (an upload from stdin) it
/// is a spinner with the bytes so far and the rate, not an empty bar that reads as done.
pub fn progress(global: &Global) -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if global.no_progress || global.quiet || !std::io::stderr().is_terminal() {
        return Box::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec} {elapsed}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    if let Ok(mut bars) = BARS.lock() {
        bars.retain(|b| !b.is_finished());
        bars.push(bar.clone());
    }
    Box::new(Bar(bar))
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        if let Ok(style) =
            ProgressStyle::with_template("{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}")
        {
            self.0.set_style(style);
        }
        self.0.disable_steady_tick();
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
