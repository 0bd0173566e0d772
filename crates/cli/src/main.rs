//! The `s3-connector` command line: parse arguments, build an action, run it, render the
//! result, and turn errors into exit statuses. All behaviour lives in the `s3-connector` library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use s3_connector::{
    Action, ActionResult, ConnectionSettings, Connector, Error, ErrorCode, Secret, Streams, TransferSettings,
};
use s3_connector_embedded::{EmbeddedOptions, EmbeddedStore};

mod args;
mod demo;
mod documents;
mod job;
mod render;
mod serve;
mod verbs;
mod worker;

use args::{Cli, Command, Global, LogFormat, OutputFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let service = matches!(cli.command, Command::Serve(_) | Command::Worker(_));
    init_tracing(&cli.global, service);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json_errors = cli.global.output_format() != OutputFormat::Text || matches!(cli.command, Command::Exec { .. });
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): a normal end, as ripgrep has it.
        Err(err) if render::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err, json_errors);
            ExitCode::from(err.code.exit_code() as u8)
        }
    }
}

fn init_tracing(global: &Global, service: bool) {
    let level = match global.verbose {
        // A service logs one line per request; a one-shot command stays quiet.
        0 if service => "info,aws_config=error,aws_smithy_runtime=warn",
        // aws-config warns with raw error dumps on every failed provider; our error says it plainly.
        0 if global.quiet => "error,aws_config=off",
        0 => "warn,aws_config=error",

        1 => "info,aws_config=warn,aws_smithy_runtime=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("S3_CONNECTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if global.log_format == LogFormat::Json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Prints an error on stderr: JSON for `exec`/`--json`, a line otherwise.
fn report(err: &Error, json: bool) {
    if json {
        let body = serde_json::json!({"error": {"code": err.code.as_str(), "message": err.message}});
        eprintln!("{body}");
    } else {
        eprintln!("error[{}]: {}", err.code, err.message);
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    listen_for_stops();
    match &cli.command {
        Command::Demo => return demo::run().await,
        Command::ElementTemplate => {
            let template = s3_connector::camunda::element_template::element_template();
            render::print_line(&serde_json::to_string_pretty(&template).unwrap_or_default());
            return Ok(());
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "s3-connector", &mut out);
            render::print_line(String::from_utf8_lossy(&out).trim_end());
            return Ok(());
        }
        Command::Man { dir } => return man_pages(dir.as_deref()),
        Command::ServeS3 { data, listen } => return serve_s3(&cli.global, data.clone(), *listen).await,
        Command::Serve(args) => return serve::run(&cli.global, args).await,
        Command::Worker(args) => return worker::run(&cli.global, args).await,
        _ => {}
    }
    // Kept alive until the command finishes; dropping it stops the embedded store.
    let (settings, _store) = settings(&cli.global, cli.global.embedded.clone()).await?;
    if let Command::Documents(_) | Command::Job { .. } = &cli.command {
        let spec = cli
            .global
            .documents
            .clone()
            .unwrap_or_else(|| s3_connector::documents::DEFAULT_STORE.to_string());
        let conn = document_connection(&spec, &settings).await?;
        return match (&cli.command, &conn) {
            (
                Command::Job {
                    variables,
                    headers,
                    retries,
                },
                _,
            ) => {
                let store = s3_connector::documents::open_store("documents", &spec, conn.as_ref())?;
                job::run(&settings, variables, headers.as_ref(), *retries, store.as_ref()).await
            }
            // The s3 store uploads; Ctrl-C must abort that upload as for putObject.
            (Command::Documents(cmd), Some(c)) => {
                let outcome = interruptible(Some(c), documents::run(cmd, &spec, Some(c))).await?;
                c.finish_cleanup(CLEANUP_GRACE).await;
                outcome
            }
            (Command::Documents(cmd), None) => interruptible(None, documents::run(cmd, &spec, None)).await?,
            _ => Err(Error::invalid_input("command", "not a documents or job command")),
        };
    }
    let conn = Connector::connect(settings).await?;
    tracing::info!(settings = ?conn.settings().describe(), "connected");
    let outcome = run_action_command(&cli, &conn).await;
    // An action stopped by its deadline, or failed half-way, started aborting its upload in the
    // background: let that reach the store before the process exits.
    let late = conn.finish_cleanup(CLEANUP_GRACE).await;
    if late > 0 {
        eprintln!("warning: {late} clean-up request(s) did not finish; list what is left with `s3-connector list-multipart-uploads BUCKET`");
    }
    outcome
}

/// Runs an action subcommand or `exec` on `conn`.
async fn run_action_command(cli: &Cli, conn: &Connector) -> Result<(), Error> {
    let conn = conn.clone();
    let conn = &conn;
    match &cli.command {
        Command::Exec {
            file,
            batch: true,
            jobs,
        } => interruptible(Some(conn), exec_batch(conn, Some(file.clone()), *jobs)).await?,
        Command::Exec { file, .. } => interruptible(Some(conn), exec(conn, Some(file.clone()))).await?,
        Command::Ls(args) => interruptible(Some(conn), verbs::ls::run(args, conn, cli.global.output_format())).await?,
        Command::Cat(args) => interruptible(Some(conn), verbs::cat::run(args, conn)).await?,
        Command::Action(action) => {
            let action = action.clone();
            let to_stdout = matches!(&action, Action::GetObject(r) if r.to_stream());
            let streams = Streams {
                input: Some(Box::new(tokio::io::stdin())),
                output: Some(Box::new(tokio::io::stdout())),
                progress: render::progress(&cli.global),
            };
            let result = interruptible(Some(conn), action.execute(conn, streams)).await??;
            if to_stdout {
                // The object's bytes went to stdout; keep it clean and say the rest on stderr.
                if cli.global.output_format() != OutputFormat::Text || cli.global.verbose > 0 {
                    eprintln!("{}", to_json(&result));
                }
            } else {
                render::result(&result, cli.global.output_format(), cli.global.quiet);
            }
            Ok(())
        }
        _ => Err(Error::invalid_input("command", "not an action")),
    }
}

/// The service's own secret values, which no job may read as a secret: the AWS credentials of
/// `settings` (given, or found by the default chain: environment, profile, SSO, instance role),
/// looked up once and bounded in time. (The values of the service's credential variables, such
/// as `S3_CONNECTOR_TOKEN` or `CAMUNDA_CLIENT_SECRET`, `SecretSource::from_env` refuses itself.)
pub(crate) async fn own_secret_values(settings: &ConnectionSettings) -> Vec<String> {
    let mut values = settings.secret_values();
    if let Ok(conn) = Connector::connect(settings.clone()).await {
        values.extend(conn.own_credential_values().await);
    }
    values
}

/// The S3 connection a document store spec needs: only the s3 store talks to S3 through
/// the global settings; the others need none (a job's own connection comes from its
/// variables).
pub(crate) async fn document_connection(spec: &str, settings: &ConnectionSettings) -> Result<Option<Connector>, Error> {
    match spec.trim().starts_with("s3:") {
        true => Ok(Some(Connector::connect(settings.clone()).await?)),
        false => Ok(None),
    }
}

/// How long an interrupted command waits for its clean-up (aborting multipart uploads): the
/// abort's own retry budget and a margin, so that an abort retried while the store throttles can
/// still finish.
pub(crate) const CLEANUP_GRACE: std::time::Duration = s3_connector::transfer::CLEANUP_WAIT;

/// A signal that asks the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Ctrl-C.
    Interrupt,
    /// `kill`, `timeout`, systemd, Kubernetes.
    Terminate,
    /// The terminal went away.
    Hangup,
}

impl Stop {
    /// The conventional exit status: 128 plus the signal's number.
    pub(crate) fn exit_status(self) -> i32 {
        match self {
            Stop::Hangup => 129,
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }
}

/// The stop signals received so far: how many, and the first one's kind.
type Stops = (u32, Option<Stop>);

/// Fed by the one listener of the process (see [`listen_for_stops`]).
static STOPS: std::sync::OnceLock<tokio::sync::watch::Receiver<Stops>> = std::sync::OnceLock::new();

/// How many tasks are waiting for a stop signal to handle it (clean up, drain) right now.
static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a waiter in [`WAITING`] while it lives.
pub(crate) struct Waiting;

impl Waiting {
    /// A service (serve, worker) holds one from the moment it starts serving to its end: a
    /// second signal must not cut its drain short. (While it sets up, a signal ends it at once.)
    pub(crate) fn new() -> Waiting {
        WAITING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Announces a signal. When nothing was waiting to handle it, the process ends at once, as it
/// would without a handler: a one-shot command still setting up (no request sent yet), or
/// between the first signal and its clean-up's wait for a second, or waiting for the clean-up
/// after its work ended (where a signal means "do not wait"). The status is the first signal's.
/// Whether anyone waits is read before the announcement: a waiter that wakes on it stops
/// counting at once, and reading after would take it for no one and end the process in the
/// middle of its clean-up.
fn announce(tx: &tokio::sync::watch::Sender<Stops>, stop: Stop) {
    let handled = WAITING.load(std::sync::atomic::Ordering::SeqCst) > 0;
    let mut status = stop.exit_status();
    tx.send_modify(|(n, first)| {
        *n += 1;
        status = first.get_or_insert(stop).exit_status();
    });
    if !handled {
        std::process::exit(status);
    }
}

/// Takes over SIGINT, SIGTERM and SIGHUP for the whole process, before any work starts. A
/// listener set up only when a command begins waiting would leave a window in which the work
/// already runs (an upload started, a `.part` file created) while the signal still has its
/// default effect, killing the process with nothing cleaned up; and a signal that arrives
/// between two listeners would be lost. A signal that no one waits for ends the process
/// ([`announce`]). Idempotent; needs the runtime.
pub(crate) fn listen_for_stops() -> tokio::sync::watch::Receiver<Stops> {
    STOPS
        .get_or_init(|| {
            let (tx, rx) = tokio::sync::watch::channel::<Stops>((0, None));
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                // Registered here, synchronously: from now on these signals are ours.
                // Each stream that registered is kept even if another failed: a registered
                // signal no longer has its default effect, so dropping its stream would make
                // the process deaf to it.
                let register = |kind: SignalKind, name: &str| {
                    signal(kind)
                        .map_err(|e| {
                            tracing::warn!("cannot listen for {name}: it ends the process without clean-up ({e})")
                        })
                        .ok()
                };
                let mut int = register(SignalKind::interrupt(), "SIGINT");
                let mut term = register(SignalKind::terminate(), "SIGTERM");
                let mut hup = register(SignalKind::hangup(), "SIGHUP");
                tokio::spawn(async move {
                    async fn next(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
                        match s {
                            Some(s) => s.recv().await,
                            None => std::future::pending().await,
                        }
                    }
                    loop {
                        let stop = tokio::select! {
                            Some(()) = next(&mut int) => Stop::Interrupt,
                            Some(()) = next(&mut term) => Stop::Terminate,
                            Some(()) = next(&mut hup) => Stop::Hangup,
                            else => return,
                        };
                        announce(&tx, stop);
                    }
                });
            }
            #[cfg(not(unix))]
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    announce(&tx, Stop::Interrupt);
                }
            });
            rx
        })
        .clone()
}

