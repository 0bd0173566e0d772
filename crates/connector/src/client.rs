//! The [`Connector`]: one configured S3 client plus the settings actions need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};

use crate::config::{ChecksumMode, ConnectionSettings, TimeoutSettings, TransferSettings};
use crate::error::Result;
use crate::net::client::{http_client, ClientOptions};
use crate::net::AddressGuard;
use crate::telemetry::S3Metrics;

/// Bounds on the instance metadata service. Where no IMDS answers (a laptop, CI), the default
/// one-second timeouts are paid on every credential or region lookup; 100 ms each, one
/// attempt, keeps a missing IMDS to about 0.2 s in all.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);
const IMDS_READ_TIMEOUT: Duration = Duration::from_millis(100);

/// What a connection needs beyond its settings.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Checks every address the connection reaches (after DNS, on every connection). Set for
    /// endpoints that a job chose; `None` for the operator's own.
    pub guard: Option<AddressGuard>,
    /// Where the connection's clean-up (aborts of cancelled uploads) and running uploads are
    /// remembered: share one registry among a process's connections so that one's clean-up
    /// never aborts another's running upload, and [`CleanupTasks::finish`] at shutdown waits
    /// for all of it. `None`: a registry of its own.
    pub cleanup: Option<CleanupTasks>,
    /// Where the connection counts its S3 requests, retries, resumes and bytes: a front end's
    /// metrics. `None`: counters of its own, which nobody reads.
    pub metrics: Option<S3Metrics>,
}

/// What the connections of one process share so that their clean-up never gets in each
/// other's way (see [`ConnectOptions::cleanup`]): the clean-up requests started when actions
/// were cancelled, and the multipart uploads running, which no clean-up may abort.
#[derive(Debug, Clone, Default)]
pub struct CleanupTasks(Arc<Registry>);

#[derive(Debug, Default)]
struct Registry {
    /// Clean-up requests, each with the id of the connection that started it.
    tasks: Mutex<Vec<(u64, tokio::task::JoinHandle<()>)>>,
    /// Upload ids of the multipart uploads running.
    live: Mutex<std::collections::HashSet<String>>,
    /// CreateMultipartUpload requests in flight, per bucket and key.
    creating: Mutex<HashMap<(String, String), usize>>,
}

impl CleanupTasks {
    /// Waits (at most `limit`) for every clean-up in the registry, whichever connection started
    /// it: what a service does before it exits. Returns how many had not finished in time.
    pub async fn finish(&self, limit: Duration) -> usize {
        wait_for(self.take(|_| true), limit).await
    }

    fn take(&self, mine: impl Fn(u64) -> bool) -> Vec<tokio::task::JoinHandle<()>> {
        let Ok(mut tasks) = self.0.tasks.lock() else {
            return Vec::new();
        };
        let (taken, kept) = std::mem::take(&mut *tasks).into_iter().partition(|(id, _)| mine(*id));
        *tasks = kept;
        taken.into_iter().map(|(_, t)| t).collect()
    }
}

async fn wait_for(tasks: Vec<tokio::task::JoinHandle<()>>, limit: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    let mut late = 0;
    for task in tasks {
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            late += 1;
        }
    }
    late
}

/// Counts one CreateMultipartUpload in flight for as long as it lives.
pub(crate) struct Creating {
    registry: Arc<Registry>,
    target: (String, String),
}

impl Drop for Creating {
    fn drop(&mut self) {
        if let Ok(mut creating) = self.registry.creating.lock() {
            if let Some(n) = creating.get_mut(&self.target) {
                *n -= 1;
                if *n == 0 {
                    creating.remove(&self.target);
                }
            }
        }
    }
}

