//! Command-line arguments. The action subcommands are the core's [`Action`] itself (clap derive
//! on the request types, the core's `cli` feature): a subcommand parses into the same request
//! `exec` reads from JSON, and the core validates both alike, so the two cannot drift apart.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use s3_connector::config::ChecksumMode;
use s3_connector::{Action, Secret};
use s3_connector_server::Limits;
use s3_connector_worker::WorkerConfig;

/// Amazon S3 connector for process automation: upload, download, list, copy, move and
/// delete objects in S3 and S3-compatible stores.
#[derive(Debug, Parser)]
#[command(name = "s3-connector", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  s3-connector demo\n  s3-connector --embedded ./data create-bucket reports\n  s3-connector --endpoint http://127.0.0.1:9000 list-objects reports \\\n      --prefix 2026/\n  echo '{\"action\":\"listBuckets\"}' | s3-connector exec -\n\nDocs: docs/cli.md (commands), docs/actions.md (actions), docs/errors.md (exit\nstatus:\n0 success, 2 invalid input, 3-15 by error code)."
)]
pub struct Cli {
    /// Connection settings shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings that apply to every command. Flags beat environment variables, which beat the
/// config file. Each has a help heading of its own, so that a command's help lists its own
/// options first and these apart, by what they are about.
#[derive(Debug, Args)]
// Listed after each subcommand's own arguments in its help.
#[command(next_display_order = 1000)]
pub struct Global {
    /// Custom S3 endpoint URL (MinIO, Ceph, Garage, R2...). Env: AWS_ENDPOINT_URL.
    #[arg(long, global = true, value_name = "URL", help_heading = CONNECTION)]
    pub endpoint: Option<String>,
    /// AWS region. Env: AWS_REGION.
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub region: Option<String>,
    /// Path-style addressing. Default: true for custom endpoints.
    #[arg(long, global = true, value_name = "BOOL", help_heading = CONNECTION)]
    pub path_style: Option<bool>,
    /// Access key id (with --secret-access-key). Env: AWS_ACCESS_KEY_ID.
    #[arg(long, global = true, value_name = "ID", help_heading = CONNECTION)]
    pub access_key_id: Option<String>,
    /// Secret access key. Prefer the env AWS_SECRET_ACCESS_KEY: flags show in `ps`.
    #[arg(long, global = true, value_name = "SECRET", hide_env_values = true, value_parser = secret, help_heading = CONNECTION)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials. Env: AWS_SESSION_TOKEN.
    #[arg(long, global = true, value_name = "TOKEN", value_parser = secret, help_heading = CONNECTION)]
    pub session_token: Option<Secret>,
    /// Named profile from ~/.aws/config, with its region, credentials and endpoint_url.
    /// Env: AWS_PROFILE.
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub profile: Option<String>,
    /// Checksums on requests and responses. Default: whenRequired for custom endpoints.
    #[arg(long, global = true, value_name = "MODE", value_enum, help_heading = CONNECTION)]
    pub checksums: Option<ChecksumMode>,
    /// Tolerate known quirks of S3-compatible stores. Default: true for custom endpoints.
    /// Env: S3_CONNECTOR_COMPAT.
    #[arg(long, global = true, value_name = "BOOL", help_heading = CONNECTION)]
    pub compat: Option<bool>,
    /// Allow SSE-C keys over a plain-http endpoint. Default false: the key would cross the
    /// network in clear. Env: S3_CONNECTOR_ALLOW_SSE_C_OVER_HTTP.
    #[arg(long, global = true, value_name = "BOOL", help_heading = CONNECTION)]
    pub allow_sse_c_over_http: Option<bool>,
    /// Use the embedded S3 store, serving DIR on 127.0.0.1, instead of AWS.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "endpoint", help_heading = CONNECTION)]
    pub embedded: Option<PathBuf>,
    /// Config file (TOML). Default: $S3_CONNECTOR_CONFIG or ~/.config/s3-connector/config.toml.
    #[arg(long, global = true, value_name = "FILE", help_heading = CONNECTION)]
    pub config: Option<PathBuf>,
    /// The document store: memory, local:DIR, s3:BUCKET/PREFIX or camunda:URL.
    #[arg(long, global = true, value_name = "SPEC", env = "S3_CONNECTOR_DOCUMENTS", help_heading = CONNECTION)]
    pub documents: Option<String>,
    /// Attempts per request including the first (standard retry mode). Default 3.
    #[arg(long, global = true, value_name = "N", help_heading = TRANSFER)]
    pub max_attempts: Option<u32>,
    /// Multipart part size, 5MiB to 5GiB, e.g. 16MiB. Default 8MiB.
    #[arg(long, global = true, value_name = "SIZE", value_parser = size, help_heading = TRANSFER)]
    pub part_size: Option<u64>,
    /// Parts in flight at once. Default 8.
    #[arg(long, global = true, value_name = "N", help_heading = TRANSFER)]
    pub concurrency: Option<usize>,
    /// Objects above this size use multipart / parallel ranged GETs, e.g. 64MiB. Default 8MiB.
    #[arg(long, global = true, value_name = "SIZE", value_parser = size, help_heading = TRANSFER)]
    pub multipart_threshold: Option<u64>,
    /// Time to open a connection to the store, e.g. 10s. Env: S3_CONNECTOR_CONNECT_TIMEOUT.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration, help_heading = TRANSFER)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Time one attempt of a request without a body stream may take, e.g. 30s.
    /// Env: S3_CONNECTOR_ATTEMPT_TIMEOUT.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration, help_heading = TRANSFER)]
    pub attempt_timeout: Option<std::time::Duration>,
    /// A body may go this long without a byte moving before that part is retried or the
    /// download resumes, e.g. 60s. Env: S3_CONNECTOR_STALL_TIMEOUT.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration, help_heading = TRANSFER)]
    pub stall_timeout: Option<std::time::Duration>,
    /// Stop an action that has not finished after this long, e.g. 15m. Env: S3_CONNECTOR_DEADLINE.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration, help_heading = TRANSFER)]
    pub deadline: Option<std::time::Duration>,
    /// How results are printed: text for people, json (one document), jsonl (one line per
    /// listed item, as s5cmd prints).
    #[arg(long, global = true, value_name = "FORMAT", value_enum, help_heading = OUTPUT)]
    pub output: Option<OutputFormat>,
    /// Print results as JSON: the same as --output json.
    #[arg(long, global = true, conflicts_with = "output", help_heading = OUTPUT)]
    pub json: bool,
    /// Print only results and errors: no store banner, progress, hints or warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = OUTPUT)]
    pub quiet: bool,
    /// Never show a progress bar.
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub no_progress: bool,
    /// Log what happens (to stderr). Repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = OUTPUT)]
    pub verbose: u8,
    /// Log format on stderr (json: one JSON object per line).
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        value_enum,
        default_value = "text",
        env = "S3_CONNECTOR_LOG_FORMAT",
        help_heading = OUTPUT
    )]
    pub log_format: LogFormat,
}