/// Waits until the process has received `count` stop signals (SIGINT, SIGTERM, SIGHUP) since
/// it started, and says what the first one was. Signals that came before the call count.
async fn stops_received(count: u32) -> Stop {
    let _waiting = Waiting::new();
    let mut rx = listen_for_stops();
    // The guard `wait_for` hands back is dropped at once: it must not live across an await.
    let first = rx.wait_for(|(n, _)| *n >= count).await.ok().map(|seen| seen.1);
    match first {
        Some(first) => first.unwrap_or(Stop::Interrupt),
        // No listener: nothing will ever arrive.
        None => std::future::pending().await,
    }
}

/// Resolves when SIGINT, SIGTERM or SIGHUP arrives (or has arrived), saying which.
pub(crate) async fn stop_signal() -> Stop {
    stops_received(1).await
}

/// Runs `work` until it finishes or a stop signal (SIGINT, SIGTERM, SIGHUP) arrives. On a signal
/// the work is dropped (which starts aborting any multipart upload in flight and removes a
/// download's temporary file), the clean-up is given up to [`CLEANUP_GRACE`] to reach the
/// store, and the process exits with the signal's conventional status (130, 143, 129). A second
/// signal during the clean-up exits at once. The signal is polled first: a stop that arrived
/// while the work was being set up wins over work that would finish in the same poll.
pub(crate) async fn interruptible<T>(
    conn: Option<&Connector>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Error> {
    let stopped = tokio::select! {
        biased;
        stop = stop_signal() => stop,
        out = work => return Ok(out),
    };
    exit_after_cleanup(stopped, conn).await
}

/// After a stop signal, with the work already dropped: waits for its clean-up (up to
/// [`CLEANUP_GRACE`], or until a second signal) and exits with the signal's status.
pub(crate) async fn exit_after_cleanup(stopped: Stop, conn: Option<&Connector>) -> ! {
    render::clear_bars();
    eprintln!("stopping ({stopped:?}): cleaning up (aborting unfinished uploads, removing partial files)...");
    if let Some(conn) = conn {
        let late = tokio::select! {
            late = conn.finish_cleanup(CLEANUP_GRACE) => late,
            _ = stops_received(2) => {
                eprintln!("stopped again: exiting without waiting for the clean-up");
                std::process::exit(stopped.exit_status());
            }
        };
        if late > 0 {
            eprintln!("warning: {late} clean-up request(s) did not finish; list what is left with `s3-connector list-multipart-uploads BUCKET`");
        }
    }
    std::process::exit(stopped.exit_status());
}

fn to_json(result: &ActionResult) -> String {
    serde_json::to_string_pretty(result).unwrap_or_else(|e| format!("{{\"error\":\"cannot render result: {e}\"}}"))
}

/// Reads the request text from `file`, or stdin for `None`/`-`. Returns it and whether it
/// came from stdin.
async fn read_requests(file: Option<PathBuf>) -> Result<(String, bool), Error> {
    let from_stdin = file.as_ref().is_none_or(|f| f.as_os_str() == "-");
    let text = if from_stdin {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut text)
            .await
            .map_err(|e| Error::invalid_input("request", format!("cannot read stdin: {e}")))?;
        text
    } else {
        let path = file.unwrap_or_default();
        tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| Error::local_io("read", &path, &e))?
    };
    Ok((text, from_stdin))
}

