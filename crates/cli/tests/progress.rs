//! The progress bar, seen on a real pseudo-terminal: it shows when stderr is a terminal, never
//! in a pipe, shows a spinner with bytes and rate for a stream of unknown size, and is cleared
//! before the process says it is stopping on Ctrl-C.
#![cfg(unix)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::bin;

/// Runs the command with stderr on a new pseudo-terminal; `feed` writes its stdin. Returns
/// what the terminal showed and the exit status.
fn on_a_terminal(
    cmd: &mut Command,
    feed: impl FnOnce(std::process::ChildStdin, u32) + Send + 'static,
) -> (String, Option<i32>) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("spawn");
    // The command keeps its stderr after the spawn: drop that copy of the slave side, so that
    // the child holds the only one and reading the master side ends when it exits.
    cmd.stderr(Stdio::null());
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        seen
    });
    let stdin = child.stdin.take().expect("stdin");
    let pid = child.id();
    let feeder = std::thread::spawn(move || feed(stdin, pid));
    let status = child.wait().expect("wait");
    let _ = feeder.join();
    let seen = reader.join().unwrap_or_default();
    (String::from_utf8_lossy(&seen).to_string(), status.code())
}

/// A data directory for the embedded store, holding the bucket `bars`.
fn store_with_bucket() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data").to_str().expect("utf8").to_string();
    let made = bin()
        .args(["-q", "--embedded", &data, "create-bucket", "bars"])
        .status();
    assert!(made.expect("run").success());
    (tmp, data)
}

fn slow_feed(mut stdin: std::process::ChildStdin, chunks: usize) {
    let chunk = vec![7u8; 512 * 1024];
    for _ in 0..chunks {
        if stdin.write_all(&chunk).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn the_bar_shows_on_a_terminal_as_a_spinner_until_the_size_is_known() {
    let (_tmp, data) = store_with_bucket();

    // From stdin: the size is unknown until the end.
    let (shown, status) = on_a_terminal(
        bin().args(["--embedded", &data, "put-object", "bars", "stream.bin", "-"]),
        |stdin, _| slow_feed(stdin, 12),
    );
    assert_eq!(status, Some(0), "{shown}");
    assert!(
        shown.contains("MiB/s") || shown.contains("KiB/s"),
        "a rate on the terminal: {shown:?}"
    );
    assert!(
        // An unknown total is not a total of 0 (`3.00 MiB/0 B`, a bar that reads as done).
        !shown.contains("/0 B") && !shown.contains("/0B"),
        "no empty bar that reads as done: {shown:?}"
    );

    // The same upload with stderr in a pipe: nothing but the store's banner.
    let out = bin()
        .args(["--embedded", &data, "put-object", "bars", "piped.bin", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            let stdin = child.stdin.take().expect("stdin");
            slow_feed(stdin, 4);
            child.wait_with_output()
        })
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r') && !stderr.contains("/s"),
        "{stderr:?}"
    );

    // --quiet on a terminal: no bar either.
    let (shown, _) = on_a_terminal(
        bin().args(["-q", "--embedded", &data, "put-object", "bars", "quiet.bin", "-"]),
        |stdin, _| slow_feed(stdin, 4),
    );
    assert!(!shown.contains("/s"), "{shown:?}");
}

#[test]
fn ctrl_c_clears_the_bar_before_it_says_it_stops() {
    let (_tmp, data) = store_with_bucket();
    let (shown, status) = on_a_terminal(
        bin().args(["--embedded", &data, "put-object", "bars", "cut.bin", "-"]),
        |stdin, pid| {
            let feeding = std::thread::spawn(move || slow_feed(stdin, 40));
            std::thread::sleep(Duration::from_millis(1500));
            let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
            let _ = feeding.join();
        },
    );
    assert_eq!(status, Some(130), "{shown:?}");
    let stopping = shown.find("stopping (Interrupt)").expect("says it stops");
    let before = &shown[..stopping];
    assert!(before.contains("/s"), "the bar was shown: {shown:?}");
    // The last thing before the message erases the bar's line.
    let last_draw = before.rfind("/s").unwrap_or(0);
    assert!(
        before[last_draw..].contains("\u{1b}[2K") || before[last_draw..].contains("\u{1b}[K"),
        "not cleared: {:?}",
        &before[last_draw..]
    );
}