/// The heading of the connection flags in every command's help.
const CONNECTION: &str = "Connection (every command)";
/// The heading of the transfer and timeout flags.
const TRANSFER: &str = "Transfers and timeouts (every command)";
/// The heading of the output flags.
const OUTPUT: &str = "Output (every command)";

/// How results are printed (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people; listings as columns.
    Text,
    /// One pretty-printed JSON document.
    Json,
    /// JSON Lines: one compact line per listed item (objects, buckets, versions, keys); other
    /// results one line.
    Jsonl,
}

/// The format of log lines on stderr (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

impl Global {
    /// The output format in effect: `--output`, else `--json`, else text.
    pub fn output_format(&self) -> OutputFormat {
        match (self.output, self.json) {
            (Some(format), _) => format,
            (None, true) => OutputFormat::Json,
            (None, false) => OutputFormat::Text,
        }
    }
}

/// The subcommands: one per action, plus exec, the services, documents, job and demo.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List buckets, or the objects and prefixes at s3://bucket[/prefix] (as `aws s3 ls`).
    Ls(crate::verbs::ls::LsArgs),
    /// Write an object's bytes to stdout.
    Cat(crate::verbs::cat::CatArgs),
    /// The actions, each a subcommand: `list-objects`, `put-object`, ... Their arguments are
    /// derived from the request types in the core, so a flag is a request field by
    /// construction.
    #[command(flatten)]
    Action(Action),
    /// Run one JSON request {"action": "...", ...} from FILE or stdin; print the JSON result.
    #[command(
        after_help = "Examples:\n  echo '{\"action\":\"headObject\",\"bucket\":\"reports\",\"key\":\"q1.pdf\"}' | \\\n      s3-connector --embedded ./data exec\n  s3-connector exec request.json\n  s3-connector exec --batch requests.jsonl --jobs 32\n\nWith --batch each output line is {\"result\": ...} or {\"error\": {\"code\",\n\"message\"}}; the exit status is that of the first failure.\nOn failure prints {\"error\":{\"code\",\"message\"}} on stderr and exits with the\ncode's status."
    )]
    Exec {
        /// The request file; `-` for stdin.
        file: PathBuf,
        /// Read one request per line (JSON Lines) and print one result per line, in input order.
        /// Lines run concurrently: put requests that depend on each other in separate runs.
        #[arg(long)]
        batch: bool,
        /// With --batch: how many requests run at once.
        #[arg(long, default_value_t = 16, value_name = "N")]
        jobs: usize,
    },
    /// Run the embedded S3 store alone, serving DIR until interrupted.
    #[command(name = "serve-s3")]
    #[command(
        after_help = "Example:\n  s3-connector serve-s3 --data ./data --listen 127.0.0.1:9000\n\nCredentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the flags) if set, else\nrandom ones, printed once on stdout as export lines."
    )]
    ServeS3 {
        /// The data directory (created if missing).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
    },
    /// Run the HTTP service: actions, Camunda jobs, Camunda's document API, probes, metrics.
    #[command(
        after_help = "Examples:\n  s3-connector serve\n  S3_CONNECTOR_TOKEN=$(openssl rand -hex 24) s3-connector \\\n      --endpoint https://s3.eu-central-1.amazonaws.com \\\n      --documents s3:docs-bucket/documents serve --listen 0.0.0.0:8080\n\nWith no S3 connection configured (no --endpoint, --profile, --config, AWS_*\nvariables), it starts the embedded store under\n--data and keeps documents there too. Without a token it listens on loopback\nonly. See docs/http-api.md."
    )]
    Serve(ServeArgs),
    /// Run a Camunda 8 job worker for io.camunda:aws-s3:1 jobs over the cluster's REST API.
    #[command(
        after_help = "Examples:\n  s3-connector worker --cluster http://localhost:8080\n  CAMUNDA_CLIENT_SECRET=... s3-connector worker \\\n      --cluster https://bru-2.zeebe.camunda.io/CLUSTER_ID \\\n      --oauth-url https://login.cloud.camunda.io/oauth/token \\\n      --client-id ID --audience zeebe.camunda.io\n\nDocuments go to the cluster's own document API unless --documents says\notherwise. See docs/deployment.md."
    )]
    Worker(WorkerArgs),
    /// Store, read and delete documents in the document store (--documents).
    #[command(subcommand)]
    Documents(DocumentsCommand),
    /// Print the element template for Camunda Modeler (JSON).
    #[command(
        name = "element-template",
        after_help = "Example:\n  s3-connector element-template > ~/.camunda/element-templates/s3-connector.json\n\nCamunda's AWS S3 template (same id, ids and bindings) one version up, with our\nother actions added; see docs/camunda.md."
    )]
    ElementTemplate,
    /// Run one Camunda job (io.camunda:aws-s3:1 variables) and print how it ends.
    #[command(
        after_help = "Example:\n  s3-connector --documents local:./docs job --variables vars.json \\\n      --headers headers.json --retries 3\n\nPrints {\"outcome\": \"complete\"|\"fail\"|\"bpmnError\", ...}; see docs/camunda.md. The\nS3 connection comes from the\nvariables (authentication, configuration, awsCredential); {{secrets.NAME}} is\nread from the environment variable NAME.\nExit status 0 whatever the outcome; non-zero only when the files cannot be read."
    )]
    Job {
        /// The job's variables: a JSON object file, `-` for stdin.
        #[arg(long, value_name = "FILE")]
        variables: PathBuf,
        /// The task headers (resultVariable, resultExpression, errorExpression, retryBackoff...):
        /// a JSON object file.
        #[arg(long, value_name = "FILE")]
        headers: Option<PathBuf>,
        /// The job's remaining retries.
        #[arg(long, default_value_t = 3, value_name = "N")]
        retries: i64,
    },
    /// Walk through every action on the embedded store in a temporary directory.
    #[command(after_help = "Example:\n  cargo run --release -- demo")]
    Demo,
    /// Print the shell completion script for SHELL on stdout.
    #[command(
        after_help = "Examples:\n  s3-connector completions bash > /etc/bash_completion.d/s3-connector\n  s3-connector completions zsh > ~/.zfunc/_s3-connector\n  s3-connector completions fish > ~/.config/fish/completions/s3-connector.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page on stdout, or write one page per command into DIR.
    #[command(
        after_help = "Examples:\n  s3-connector man | man -l -\n  s3-connector man --dir /usr/local/share/man/man1"
    )]
    Man {
        /// Write s3-connector.1 and s3-connector-COMMAND.1 for every command into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `s3-connector documents ...`: the document store, as Camunda processes use it.
#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Store a file (or stdin) and print its document reference (JSON).
    #[command(
        after_help = "Example:\n  s3-connector --documents local:./docs documents put invoice.pdf \\\n      --content-type application/pdf > ref.json"
    )]
    Put {
        /// The file; `-` for stdin.
        file: PathBuf,
        /// Media type (default: guessed from the file name).
        #[arg(long)]
        content_type: Option<String>,
        /// The file name to record (default: the file's name).
        #[arg(long)]
        file_name: Option<String>,
        /// When the document expires, ISO-8601 (e.g. 2026-12-31T23:59:59Z).
        #[arg(long)]
        expires_at: Option<String>,
        /// A custom property NAME=VALUE; repeat for more.
        #[arg(long = "property", value_name = "NAME=VALUE")]
        properties: Vec<String>,
    },
    /// Write a document's content to a file (atomically) or stdout.
    #[command(
        after_help = "Example:\n  s3-connector --documents local:./docs documents get @ref.json invoice-copy.pdf"
    )]
    Get {
        /// The document reference: JSON text, or @FILE to read it from a file.
        reference: String,
        /// Target file; `-` or absent for stdout.
        out: Option<PathBuf>,
    },
    /// Delete a document by id (a missing document succeeds).
    #[command(
        after_help = "Example:\n  s3-connector \\\n      --documents local:./docs documents delete \\\n      41d2a87f-f39c-4ddd-a116-18d2091cc695"
    )]
    Delete {
        /// The document id.
        document_id: String,
    },
}