/// `exec --batch`: one request per line, up to `jobs` at once; one result line each, in
/// input order. Every line runs even if others fail; the exit status is the first failure's.
async fn exec_batch(conn: &Connector, file: Option<PathBuf>, jobs: usize) -> Result<(), Error> {
    use futures::StreamExt;
    if jobs == 0 || jobs > 1024 {
        return Err(Error::invalid_input("jobs", "must be 1 to 1024"));
    }
    let (text, _) = read_requests(file).await?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    let mut results = futures::stream::iter(lines)
        .map(|(line_no, line)| async move {
            match serde_json::from_str::<serde_json::Value>(line) {
                Err(e) => Err(Error::invalid_input(
                    "request",
                    format!("line {line_no} is not valid JSON: {e}"),
                )),
                Ok(value) => match Action::from_json(value) {
                    Err(e) => Err(e.context(format!("line {line_no}"))),
                    // No streams: in a batch, stdin and stdout carry the request and result lines.
                    Ok(action) => action.execute(conn, Streams::default()).await,
                },
            }
        })
        .buffered(jobs);
    let mut first_error: Option<Error> = None;
    while let Some(outcome) = results.next().await {
        let line = match &outcome {
            Ok(result) => serde_json::json!({"result": result}),
            Err(e) => serde_json::json!({"error": {"code": e.code.as_str(), "message": e.message}}),
        };
        render::print_line(&line.to_string());
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        // Each error is already on its own line; only the exit status is left to set.
        Some(e) => {
            conn.finish_cleanup(CLEANUP_GRACE).await;
            std::process::exit(e.code.exit_code())
        }
        None => Ok(()),
    }
}

