//! `s3-connector cat s3://bucket/key`: an object's bytes on stdout (getObject to a stream).

use clap::Args;
use s3_connector::uri::S3Url;
use s3_connector::{Connector, Error};

/// `cat`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  s3-connector --embedded ./data cat s3://reports/2026/q1.csv\n  s3-connector cat s3://backups/db.sql.gz | gunzip | psql mydb"
)]
pub struct CatArgs {
    /// The object, s3://bucket/key.
    #[arg(value_name = "S3_URL")]
    pub source: String,
    /// A version of the object (on a bucket with versioning).
    #[arg(long)]
    pub version_id: Option<String>,
}

/// Writes the object to stdout, streamed; nothing else goes there.
pub async fn run(args: &CatArgs, conn: &Connector) -> Result<(), Error> {
    let url = S3Url::parse("source", &args.source)?;
    if url.key.is_empty() || url.key.ends_with('/') || url.has_wildcard() {
        return Err(Error::invalid_input(
            "source",
            format!(
                "{} names no single object; cat takes s3://bucket/key (ls lists a prefix)",
                args.source
            ),
        ));
    }
    let request = serde_json::json!({
        "action": "getObject", "bucket": url.bucket, "key": url.key, "versionId": args.version_id,
    });
    let streams = s3_connector::Streams {
        output: Some(Box::new(tokio::io::stdout())),
        ..Default::default()
    };
    super::run(conn, request, streams).await.map(|_| ())
}
