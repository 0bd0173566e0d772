//! What the binary's end-to-end tests share.

use std::process::Command;

/// The `s3-connector` binary, hermetic: no AWS settings or config file from the machine running
/// the tests.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s3-connector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("S3_CONNECTOR") {
            c.env_remove(k);
        }
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    c.env("HOME", std::env::temp_dir().join("s3-connector-cli-test-home"));
    c
}