/// `s3-connector serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080", env = "S3_CONNECTOR_LISTEN")]
    pub listen: std::net::SocketAddr,
    /// The directory for the embedded S3 store and the default document store, used when no
    /// S3 connection is configured.
    #[arg(long, value_name = "DIR", default_value = "./s3-connector-data")]
    pub data: PathBuf,
    /// The bearer token requests must carry. Prefer --token-file: the environment of a process
    /// is easier to keep private than its arguments.
    #[arg(long, env = "S3_CONNECTOR_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = secret)]
    pub token: Option<Secret>,
    /// A file holding the bearer token (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Largest JSON body (an action request, a job), e.g. 1MiB.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_REQUEST_BYTES as u64, value_name = "SIZE", value_parser = size)]
    pub max_request_bytes: u64,
    /// Largest streamed upload (object or document content), e.g. 5GiB.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_UPLOAD_BYTES, value_name = "SIZE", value_parser = size)]
    pub max_upload_bytes: u64,
    /// How long a request may take until its response starts (an upload counts in full),
    /// e.g. 15m; a bare number is seconds.
    #[arg(long, default_value = secs(Limits::DEFAULT_REQUEST_TIMEOUT), value_name = "DURATION", value_parser = duration)]
    pub request_timeout: std::time::Duration,
    /// Requests served at once; more wait for a slot.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_CONCURRENT, value_name = "N")]
    pub max_concurrent: usize,
    /// How long in-flight requests may still run after Ctrl-C or SIGTERM, e.g. 30s.
    #[arg(long, default_value = secs(Limits::DEFAULT_SHUTDOWN_GRACE), value_name = "DURATION", value_parser = duration)]
    pub shutdown_grace: std::time::Duration,
}