/// Gives every connection an id, so that each waits for its own clean-up only.
static NEXT_CONNECTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A configured connection to one S3 endpoint. Cheap to clone; share one per process.
#[derive(Clone, Debug)]
pub struct Connector {
    client: aws_sdk_s3::Client,
    /// Where the credentials come from, to tell which values are the service's own.
    credentials: SharedCredentialsProvider,
    settings: ConnectionSettings,
    transfer: TransferSettings,
    timeouts: TimeoutSettings,
    region: String,
    /// Per bucket: whether the store enforces `If-Match` on DeleteObject (probed once).
    conditional_delete: Arc<Mutex<HashMap<String, bool>>>,
    /// Per bucket, whether the store keeps object tags (see [`Connector::require_tagging`]).
    tagging: Arc<Mutex<HashMap<String, bool>>>,
    /// Per bucket and feature, whether the store keeps what a write asks for (learned from the
    /// first such write, see [`crate::stored`]).
    kept: Arc<Mutex<HashMap<(String, &'static str), bool>>>,
    /// Clean-up requests started when an action was cancelled (e.g. aborting a multipart
    /// upload whose future was dropped), and the uploads running; shared with the process's
    /// other connections when [`ConnectOptions::cleanup`] says so.
    cleanup: CleanupTasks,
    /// This connection's id in `cleanup`.
    id: u64,
    /// Where its S3 side is counted.
    metrics: S3Metrics,
}

impl Connector {
    /// Builds the client from already-layered settings (see [`ConnectionSettings::layered`]).
    ///
    /// # Behavior
    /// Validates the settings first (`InvalidInput`). Makes no network call, except that when
    /// neither a region nor a custom endpoint is set, the region is looked up in the profile
    /// and then IMDS (bounded to about 0.2 s), falling back to `us-east-1`.
    pub async fn connect(settings: ConnectionSettings) -> Result<Connector> {
        Self::connect_with(settings, ConnectOptions::default()).await
    }

    /// As [`connect`](Self::connect), with options such as the address guard.
    pub async fn connect_with(mut settings: ConnectionSettings, options: ConnectOptions) -> Result<Connector> {
        settings.validate()?;
        let mut configured = false;
        if settings.endpoint.is_none() {
            // The profile's `endpoint_url` (or its `[services]` section's, or
            // AWS_ENDPOINT_URL_S3) makes this a custom endpoint as much as a flag does: path
            // style, checksums and the compatibility mode must default as for one.
            settings.endpoint = profile_endpoint(settings.profile.as_deref()).await?;
            configured = settings.endpoint.is_some();
        }
        let timeouts = settings.effective_timeouts();
        let imds = aws_config::imds::Client::builder()
            .connect_timeout(IMDS_CONNECT_TIMEOUT)
            .read_timeout(IMDS_READ_TIMEOUT)
            .max_attempts(1)
            .build();

        let region = match &settings.region {
            Some(r) => Region::new(r.clone()),
            // A profile that names the endpoint may name its region too.
            None if settings.is_custom_endpoint() && !configured => Region::new("us-east-1"),
            None => {
                let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
                if let Some(p) = &settings.profile {
                    profile = profile.profile_name(p);
                }
                let chain = RegionProviderChain::first_try(profile.build())
                    .or_else(
                        aws_config::imds::region::ImdsRegionProvider::builder()
                            .imds_client(imds.clone())
                            .build(),
                    )
                    .or_else(Region::new("us-east-1"));
                chain.region().await.unwrap_or_else(|| Region::new("us-east-1"))
            }
        };

        let credentials = match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(key), Some(secret)) => SharedCredentialsProvider::new(Credentials::new(
                key,
                secret.expose(),
                settings.session_token.as_ref().map(|t| t.expose().to_string()),
                None,
                "s3-connector",
            )),
            _ => {
                let mut chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .imds_client(imds)
                    .region(region.clone());
                if let Some(p) = &settings.profile {
                    chain = chain.profile_name(p);
                }
                SharedCredentialsProvider::new(chain.build().await)
            }
        };