/// `exec`: one JSON request from a file or stdin, the JSON result on stdout.
async fn exec(conn: &Connector, file: Option<PathBuf>) -> Result<(), Error> {
    let (text, from_stdin) = read_requests(file).await?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::invalid_input("request", format!("is not valid JSON: {e}")))?;
    let action = Action::from_json(value)?;
    // stdout carries the JSON result, so it is never an object stream; stdin is free for
    // putObject only when the request itself came from a file.
    let streams = Streams {
        input: if from_stdin {
            None
        } else {
            Some(Box::new(tokio::io::stdin()))
        },
        output: None,
        progress: Box::new(s3_connector::transfer::NoProgress),
    };
    let result = action.execute(conn, streams).await?;
    render::print_line(&to_json(&result));
    Ok(())
}

/// The explicit layer (flags), then env and config file under it. With an `embedded` data
/// directory, the store is started and its endpoint and keys become the explicit settings.
pub(crate) async fn settings(
    g: &Global,
    embedded: Option<PathBuf>,
) -> Result<(ConnectionSettings, Option<EmbeddedStore>), Error> {
    let file = match g.config.clone().or_else(ConnectionSettings::default_file) {
        Some(path) => Some(ConnectionSettings::from_file(&path)?),
        None => None,
    };
    let mut explicit = ConnectionSettings {
        region: g.region.clone(),
        endpoint: g.endpoint.clone(),
        path_style: g.path_style,
        access_key_id: g.access_key_id.clone(),
        secret_access_key: g.secret_access_key.clone(),
        session_token: g.session_token.clone(),
        profile: g.profile.clone(),
        checksums: g.checksums,
        max_attempts: g.max_attempts,
        transfer: None,
        timeouts: {
            let t = s3_connector::TimeoutSettings {
                connect: g.connect_timeout,
                attempt: g.attempt_timeout,
                stall: g.stall_timeout,
                deadline: g.deadline,
            };
            (t != s3_connector::TimeoutSettings::default()).then_some(t)
        },
        compat: g.compat,
        allow_sse_c_over_http: g.allow_sse_c_over_http,
    };
    let mut store = None;
    if let Some(dir) = &embedded {
        let started = EmbeddedStore::start(EmbeddedOptions::new(dir))
            .await
            .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot start the embedded S3 store: {e}")))?;
        if !g.quiet {
            eprintln!(
                "using the embedded S3 store at {} ({})",
                started.data_dir().display(),
                started.endpoint()
            );
        }
        explicit.endpoint = Some(started.endpoint());
        explicit.region = explicit.region.or(Some("us-east-1".into()));
        explicit.access_key_id = Some(started.access_key().to_string());
        explicit.secret_access_key = Some(Secret::new(started.secret_key()));
        explicit.session_token = None;
        explicit.profile = None;
        store = Some(started);
    }
    let mut layered = ConnectionSettings::layered(file, explicit)?;
    if g.part_size.is_some() || g.concurrency.is_some() || g.multipart_threshold.is_some() {
        let base = layered.transfer.clone().unwrap_or_default();
        layered.transfer = Some(TransferSettings {
            part_size: g.part_size.unwrap_or(base.part_size),
            concurrency: g.concurrency.unwrap_or(base.concurrency),
            multipart_threshold: g.multipart_threshold.unwrap_or(base.multipart_threshold),
            ..base
        });
    }
    Ok((layered, store))
}

