//! Command-line arguments. The action subcommands are the core's [`Action`] itself (clap derive
//! on the request types, the core's `cli` feature): a subcommand parses into the same request
//! `exec` reads from JSON, and the core validates both alike, so the two cannot drift apart.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use s3_connector::{Action, Secret};
use s3_connector_server::Limits;
use s3_connector_worker::WorkerConfig;

/// Amazon S3 connector for process automation: upload, download, list, copy, move and
/// delete objects in S3 and S3-compatible stores.
#[derive(Debug, Parser)]
#[command(name = "s3-connector", version, propagate_version = true)]
#[command(
    after_help = "Examples:\n  s3-connector demo\n  s3-connector --embedded ./data create-bucket reports\n  s3-connector --endpoint http://127.0.0.1:9000 list-objects reports --prefix 2026/\n  echo '{\"action\":\"listBuckets\"}' | s3-connector exec -\n\nDocs: docs/README.md. Exit status: 0 success, 2 invalid input, 3-15 see docs/errors.md."
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
/// config file.
#[derive(Debug, Args)]
// Listed after each subcommand's own arguments in its help.
#[command(next_display_order = 1000)]
pub struct Global {
    /// Custom S3 endpoint URL (MinIO, Ceph, Garage, R2...). Env: AWS_ENDPOINT_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// AWS region. Env: AWS_REGION.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Path-style addressing: true or false. Default: true for custom endpoints.
    #[arg(long, global = true, value_name = "BOOL")]
    pub path_style: Option<bool>,
    /// Access key id (with --secret-access-key). Env: AWS_ACCESS_KEY_ID.
    #[arg(long, global = true, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Secret access key. Prefer the env AWS_SECRET_ACCESS_KEY: flags show in `ps`.
    #[arg(long, global = true, value_name = "SECRET", hide_env_values = true, value_parser = secret)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials. Env: AWS_SESSION_TOKEN.
    #[arg(long, global = true, value_name = "TOKEN", value_parser = secret)]
    pub session_token: Option<Secret>,
    /// Named profile from ~/.aws/config. Env: AWS_PROFILE.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Checksums: whenRequired (plain bodies; default for custom endpoints) or whenSupported.
    #[arg(long, global = true, value_name = "MODE")]
    pub checksums: Option<String>,
    /// Attempts per request including the first (standard retry mode). Default 3.
    #[arg(long, global = true, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Multipart part size in bytes (5 MiB to 5 GiB). Default 8 MiB.
    #[arg(long, global = true, value_name = "BYTES")]
    pub part_size: Option<u64>,
    /// Parts in flight at once. Default 8.
    #[arg(long, global = true, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Objects above this size use multipart / parallel ranged GETs. Default 8 MiB.
    #[arg(long, global = true, value_name = "BYTES")]
    pub multipart_threshold: Option<u64>,
    /// Time to open a connection to the store, e.g. 10s. Env: S3_CONNECTOR_CONNECT_TIMEOUT.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Time one attempt of a request without a body stream may take, e.g. 30s.
    /// Env: S3_CONNECTOR_ATTEMPT_TIMEOUT.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub attempt_timeout: Option<std::time::Duration>,
    /// A body may go this long without a byte moving before that part is retried or the
    /// download resumes, e.g. 60s. Env: S3_CONNECTOR_STALL_TIMEOUT.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub stall_timeout: Option<std::time::Duration>,
    /// Stop an action that has not finished after this long, e.g. 15m. Env: S3_CONNECTOR_DEADLINE.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub deadline: Option<std::time::Duration>,
    /// Tolerate known quirks of S3-compatible stores: true or false. Default: true for custom
    /// endpoints. Env: S3_CONNECTOR_COMPAT.
    #[arg(long, global = true, value_name = "BOOL")]
    pub compat: Option<bool>,
    /// Allow SSE-C keys (sseCustomerKey) over a plain-http endpoint: true or false. Default
    /// false: the key would cross the network in clear. Env: S3_CONNECTOR_ALLOW_SSE_C_OVER_HTTP.
    #[arg(long, global = true, value_name = "BOOL")]
    pub allow_sse_c_over_http: Option<bool>,
    /// Config file (TOML). Default: $S3_CONNECTOR_CONFIG or ~/.config/s3-connector/config.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The document store: memory, local:DIR, s3:BUCKET/PREFIX or camunda:URL.
    #[arg(long, global = true, value_name = "SPEC", env = "S3_CONNECTOR_DOCUMENTS")]
    pub documents: Option<String>,
    /// Use the embedded S3 store, serving DIR on 127.0.0.1, instead of AWS.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "endpoint")]
    pub embedded: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Never show a progress bar.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Log what happens (to stderr). Repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr: text or json (one JSON object per line).
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        default_value = "text",
        env = "S3_CONNECTOR_LOG_FORMAT"
    )]
    pub log_format: String,
}