        let http = http_client(ClientOptions {
            connect_timeout: timeouts.connect(),
            stall_timeout: timeouts.stall(),
            guard: options.guard,
        });
        let cleanup = options.cleanup.unwrap_or_default();
        let metrics = options.metrics.unwrap_or_default();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .http_client(http)
            // The attempt timeout bounds requests without a body stream; the operations whose
            // length depends on the object's size lift it per request (`no_attempt_timeout`)
            // and rely on the stall timeout of the HTTP client instead.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeouts.connect())
                    .operation_attempt_timeout(timeouts.attempt())
                    .build(),
            )
            // Standard mode: exponential backoff with jitter; retries throttling (503 SlowDown),
            // transient 5xx and connection errors.
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.unwrap_or(3)));
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint.trim_end_matches('/'));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let sdk = loader.load().await;
        let (request, response) = match settings.effective_checksums() {
            ChecksumMode::WhenSupported => (
                RequestChecksumCalculation::WhenSupported,
                ResponseChecksumValidation::WhenSupported,
            ),
            ChecksumMode::WhenRequired => (
                RequestChecksumCalculation::WhenRequired,
                ResponseChecksumValidation::WhenRequired,
            ),
        };
        let mut config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.effective_path_style())
            .request_checksum_calculation(request)
            .response_checksum_validation(response);
        if settings.effective_compat() {
            config = config.interceptor(crate::compat::CompatFixes);
        }
        config = config.interceptor(metrics.interceptor());
        let transfer = settings.transfer.clone().unwrap_or_default();
        Ok(Connector {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            credentials,
            region: region.to_string(),
            settings,
            transfer,
            timeouts,
            conditional_delete: Arc::default(),
            tagging: Arc::default(),
            kept: Arc::default(),
            cleanup,
            metrics,
            id: NEXT_CONNECTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Where this connection counts its S3 side.
    pub fn metrics(&self) -> &S3Metrics {
        &self.metrics
    }

    /// Runs `task` in the background and remembers it, so [`finish_cleanup`](Self::finish_cleanup)
    /// can wait for it. Used from `Drop`, where nothing can be awaited.
    pub(crate) fn spawn_cleanup(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime to run a clean-up request on");
            return;
        };
        let join = handle.spawn(task);
        if let Ok(mut tasks) = self.cleanup.0.tasks.lock() {
            tasks.retain(|(_, t)| !t.is_finished());
            tasks.push((self.id, join));
        }
    }

    /// Waits (at most `limit`) for clean-up started by cancelled actions, such as the abort of
    /// a multipart upload interrupted by Ctrl-C. Call it after dropping an action's future and
    /// before exiting. Returns how many clean-ups had not finished in time.
    ///
    /// # Behavior
    /// A cancelled upload starts its AbortMultipartUpload as it is dropped; if the process then
    /// exits at once, the abort never reaches the store and the parts stay (and are billed).
    /// Only this connection's clean-up is waited for, not that of others sharing its registry
    /// (see [`CleanupTasks::finish`] for all of it).
    pub async fn finish_cleanup(&self, limit: Duration) -> usize {
        let id = self.id;
        wait_for(self.cleanup.take(|owner| owner == id), limit).await
    }

    /// Runs `f` on the set of multipart uploads running in this process (as far as its
    /// connections share a registry).
    pub(crate) fn live_uploads(&self, f: impl FnOnce(&mut std::collections::HashSet<String>)) {
        if let Ok(mut live) = self.cleanup.0.live.lock() {
            f(&mut live);
        }
    }

    /// Counts a CreateMultipartUpload of `bucket/key` in flight until the guard is dropped.
    pub(crate) fn creating(&self, bucket: &str, key: &str) -> Creating {
        let target = (bucket.to_string(), key.to_string());
        if let Ok(mut creating) = self.cleanup.0.creating.lock() {
            *creating.entry(target.clone()).or_default() += 1;
        }
        Creating {
            registry: self.cleanup.0.clone(),
            target,
        }
    }

    /// How many CreateMultipartUploads of `bucket/key` are in flight.
    pub(crate) fn creates_in_flight(&self, bucket: &str, key: &str) -> usize {
        self.cleanup
            .0
            .creating
            .lock()
            .ok()
            .and_then(|c| c.get(&(bucket.to_string(), key.to_string())).copied())
            .unwrap_or(0)
    }

    /// This connection's clean-up registry, to share with connections made for jobs.
    pub fn cleanup_tasks(&self) -> CleanupTasks {
        self.cleanup.clone()
    }

    /// Whether the store enforces `If-Match` on DeleteObject in `bucket`.
    ///
    /// # Behavior
    /// Asked once per bucket and remembered: a DeleteObject with a never-matching `If-Match`
    /// on a random key that does not exist. A store that evaluates the condition answers 404
    /// or 412; one that ignores it answers 204. Nothing exists under that key, so the probe
    /// changes nothing either way. Any other answer counts as "not enforced", the cautious side.
    pub async fn enforces_conditional_delete(&self, bucket: &str) -> bool {
        if let Some(known) = self.conditional_delete.lock().ok().and_then(|m| m.get(bucket).copied()) {
            return known;
        }
        let probe_key = format!(".s3-connector-probe/{:032x}", rand::random::<u128>());
        let answer = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(&probe_key)
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await;
        let enforced = match answer {
            Ok(_) => false,
            Err(e) => matches!(
                crate::error::Error::from_sdk(e, "DeleteObject probe", crate::error::Missing::Key).code,
                crate::error::ErrorCode::NoSuchKey | crate::error::ErrorCode::PreconditionFailed
            ),
        };
        if let Ok(mut m) = self.conditional_delete.lock() {
            m.insert(bucket.to_string(), enforced);
        }
        enforced
    }

    /// `NotSupported` unless the store keeps object tags in `bucket`, so that a tagged write
    /// is refused before anything is written rather than stored without its tags.
    ///
    /// # Behavior
    /// Asked once per bucket and remembered, with GetBucketTagging, which writes nothing.
    /// S3 answers a tag set or `NoSuchTagSet`, and a store without tagging `NotImplemented`
    /// (Garage) or, ignoring the subresource, a listing the SDK cannot read as tags (rclone
    /// serve s3, which would also take a PutObjectTagging for a PutObject and overwrite the
    /// object with the tags' XML). `AccessDenied` (a policy without s3:GetBucketTagging) and a
    /// missing bucket count as supported: the request itself then says what is wrong.
    pub async fn require_tagging(&self, bucket: &str) -> Result<()> {
        use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
        let known = self.tagging.lock().ok().and_then(|m| m.get(bucket).copied());
        let supported = match known {
            Some(known) => known,
            None => {
                let answer = self.client.get_bucket_tagging().bucket(bucket).send().await;
                let supported = match &answer {
                    Ok(_) => true,
                    Err(SdkError::ServiceError(e)) => {
                        let status = e.raw().status().as_u16();
                        // 501 or NotImplemented: no tagging; a 2xx that is not a tag set:
                        // the subresource was ignored.
                        let lacking = status == 501
                            || matches!(e.err().code(), Some("NotImplemented" | "UnsupportedOperation"))
                            || (200..300).contains(&status);
                        !lacking
                    }
                    // No answer, or a body cut off: nothing is known, so nothing is written
                    // (on a store that takes a PutObjectTagging for a PutObject, proceeding
                    // would overwrite the object). Not remembered: the next request asks again.
                    Err(e) => {
                        return Err(crate::error::Error::new(
                            crate::error::ErrorCode::Network,
                            format!(
                                "cannot tell whether the store keeps object tags (GetBucketTagging {bucket}: {}); nothing was written, try again",
                                crate::error::chain(e)
                            ),
                        ))
                    }
                };
                if let Ok(mut m) = self.tagging.lock() {
                    m.insert(bucket.to_string(), supported);
                }
                supported
            }
        };
        if supported {
            Ok(())
        } else {
            Err(crate::error::Error::new(
                crate::error::ErrorCode::NotSupported,
                format!("the store does not keep object tags (in bucket {bucket}); nothing was written. Leave tags out for this store (see docs/stores.md)"),
            ))
        }
    }

    /// Whether a write to `bucket` showed that the store keeps `feature`; `None` before the
    /// first write that asked for it.
    pub(crate) fn kept(&self, bucket: &str, feature: &'static str) -> Option<bool> {
        self.kept
            .lock()
            .ok()
            .and_then(|m| m.get(&(bucket.to_string(), feature)).copied())
    }

    /// Remembers whether the store kept `feature` that a write to `bucket` asked for.
    pub(crate) fn remember_kept(&self, bucket: &str, feature: &'static str, kept: bool) {
        if let Ok(mut m) = self.kept.lock() {
            m.insert((bucket.to_string(), feature), kept);
        }
    }

    /// The credential values this connection signs with (access key id, secret key, session
    /// token), as the credentials chain finds them now; empty when none can be found within a
    /// few seconds. Front ends refuse these as job secrets.
    pub async fn own_credential_values(&self) -> Vec<String> {
        use aws_credential_types::provider::ProvideCredentials;
        let found = tokio::time::timeout(Duration::from_secs(5), self.credentials.provide_credentials()).await;
        match found {
            Ok(Ok(c)) => {
                let mut values = vec![c.access_key_id().to_string(), c.secret_access_key().to_string()];
                values.extend(c.session_token().map(str::to_string));
                values
            }
            _ => Vec::new(),
        }
    }

    /// The underlying SDK client, for callers that need an operation we do not wrap.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The settings this connector was built from (secrets stay redacted in `Debug`).
    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// Multipart and parallelism settings.
    pub fn transfer(&self) -> &TransferSettings {
        &self.transfer
    }

    /// The timeouts in effect.
    pub fn timeouts(&self) -> &TimeoutSettings {
        &self.timeouts
    }

    /// A per-request override that lifts the attempt timeout, for the requests whose length
    /// depends on the object's size (uploads, copies, completing a multipart upload). Their
    /// bodies are bounded by the stall timeout instead.
    pub(crate) fn no_attempt_timeout(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::default().timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(self.timeouts.connect())
                .disable_operation_attempt_timeout()
                .build(),
        )
    }

    /// Attempts per request, including the first.
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts.unwrap_or(3)
    }

    /// The region in effect.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The URL of an object at the configured endpoint, key percent-encoded (`/` kept).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        let key = crate::s3::encode_key(key);
        match &self.settings.endpoint {
            Some(ep) => {
                let ep = ep.trim_end_matches('/');
                if self.settings.effective_path_style() {
                    format!("{ep}/{bucket}/{key}")
                } else {
                    match ep.split_once("://") {
                        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}/{key}"),
                        None => format!("{ep}/{bucket}/{key}"),
                    }
                }
            }
            None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region),
        }
    }
}