/// `serve-s3`: the embedded store alone, until Ctrl-C.
async fn serve_s3(g: &Global, data: PathBuf, listen: std::net::SocketAddr) -> Result<(), Error> {
    if !listen.ip().is_loopback() {
        eprintln!(
            "warning: serving on {listen}, which is reachable from other machines; anyone with the keys can use it"
        );
    }
    let layered = ConnectionSettings::layered(
        None,
        ConnectionSettings {
            access_key_id: g.access_key_id.clone(),
            secret_access_key: g.secret_access_key.clone(),
            ..Default::default()
        },
    )?;
    let given = layered.access_key_id.clone().zip(layered.secret_access_key.clone());
    let mut opts = EmbeddedOptions::new(&data);
    opts.listen = listen;
    if let Some((key, secret)) = &given {
        opts.access_key = Some(key.clone());
        opts.secret_key = Some(secret.expose().to_string());
    }
    let store = EmbeddedStore::start(opts)
        .await
        .map_err(|e| Error::new(ErrorCode::LocalIo, format!("cannot start the embedded S3 store: {e}")))?;
    eprintln!(
        "using the embedded S3 store at {} ({}); Ctrl-C stops it",
        store.data_dir().display(),
        store.endpoint()
    );
    println!("export AWS_ENDPOINT_URL={}", store.endpoint());
    if given.is_none() {
        // Generated for this run only: the owner needs them once to connect.
        println!("export AWS_ACCESS_KEY_ID={}", store.access_key());
        println!("export AWS_SECRET_ACCESS_KEY={}", store.secret_key());
    }
    println!("export AWS_REGION=us-east-1");
    let stop = stop_signal().await;
    eprintln!("stopping the embedded S3 store ({stop:?})");
    drop(store);
    Ok(())
}

/// `man`: the main page on stdout, or every command's page into `dir`.
fn man_pages(dir: Option<&std::path::Path>) -> Result<(), Error> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::local_io("write", std::path::Path::new("stdout"), &e))?;
            render::print_line(String::from_utf8_lossy(&out).trim_end());
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::local_io("create", dir, &e))?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| Error::local_io("write man pages into", dir, &e))?;
        }
    }
    Ok(())
}
