//! `promtool check metrics`, shared by the server's and the worker's tests (included by path).

/// Checks metrics text with `promtool check metrics` (the Prometheus project's own linter):
/// a failure under CI when promtool is missing (Debian package `prometheus`), a loud skip
/// elsewhere.
pub fn promtool_check(text: &str) {
    use std::io::Write as _;
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let msg = format!("promtool cannot run ({e}): install the Debian package prometheus");
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("\n*** SKIPPED: {msg} ***\n");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