/// `s3-connector worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The cluster's REST address, e.g. http://localhost:8080.
    #[arg(long, env = "CAMUNDA_REST_ADDRESS", value_name = "URL")]
    pub cluster: String,
    /// The address of the worker's own /health, /ready and /metrics (no token: counts only).
    #[arg(
        long,
        default_value = "127.0.0.1:9600",
        env = "S3_CONNECTOR_WORKER_LISTEN",
        value_name = "ADDR"
    )]
    pub listen: std::net::SocketAddr,
    /// The job type to take.
    #[arg(long, default_value = s3_connector_worker::DEFAULT_JOB_TYPE, value_name = "TYPE")]
    pub job_type: String,
    /// The worker's name, shown in Operate (default: s3-connector-HOSTNAME).
    #[arg(long, value_name = "NAME")]
    pub worker_name: Option<String>,
    /// How long an activated job is this worker's before the cluster may hand it to another,
    /// e.g. 5m; a bare number is seconds.
    #[arg(long, default_value = secs(WorkerConfig::DEFAULT_JOB_TIMEOUT), value_name = "DURATION", value_parser = duration)]
    pub job_timeout: std::time::Duration,
    /// Jobs run at once.
    #[arg(long, default_value_t = WorkerConfig::DEFAULT_MAX_JOBS, value_name = "N")]
    pub max_jobs: usize,
    /// How long one activation request waits for jobs, e.g. 20s.
    #[arg(long, default_value = secs(WorkerConfig::DEFAULT_POLL_TIMEOUT), value_name = "DURATION", value_parser = duration)]
    pub poll_timeout: std::time::Duration,
    /// How long running jobs may still finish after Ctrl-C or SIGTERM (the rest are handed
    /// back), e.g. 30s.
    #[arg(long, default_value = secs(WorkerConfig::DEFAULT_SHUTDOWN_GRACE), value_name = "DURATION", value_parser = duration)]
    pub shutdown_grace: std::time::Duration,
    /// OAuth token endpoint; without it, no authentication (a local cluster) or --token.
    #[arg(long, env = "CAMUNDA_OAUTH_URL", value_name = "URL")]
    pub oauth_url: Option<String>,
    /// OAuth client id.
    #[arg(long, env = "CAMUNDA_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth client secret. Prefer the environment variable: flags show in `ps`.
    #[arg(long, env = "CAMUNDA_CLIENT_SECRET", hide_env_values = true, value_name = "SECRET", value_parser = secret)]
    pub client_secret: Option<Secret>,
    /// OAuth audience (zeebe.camunda.io on SaaS).
    #[arg(long, env = "CAMUNDA_TOKEN_AUDIENCE", value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// OAuth scope.
    #[arg(long, env = "CAMUNDA_TOKEN_SCOPE", value_name = "SCOPE")]
    pub scope: Option<String>,
    /// A fixed bearer token instead of OAuth.
    #[arg(
        long,
        env = "CAMUNDA_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "oauth_url",
        value_parser = secret
    )]
    pub token: Option<Secret>,
}

