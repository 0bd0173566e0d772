//! The conformance suite: every action against real S3 servers over HTTP on loopback, through
//! every front end.
//!
//! Each case is its own test, named `STORE::FRONT::CASE` (e.g. `garage::http::copies`), so
//! that one failure hides nothing else and `cargo test --test conformance garage::` picks a
//! store. The stores are the embedded store (in-process), moto_server, Garage and rclone
//! serve s3 (child processes); a store starts only when a selected test needs it. The front
//! ends are the library, the HTTP service and the CLI (see front.rs).
//!
//! Every check that moves content compares the bytes read back with the bytes written,
//! because the failures S3-compatible stores are known for (stored aws-chunked framing,
//! truncated bodies) are silent.
//!
//! The suite lives in the CLI crate because that crate links every front end and owns the
//! binary the CLI cases run.

#[path = "../../../connector/tests/support/mod.rs"]
mod support;

mod buckets;
mod copies;
mod errors;
mod front;
mod headers;
mod keys;
mod listing;
mod presign;
mod storage;
mod tags;
mod transfers;
mod versions;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::future::BoxFuture;
use libtest_mimic::{Arguments, Failed, Trial};

use front::{Ctx, Front, UnderTest, ALL, LIBRARY, WITH_FILES};

/// One case: a name, the front ends it runs through, and what it does.
struct Case {
    name: &'static str,
    fronts: &'static [Front],
    run: for<'a> fn(&'a Ctx) -> BoxFuture<'a, ()>,
}

macro_rules! cases {
    ($($module:ident::$name:ident: $fronts:expr,)*) => {
        vec![$(Case { name: stringify!($name), fronts: $fronts, run: |t| Box::pin($module::$name(t)) },)*]
    };
}

/// Every case, by topic. A case runs through every front end unless it needs a hook only the
/// library has, or local files.
fn cases() -> Vec<Case> {
    cases![
        buckets::buckets: ALL,
        buckets::deletes: ALL,
        keys::tricky_keys: ALL,
        keys::content_types_and_ranges: ALL,
        listing::listing: ALL,
        listing::pagination: ALL,
        transfers::large_multipart_round_trip: ALL,
        transfers::stream_upload: ALL,
        transfers::uploads_left_behind: ALL,
        transfers::failed_upload_leaves_nothing: LIBRARY,
        transfers::failed_download_leaves_the_target_alone: WITH_FILES,
        transfers::download_of_a_changing_object_fails: LIBRARY,
        copies::copies: ALL,
        copies::multipart_copy: LIBRARY,
        copies::moves: ALL,
        copies::move_survives_source_change_during_copy: LIBRARY,
        copies::move_survives_source_change_before_delete: LIBRARY,
        presign::presigned_urls: ALL,
        tags::tags: ALL,
        headers::object_headers: ALL,
        storage::storage_classes: ALL,
        storage::encryption: ALL,
        storage::customer_keys: ALL,
        versions::versions: ALL,
        errors::bad_input_sends_nothing: ALL,
        errors::errors: ALL,
        errors::wrong_credentials_and_dead_stores: LIBRARY,
    ]
}

const STORES: [&str; 4] = ["embedded", "moto", "garage", "rclone"];

async fn start(store: &str) -> Option<Arc<UnderTest>> {
    let target = match store {
        "embedded" => Some(support::embedded().await),
        "moto" => support::moto().await,
        "garage" => support::garage().await,
        "rclone" => support::rclone().await,
        other => unreachable!("no store {other}"),
    }?;
    let http = front::support_http::start(target.conn.clone()).await;
    Some(Arc::new(UnderTest { target, http }))
}

/// Whether libtest's filters select `name` (substring, or `--exact`; `--skip` wins).
fn selected(args: &Arguments, name: &str) -> bool {
    let matches = |f: &str| if args.exact { name == f } else { name.contains(f) };
    args.filter.as_deref().is_none_or(matches) && !args.skip.iter().any(|s| matches(s))
}

fn main() {
    let mut args = Arguments::from_args();
    // The cases wait on stores, not on the CPU.
    args.test_threads.get_or_insert(8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .expect("runtime");
    let cases = Arc::new(cases());
    let names = |store: &str| -> Vec<(String, usize, Front)> {
        cases
            .iter()
            .enumerate()
            .flat_map(|(i, case)| {
                case.fronts
                    .iter()
                    .map(move |front| (format!("{store}::{}::{}", front.name(), case.name), i, *front))
            })
            .collect()
    };
    let needed: Vec<&str> = STORES
        .into_iter()
        .filter(|store| !args.list && names(store).iter().any(|(n, _, _)| selected(&args, n)))
        .collect();
    let started: Vec<(&str, Option<Arc<UnderTest>>)> = runtime.block_on(futures::future::join_all(
        needed.iter().map(|store| async move { (*store, start(store).await) }),
    ));
    let mut trials = Vec::new();
    for store in STORES {
        let under_test = started.iter().find(|(s, _)| *s == store).and_then(|(_, u)| u.clone());
        for (name, i, front) in names(store) {
            let (under_test, cases, handle) = (under_test.clone(), cases.clone(), runtime.handle().clone());
            let absent = under_test.is_none() && needed.contains(&store);
            let trial = Trial::test(name, move || {
                let Some(under_test) = under_test else {
                    return Ok(());
                };
                let ctx = Ctx::new(under_test, front);
                let run = cases[i].run;
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    handle.block_on(async {
                        run(&ctx).await;
                        ctx.clean_up().await;
                    })
                }))
                .map_err(|panic| Failed::from(panic_message(&panic)))
            });
            // A store missing on a developer machine (support::absent said so loudly).
            trials.push(trial.with_ignored_flag(absent));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // The stores' child processes are stopped by their guards: drop them before exiting.
    {
        let _in_runtime = runtime.enter();
        drop(started);
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    conclusion.exit();
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}