/// The S3 endpoint the AWS configuration names, as the SDK reads it: `AWS_ENDPOINT_URL_S3`, the
/// profile's `[services]` section, its `endpoint_url`, or `AWS_ENDPOINT_URL`. `profile` is the
/// one asked for (else `AWS_PROFILE`, else `default`).
///
/// # Behavior
/// A profile asked for by name that neither `~/.aws/config` nor `~/.aws/credentials` holds is
/// `InvalidInput` naming the profiles there, as aws-cli says it, rather than the credential
/// chain's later "failed to load IMDS session token". Reads only local files and the
/// environment.
async fn profile_endpoint(profile: Option<&str>) -> Result<Option<String>> {
    if let Some(name) = profile {
        let files = aws_runtime::env_config::file::EnvConfigFiles::default();
        let known = aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &aws_types::os_shim_internal::Env::real(),
            &files,
            None,
        )
        .await;
        let profiles: Vec<String> = match &known {
            Ok(set) => set.profiles().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        };
        if !profiles.iter().any(|p| p == name) {
            let listed = match profiles.is_empty() {
                true => "none are configured".to_string(),
                false => format!("the profiles there: {}", profiles.join(", ")),
            };
            return Err(crate::error::Error::invalid_input(
                "profile",
                format!("the config profile ({name}) could not be found in ~/.aws/config or ~/.aws/credentials ({listed}); check --profile or AWS_PROFILE"),
            ));
        }
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .no_credentials();
    if let Some(name) = profile {
        loader = loader.profile_name(name);
    }
    let sdk = loader.load().await;
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    let from_services = match (sdk.service_config(), key) {
        (Some(conf), Ok(key)) => conf.load_config(key),
        _ => None,
    };
    Ok(from_services.or_else(|| sdk.endpoint_url().map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    async fn connector(endpoint: Option<&str>, path_style: Option<bool>) -> Connector {
        Connector::connect(ConnectionSettings {
            endpoint: endpoint.map(str::to_string),
            path_style,
            region: Some("eu-central-1".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(Secret::new("wJalrXUtnFEMI-SECRET")),
            session_token: Some(Secret::new("SESSION-TOKEN-SECRET")),
            ..Default::default()
        })
        .await
        .expect("connect makes no network call")
    }

    #[tokio::test]
    async fn object_urls_follow_endpoint_and_addressing() {
        let aws = connector(None, None).await;
        assert_eq!(
            aws.object_url("b", "a b/c+d.txt"),
            "https://b.s3.eu-central-1.amazonaws.com/a%20b/c%2Bd.txt"
        );
        let minio = connector(Some("http://127.0.0.1:9000/"), None).await;
        assert_eq!(minio.object_url("b", "k/ü"), "http://127.0.0.1:9000/b/k/%C3%BC");
        let vhost = connector(Some("https://r2.example.com"), Some(false)).await;
        assert_eq!(vhost.object_url("b", "k"), "https://b.r2.example.com/k");
    }

    #[tokio::test]
    async fn debug_output_keeps_secrets_out() {
        let conn = connector(None, None).await;
        let dbg = format!("{conn:?}");
        assert!(
            dbg.contains("eu-central-1"),
            "Debug should still show the settings: {dbg}"
        );

        assert!(!dbg.contains("wJalrXUtnFEMI-SECRET"), "secret key in Debug output");
        assert!(!dbg.contains("SESSION-TOKEN-SECRET"), "session token in Debug output");
    }
}