/// Reads a duration flag: 30s, 500ms, 2m, 1h, or a number of seconds.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    s3_connector::config::parse_duration("duration", text).map_err(|e| e.message)
}

/// A default duration as its flag's text, e.g. `30s` (clap needs it as a `&'static str`).
fn secs(d: std::time::Duration) -> clap::builder::OsStr {
    clap::builder::OsStr::from(format!("{}s", d.as_secs()))
}

/// Reads a size flag as people write it: `16MiB`, `64 MB`, `1GiB`, or a number of bytes.
pub(crate) fn size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("{text:?} is not a size; write it like 16MiB, 64MB, 1GiB or a number of bytes"))
}

/// Reads a secret flag into a [`Secret`], so that the parsed arguments' `Debug` shows `***`.
fn secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_a_subcommand_that_parses_into_its_request() {
        use clap::CommandFactory;
        let cli = Cli::command();
        for entry in s3_connector::actions::CATALOG {
            let kebab: String = entry
                .name
                .chars()
                .flat_map(|c| {
                    let sep = c.is_uppercase().then_some('-');
                    sep.into_iter().chain(c.to_lowercase())
                })
                .collect();
            assert!(cli.find_subcommand(&kebab).is_some(), "no subcommand {kebab}");
        }
        let parsed = Cli::try_parse_from([
            "s3-connector",
            "put-object",
            "b1b",
            "k",
            "-",
            "--metadata",
            "owner=ops",
            "--metadata",
            "team=x",
        ])
        .expect("put-object parses");
        let Command::Action(Action::PutObject(put)) = parsed.command else {
            panic!("not a putObject: {parsed:?}");
        };
        let json = Action::from_json(serde_json::json!({"action": "putObject", "bucket": "b1b", "key": "k",
            "metadata": {"owner": "ops", "team": "x"}}))
        .expect("JSON parses");
        let Action::PutObject(from_json) = json else { panic!() };
        assert_eq!((&put.metadata, put.source_file()), (&from_json.metadata, None));
        // A request field named like a global flag keeps its own id: the bucket's region is
        // not the connection's.
        let create = Cli::try_parse_from([
            "s3-connector",
            "--region",
            "us-east-1",
            "create-bucket",
            "b1b",
            "--bucket-region",
            "eu-west-1",
        ])
        .expect("create-bucket");
        assert_eq!(create.global.region.as_deref(), Some("us-east-1"));
        let Command::Action(Action::CreateBucket(create)) = create.command else {
            panic!()
        };
        assert_eq!(create.region.as_deref(), Some("eu-west-1"));
        let copy = Cli::try_parse_from(["s3-connector", "copy-object", "b1b", "k", "--to-key", "k2"]).expect("copy");
        let Command::Action(Action::CopyObject(copy)) = copy.command else {
            panic!()
        };
        assert_eq!((copy.destination_key.as_deref(), copy.metadata), (Some("k2"), None));
    }

    /// Every command's help, long form, with its name.
    fn all_help() -> Vec<(String, String)> {
        use clap::CommandFactory;
        fn walk(cmd: &mut clap::Command, path: String, out: &mut Vec<(String, String)>) {
            out.push((path.clone(), cmd.render_long_help().to_string()));
            for sub in cmd.get_subcommands_mut() {
                let name = format!("{path} {}", sub.get_name());
                walk(sub, name, out);
            }
        }
        let mut cmd = Cli::command().term_width(100);
        cmd.build();
        let mut out = Vec::new();
        walk(&mut cmd, "s3-connector".into(), &mut out);
        out
    }

    #[test]
    fn examples_in_help_are_never_wrapped_on_an_80_column_terminal() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, bad: &mut Vec<String>) {
            for text in [cmd.get_after_help(), cmd.get_after_long_help()].into_iter().flatten() {
                for line in text.to_string().lines().filter(|l| l.chars().count() > 80) {
                    bad.push(format!("{}: {line}", cmd.get_name()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, bad);
            }
        }
        let mut bad = Vec::new();
        walk(&Cli::command(), &mut bad);
        assert!(bad.is_empty(), "lines over 80 columns:\n{}", bad.join("\n"));
    }

    #[test]
    fn every_doc_the_help_names_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut named = 0;
        for (command, help) in all_help() {
            for word in help.split(|c: char| c.is_whitespace() || "(),;:'\"`".contains(c)) {
                let word = word.trim_end_matches('.');
                if word.starts_with("docs/") && word.ends_with(".md") {
                    named += 1;
                    assert!(
                        root.join(word).is_file(),
                        "`{command} --help` names {word}, which does not exist"
                    );
                }
            }
        }
        assert!(named > 5, "only {named} docs named in help");
    }

    #[test]
    fn global_flags_are_listed_apart_from_a_commands_own() {
        let help = all_help();
        let (_, put) = help
            .iter()
            .find(|(c, _)| c == "s3-connector put-object")
            .expect("put-object");
        let own = put.find("--content-type").expect("own option");
        let connection = put.find(CONNECTION).expect("connection heading");
        assert!(own < connection, "{put}");
        assert!(
            put[connection..].contains("--endpoint") && !put[..connection].contains("--endpoint"),
            "{put}"
        );
    }

    #[test]
    fn sizes_durations_and_enumerations_parse_as_people_write_them() {
        let cli = Cli::try_parse_from([
            "s3-connector",
            "--part-size",
            "16MiB",
            "--multipart-threshold",
            "64 MB",
            "--checksums",
            "whenSupported",
            "--output",
            "jsonl",
            "list-buckets",
        ])
        .expect("parses");
        assert_eq!(cli.global.part_size, Some(16 * 1024 * 1024));
        assert_eq!(cli.global.multipart_threshold, Some(64_000_000));
        assert_eq!(cli.global.checksums, Some(ChecksumMode::WhenSupported));
        assert_eq!(cli.global.output_format(), OutputFormat::Jsonl);
        let json = Cli::try_parse_from(["s3-connector", "--json", "list-buckets"]).expect("parses");
        assert_eq!(json.global.output_format(), OutputFormat::Json);
        for bad in [
            vec!["s3-connector", "--part-size", "16 furlongs", "list-buckets"],
            vec!["s3-connector", "--log-format", "yaml", "list-buckets"],
            vec!["s3-connector", "--checksums", "sometimes", "list-buckets"],
            vec!["s3-connector", "--output", "xml", "list-buckets"],
            vec!["s3-connector", "--json", "--output", "text", "list-buckets"],
            vec!["s3-connector", "put-object", "b1b", "k", "-", "--metadata", "novalue"],
            vec!["s3-connector", "put-object", "b1b", "typo.bin"],
            vec!["s3-connector", "exec"],
            vec!["s3-connector", "--quiet", "-v", "list-buckets"],
        ] {
            let err = Cli::try_parse_from(&bad).expect_err(&bad.join(" "));
            assert_ne!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{}", bad.join(" "));
        }
        let serve = Cli::try_parse_from([
            "s3-connector",
            "serve",
            "--request-timeout",
            "2m",
            "--max-upload-bytes",
            "1GiB",
        ])
        .expect("serve");
        let Command::Serve(serve) = serve.command else { panic!() };
        assert_eq!(serve.request_timeout, std::time::Duration::from_secs(120));
        assert_eq!(serve.max_upload_bytes, 1 << 30);
        let put = Cli::try_parse_from(["s3-connector", "put-object", "b1b", "k", "--content", "hi"]).expect("content");
        assert!(matches!(put.command, Command::Action(Action::PutObject(_))));
    }

    #[test]
    fn parsed_arguments_never_show_secrets() {
        let cli = Cli::try_parse_from([
            "s3-connector",
            "--secret-access-key",
            "aws-secret-1",
            "--session-token",
            "aws-session-2",
            "worker",
            "--cluster",
            "http://localhost:8080",
            "--oauth-url",
            "http://localhost:18080/token",
            "--client-id",
            "id",
            "--client-secret",
            "oauth-secret-3",
        ])
        .expect("arguments");
        let shown = format!("{cli:?}");
        for secret in ["aws-secret-1", "aws-session-2", "oauth-secret-3"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let serve = Cli::try_parse_from(["s3-connector", "serve", "--token", "service-token-4"]).expect("arguments");
        assert!(!format!("{serve:?}").contains("service-token-4"));
    }
}
