//! The URI verbs, as aws-cli and s5cmd users type them: `ls`, `cat`. Each runs the core's
//! actions (listObjects, getObject...) and only turns `s3://` addresses into their requests and
//! their results into lines, so that a verb and the action it runs cannot behave apart.

pub mod cat;
pub mod ls;

use s3_connector::{Action, ActionResult, Connector, Error, Streams};

/// Runs one action built from `request` (its JSON form, so that the core checks a verb's
/// request as it checks any other).
pub(crate) async fn run(conn: &Connector, request: serde_json::Value, streams: Streams) -> Result<ActionResult, Error> {
    Action::from_json(request)?.execute(conn, streams).await
}

/// A date and time as aws-cli's `ls` shows it: `2026-12-02 21:30:35` (UTC).
pub(crate) fn short_time(rfc3339: Option<&str>) -> String {
    match rfc3339 {
        Some(t) if t.len() >= 19 => format!("{} {}", &t[..10], &t[11..19]),
        _ => format!("{:19}", "-"),
    }
}

/// A size for people (`2.9 MiB`) or in bytes.
pub(crate) fn size(bytes: u64, human: bool) -> String {
    match human {
        true => bytesize::ByteSize(bytes).display().iec().to_string(),
        false => bytes.to_string(),
    }
}
