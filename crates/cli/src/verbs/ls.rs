//! `s3-connector ls [s3://bucket[/prefix]]`: buckets, or what is at an address, as `aws s3 ls`
//! prints it. Pages of listObjects are printed as they arrive, so a listing of any size runs
//! in the memory of one page.

use clap::Args;
use s3_connector::actions::ListObjectsResult;
use s3_connector::uri::S3Url;
use s3_connector::{ActionResult, Connector, Error, Streams};

use crate::args::OutputFormat;
use crate::render::print_line;

/// `ls`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  s3-connector --embedded ./data ls\n  s3-connector --embedded ./data ls s3://reports/2026/\n  s3-connector ls --recursive --human-readable --summarize s3://reports\n  s3-connector ls 's3://logs/2026-12-*.gz'\n  s3-connector --output jsonl ls -r s3://reports | jq -r .key\n\nWithout --recursive, keys are grouped at the next `/` (PRE lines), and names are\nshown\nrelative to the prefix, as aws-cli does. A wildcard (* ? [..]) lists every key\nit matches,\n`*` crossing `/` as in s5cmd; quote it so the shell leaves it alone."
)]
pub struct LsArgs {
    /// What to list: s3://bucket, s3://bucket/prefix, or a pattern; nothing for the buckets.
    #[arg(value_name = "S3_URL")]
    pub target: Option<String>,
    /// Every key under the prefix, not grouped at `/`.
    #[arg(short, long)]
    pub recursive: bool,
    /// Sizes for people (2.9 MiB) rather than bytes.
    #[arg(short = 'H', long)]
    pub human_readable: bool,
    /// End with the number of objects and their total size.
    #[arg(long)]
    pub summarize: bool,
    /// Take `*`, `?` and `[` in the key literally (keys that contain them).
    #[arg(long)]
    pub raw: bool,
}

/// Lists and prints, page by page.
pub async fn run(args: &LsArgs, conn: &Connector, format: OutputFormat) -> Result<(), Error> {
    let Some(target) = &args.target else {
        return buckets(conn, format).await;
    };
    let url = S3Url::parse("target", target)?;
    let pattern = if args.raw { None } else { url.pattern("target")? };
    let prefix = pattern
        .as_ref()
        .map(|p| p.prefix().to_string())
        .unwrap_or(url.key.clone());
    let grouped = !args.recursive && pattern.is_none();
    // Names are shown from the last `/` of the prefix on, as aws-cli shows them.
    let shown_from = match grouped {
        true => prefix.rfind('/').map(|i| i + 1).unwrap_or(0),
        false => 0,
    };
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut token: Option<String> = None;
    loop {
        let request = serde_json::json!({
            "action": "listObjects", "bucket": url.bucket, "prefix": prefix,
            "delimiter": grouped.then_some("/"), "maxKeys": 1000, "continuationToken": token,
        });
        let ActionResult::ListObjects(page) = super::run(conn, request, Streams::default()).await? else {
            return Err(Error::invalid_input(
                "target",
                "listObjects answered with another result",
            ));
        };
        let ListObjectsResult {
            objects,
            common_prefixes,
            next_continuation_token,
            ..
        } = page;
        for p in &common_prefixes {
            match format {
                OutputFormat::Text => print_line(&format!("{:>30} {}", "PRE", &p[shown_from.min(p.len())..])),
                _ => print_line(&serde_json::json!({"prefix": p}).to_string()),
            }
        }
        for o in objects
            .iter()
            .filter(|o| pattern.as_ref().is_none_or(|p| p.matches(&o.key)))
        {
            count += 1;
            bytes += o.size;
            match format {
                OutputFormat::Text => print_line(&format!(
                    "{} {:>10} {}",
                    super::short_time(o.last_modified.as_deref()),
                    super::size(o.size, args.human_readable),
                    &o.key[shown_from.min(o.key.len())..]
                )),
                _ => print_line(&serde_json::to_string(o).unwrap_or_default()),
            }
        }
        match next_continuation_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    if args.summarize {
        match format {
            OutputFormat::Text => {
                print_line("");
                print_line(&format!("Total Objects: {count}"));
                print_line(&format!("   Total Size: {}", super::size(bytes, args.human_readable)));
            }
            _ => print_line(&serde_json::json!({"summary": {"objects": count, "bytes": bytes}}).to_string()),
        }
    }
    Ok(())
}

async fn buckets(conn: &Connector, format: OutputFormat) -> Result<(), Error> {
    let request = serde_json::json!({"action": "listBuckets"});
    let ActionResult::ListBuckets(list) = super::run(conn, request, Streams::default()).await? else {
        return Err(Error::invalid_input(
            "target",
            "listBuckets answered with another result",
        ));
    };
    for b in &list.buckets {
        match format {
            OutputFormat::Text => print_line(&format!("{} {}", super::short_time(b.creation_date.as_deref()), b.name)),
            _ => print_line(&serde_json::to_string(b).unwrap_or_default()),
        }
    }
    Ok(())
}