/// The subcommands: one per action, plus exec, the services, documents, job and demo.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The actions, each a subcommand: `list-objects`, `put-object`, ... Their arguments are
    /// derived from the request types in the core, so a flag is a request field by
    /// construction.
    #[command(flatten)]
    Action(Action),
    /// Run one JSON request {"action": "...", ...} from FILE or stdin; print the JSON result.
    #[command(
        after_help = "Examples:\n  echo '{\"action\":\"headObject\",\"bucket\":\"reports\",\"key\":\"q1.pdf\"}' | s3-connector --embedded ./data exec\n  s3-connector exec request.json\n  s3-connector exec --batch requests.jsonl --jobs 32\n\nWith --batch each output line is {\"result\": ...} or {\"error\": {\"code\", \"message\"}}; the exit status is that of the first failure.\nOn failure prints {\"error\":{\"code\",\"message\"}} on stderr and exits with the code's status."
    )]
    Exec {
        /// The request file; `-` or absent for stdin.
        file: Option<PathBuf>,
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
        after_help = "Example:\n  s3-connector serve-s3 --data ./data --listen 127.0.0.1:9000\n\nCredentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the flags) if set, else random ones, printed once on stdout as export lines."
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
        after_help = "Examples:\n  s3-connector serve\n  S3_CONNECTOR_TOKEN=$(openssl rand -hex 24) s3-connector --endpoint https://s3.eu-central-1.amazonaws.com --documents s3:docs-bucket/documents serve --listen 0.0.0.0:8080\n\nWith no S3 connection configured (no --endpoint, --profile, --config, AWS_* variables), it starts the embedded store under\n--data and keeps documents there too. Without a token it listens on loopback only. See docs/http-api.md."
    )]
    Serve(ServeArgs),
    /// Run a Camunda 8 job worker for io.camunda:aws-s3:1 jobs over the cluster's REST API.
    #[command(
        after_help = "Examples:\n  s3-connector worker --cluster http://localhost:8080\n  CAMUNDA_CLIENT_SECRET=... s3-connector worker --cluster https://bru-2.zeebe.camunda.io/CLUSTER_ID --oauth-url https://login.cloud.camunda.io/oauth/token --client-id ID --audience zeebe.camunda.io\n\nDocuments go to the cluster's own document API unless --documents says otherwise. See docs/deployment.md."
    )]
    Worker(WorkerArgs),
    /// Store, read and delete documents in the document store (--documents).
    #[command(subcommand)]
    Documents(DocumentsCommand),
    /// Print the element template for Camunda Modeler (JSON).
    #[command(
        name = "element-template",
        after_help = "Example:\n  s3-connector element-template > ~/.camunda/element-templates/s3-connector.json\n\nCamunda's AWS S3 template (same id, ids and bindings) one version up, with our other actions added; see docs/camunda.md."
    )]
    ElementTemplate,
    /// Run one Camunda job (io.camunda:aws-s3:1 variables) and print how it ends.
    #[command(
        after_help = "Example:\n  s3-connector --documents local:./docs job --variables vars.json --headers headers.json --retries 3\n\nPrints {\"outcome\": \"complete\"|\"fail\"|\"bpmnError\", ...}; see docs/camunda.md. The S3 connection comes from the\nvariables (authentication, configuration, awsCredential); {{secrets.NAME}} is read from the environment variable NAME.\nExit status 0 whatever the outcome; non-zero only when the files cannot be read."
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
}

/// `s3-connector documents ...`: the document store, as Camunda processes use it.
#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Store a file (or stdin) and print its document reference (JSON).
    #[command(
        after_help = "Example:\n  s3-connector --documents local:./docs documents put invoice.pdf --content-type application/pdf > ref.json"
    )]
    Put {
        /// The file; `-` or absent for stdin.
        file: Option<PathBuf>,
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
        after_help = "Example:\n  s3-connector --documents local:./docs documents delete 41d2a87f-f39c-4ddd-a116-18d2091cc695"
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
    /// Largest JSON body (an action request, a job), in bytes.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_REQUEST_BYTES, value_name = "BYTES")]
    pub max_request_bytes: usize,
    /// Largest streamed upload (object or document content), in bytes.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_UPLOAD_BYTES, value_name = "BYTES")]
    pub max_upload_bytes: u64,
    /// Seconds a request may take until its response starts (an upload counts in full).
    #[arg(long, default_value_t = Limits::DEFAULT_REQUEST_TIMEOUT.as_secs(), value_name = "SECS")]
    pub request_timeout: u64,
    /// Requests served at once; more wait for a slot.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_CONCURRENT, value_name = "N")]
    pub max_concurrent: usize,
    /// Seconds in-flight requests may still run after Ctrl-C or SIGTERM.
    #[arg(long, default_value_t = Limits::DEFAULT_SHUTDOWN_GRACE.as_secs(), value_name = "SECS")]
    pub shutdown_grace: u64,
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
    /// Seconds an activated job is this worker's before the cluster may hand it to another.
    #[arg(long, default_value_t = WorkerConfig::DEFAULT_JOB_TIMEOUT.as_secs(), value_name = "SECS")]
    pub job_timeout: u64,
    /// Jobs run at once.
    #[arg(long, default_value_t = WorkerConfig::DEFAULT_MAX_JOBS, value_name = "N")]
    pub max_jobs: usize,
    /// Seconds one activation request waits for jobs.
    #[arg(long, default_value_t = WorkerConfig::DEFAULT_POLL_TIMEOUT.as_secs(), value_name = "SECS")]
    pub poll_timeout: u64,
    /// Seconds running jobs may still finish after Ctrl-C or SIGTERM; the rest are handed back.
    #[arg(long, default_value_t = WorkerConfig::DEFAULT_SHUTDOWN_GRACE.as_secs(), value_name = "SECS")]
    pub shutdown_grace: u64,
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
