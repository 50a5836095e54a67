//! The Weir TaskManager: it registers with a JobManager and offers its task
//! slots, runs the tasks deployed to it with the wasm host, fetches the job's
//! modules by digest (verified, cached), exchanges batches with other
//! TaskManagers over the data plane, and serves Prometheus metrics.
//!
//! When the JobManager cannot be reached it retries with a growing delay and
//! says why; when the connection breaks it cancels its tasks (the JobManager
//! restarts the job elsewhere) and registers again.

mod channel_error;
mod codec;
mod dataplane;
mod deploy_error;
mod memory;
mod metrics;
mod modules;
mod network_outbox;
mod task_thread;
mod tasks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use weir_executor::{PathPolicy, RunDefaults};
use weir_proto::v1::data_plane_server::DataPlaneServer;
use weir_proto::v1::job_manager_message::Message as FromJobManager;
use weir_proto::v1::resource_manager_client::ResourceManagerClient;
use weir_proto::v1::task_manager_message::Message as ToJobManager;
use weir_proto::v1::{Heartbeat, RegisterTaskManager, TaskManagerMessage};
use weir_wasm_host::{EngineConfig, WasmHost};

pub use dataplane::{DataPlaneStats, CREDITS};
pub use network_outbox::FlushPolicy;

use crate::dataplane::{DataPlaneService, GateRegistry};
use crate::modules::ModuleCache;
use crate::network_outbox::Connections;
use crate::tasks::Tasks;

#[derive(Debug, thiserror::Error)]
pub enum TaskManagerError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("'{0}' is not a JobManager address (expected HOST:PORT or http://HOST:PORT)")]
    BadJobManagerAddress(String),
    #[error(transparent)]
    Engine(#[from] weir_wasm_host::LoadError),
}

#[derive(Clone)]
pub struct TaskManagerConfig {
    /// The JobManager's RPC endpoint, `http://host:port`.
    pub jobmanager: String,
    pub slots: u32,
    /// Where the data plane listens; port 0 picks a free one.
    pub data_bind: SocketAddr,
    /// The host other TaskManagers reach this one at; the bind address's
    /// host when absent.
    pub advertised_host: Option<String>,
    /// Where `/metrics` listens, if anywhere.
    pub metrics_bind: Option<SocketAddr>,
    /// Fetched modules and compiled code are kept here between runs.
    pub cache_dir: Option<PathBuf>,
    pub defaults: RunDefaults,
    /// How long a partly filled network buffer may wait before it is sent.
    pub flush_timeout: Duration,
    /// Chosen when absent.
    pub id: Option<String>,
    /// A wasm host to share (`weir run` compiles modules once for all its
    /// TaskManagers); one of its own when absent.
    pub host: Option<Arc<WasmHost>>,
    /// Registries (with their credentials) and ConfigMaps that `oci://`
    /// and `configmap://` modules come from.
    pub remote_modules: Arc<weir_artifact::RemoteModules>,
    /// The Kubernetes pod it runs in, if any; sent at registration so a
    /// JobManager that created the pod can tie pod events to it.
    pub pod_name: Option<String>,
    /// Which files jobs' sources and sinks may touch (nothing unless said).
    pub paths: PathPolicy,
    /// Keyed state all jobs together may hold here.
    pub state_bytes: u64,
    /// Keyed state one job may hold here.
    pub job_state_bytes: u64,
    /// How much each operator instance may log (when it makes its own host).
    pub log_limits: weir_wasm_host::LogLimits,
}

/// Keyed state a TaskManager holds for all its jobs, unless configured.
pub const DEFAULT_STATE_BYTES: u64 = 1 << 30;
/// Keyed state one job may hold on a TaskManager, unless configured.
pub const DEFAULT_JOB_STATE_BYTES: u64 = 512 << 20;

impl TaskManagerConfig {
    pub fn new(jobmanager: impl Into<String>, slots: u32) -> Self {
        TaskManagerConfig {
            jobmanager: jobmanager.into(),
            slots,
            data_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: None,
            metrics_bind: None,
            cache_dir: None,
            defaults: RunDefaults::default(),
            flush_timeout: Duration::from_millis(100),
            id: None,
            host: None,
            remote_modules: Arc::new(weir_artifact::RemoteModules::new(Default::default())),
            pod_name: None,
            paths: PathPolicy::deny_all(),
            state_bytes: DEFAULT_STATE_BYTES,
            job_state_bytes: DEFAULT_JOB_STATE_BYTES,
            log_limits: weir_wasm_host::LogLimits::default(),
        }
    }
}

/// The configured rule for files, with the TaskManager's own files kept out
/// of bounds whatever it allows.
fn protected_paths(config: &TaskManagerConfig) -> PathPolicy {
    let mut paths = config.paths.clone().protect_process();
    if let Some(cache) = &config.cache_dir {
        paths = paths.protect(cache, "the TaskManager's cache");
    }
    paths
}

/// What a started TaskManager tells its starter.
#[derive(Debug, Clone)]
pub struct TaskManagerHandle {
    pub id: String,
    pub data_address: String,
    pub metrics_address: Option<SocketAddr>,
    /// The data plane's figures.
    pub data_plane: Arc<DataPlaneStats>,
}

/// Starts a TaskManager on the current tokio runtime: binds its listeners,
/// then keeps itself registered with the JobManager until the runtime ends.
pub async fn start(config: TaskManagerConfig) -> Result<TaskManagerHandle, TaskManagerError> {
    let endpoint = Endpoint::from_shared(jobmanager_url(&config.jobmanager))
        .map_err(|_| TaskManagerError::BadJobManagerAddress(config.jobmanager.clone()))?;
    let id = config.id.clone().unwrap_or_else(new_id);

    let listener = TcpListener::bind(config.data_bind)
        .await
        .map_err(|source| TaskManagerError::Bind {
            address: config.data_bind,
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| TaskManagerError::Bind {
            address: config.data_bind,
            source,
        })?;
    let host = config
        .advertised_host
        .clone()
        .unwrap_or_else(|| bound.ip().to_string());
    let data_address = format!("{host}:{}", bound.port());

    let engine = match &config.host {
        Some(host) => host.clone(),
        None => Arc::new(WasmHost::new(EngineConfig {
            cache_dir: config.cache_dir.as_ref().map(|d| d.join("compiled")),
            log_limits: config.log_limits,
            ..EngineConfig::default()
        })?),
    };
    let gates = Arc::new(GateRegistry::default());
    let buffered = Arc::new(DataPlaneStats::default());
    let tasks = Arc::new(Tasks::new(tasks::Shared {
        id: id.clone(),
        data_address: data_address.clone(),
        slots: config.slots,
        gates: gates.clone(),
        buffered: buffered.clone(),
        connections: Connections::default(),
        modules: ModuleCache::new(
            engine,
            config.cache_dir.as_ref().map(|d| d.join("modules")),
            config.remote_modules.clone(),
        ),
        runtime: tokio::runtime::Handle::current(),
        defaults: config.defaults.clone(),
        flush_timeout: config.flush_timeout,
        storage: Arc::new(weir_checkpoint::Storage::new()),
        paths: protected_paths(&config),
        state_budget: Arc::new(weir_state::StateBudget::new(
            "all jobs on this TaskManager",
            "taskmanager.stateSize",
            config.state_bytes,
        )),
        job_state_bytes: config.job_state_bytes,
    }));

    let service = DataPlaneServer::new(DataPlaneService {
        gates,
        buffered: buffered.clone(),
    })
    .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES);
    tokio::spawn(async move {
        let incoming = TcpListenerStream::new(listener).map(|stream| {
            stream.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        });
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!("the data plane stopped: {e}");
        }
    });

    let metrics_address = match config.metrics_bind {
        Some(address) => Some(
            metrics::serve(address, tasks.clone())
                .await
                .map_err(|source| TaskManagerError::Bind { address, source })?,
        ),
        None => None,
    };

    let registration = RegisterTaskManager {
        task_manager_id: id.clone(),
        data_address: data_address.clone(),
        slots: config.slots,
        metrics_address: metrics_address.map(|a| a.to_string()).unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        pod_name: config.pod_name.clone().unwrap_or_default(),
    };
    tokio::spawn(stay_registered(endpoint, registration, tasks.clone()));
    tokio::spawn(tasks::sample_rates(tasks));
    Ok(TaskManagerHandle {
        id,
        data_address,
        metrics_address,
        data_plane: buffered,
    })
}

/// `host:port` or `http://host:port`; the scheme is optional.
pub fn jobmanager_url(address: &str) -> String {
    if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

fn new_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{}-{nanos}", std::process::id());
    let digest = <sha2::Sha256 as sha2::Digest>::digest(seed.as_bytes());
    format!("tm-{}", &hex::encode(digest)[..12])
}

const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// Connects, registers and serves the JobManager; on any failure, backs off
/// and starts over.
async fn stay_registered(endpoint: Endpoint, registration: RegisterTaskManager, tasks: Arc<Tasks>) {
    let endpoint = endpoint
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true);
    let address = endpoint.uri().to_string();
    let mut delay = FIRST_RETRY;
    loop {
        match session(&endpoint, &registration, &tasks).await {
            Ok(()) => {
                tracing::warn!(jobmanager = %address, "the JobManager closed the connection; registering again");
                delay = FIRST_RETRY;
            }
            Err(Failure::BeforeRegistration(why)) => {
                tracing::warn!(
                    jobmanager = %address,
                    "cannot register with the JobManager: {why}; retrying in {:.1} s",
                    delay.as_secs_f64()
                );
            }
            Err(Failure::AfterRegistration(why)) => {
                tracing::warn!(jobmanager = %address, "lost the JobManager: {why}; registering again");
                delay = FIRST_RETRY;
            }
        }
        tasks.cancel_everything();
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(LAST_RETRY);
    }
}

enum Failure {
    BeforeRegistration(String),
    AfterRegistration(String),
}

async fn session(
    endpoint: &Endpoint,
    registration: &RegisterTaskManager,
    tasks: &Arc<Tasks>,
) -> Result<(), Failure> {
    let before = Failure::BeforeRegistration;
    let channel: Channel = endpoint
        .connect()
        .await
        .map_err(|e| before(error_chain(&e)))?;
    let client = ResourceManagerClient::new(channel)
        .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES);
    let (outbound, receiver) = mpsc::channel::<TaskManagerMessage>(256);
    let _ = outbound
        .send(TaskManagerMessage {
            message: Some(ToJobManager::Register(registration.clone())),
        })
        .await;
    let mut inbound = client
        .clone()
        .attach(ReceiverStream::new(receiver))
        .await
        .map_err(|e| before(e.message().to_string()))?
        .into_inner();
    let registered = match inbound.message().await {
        Ok(Some(message)) => match message.message {
            Some(FromJobManager::Registered(registered)) => registered,
            _ => {
                return Err(before(
                    "the JobManager did not confirm the registration".into(),
                ))
            }
        },
        Ok(None) => return Err(before("the JobManager closed the stream".into())),
        Err(e) => return Err(before(e.message().to_string())),
    };
    tracing::info!(
        id = %registration.task_manager_id,
        slots = registration.slots,
        data = %registration.data_address,
        "registered with the JobManager"
    );
    tasks.connected(outbound.clone(), client);

    let interval = Duration::from_millis(registered.heartbeat_interval_ms.max(50));
    let heartbeats = {
        let tasks = tasks.clone();
        let outbound = outbound.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let beat = TaskManagerMessage {
                    message: Some(ToJobManager::Heartbeat(Heartbeat {
                        jobs: tasks.counters(),
                    })),
                };
                if outbound.send(beat).await.is_err() {
                    return;
                }
            }
        })
    };
    let result = loop {
        match inbound.message().await {
            Ok(Some(message)) => match message.message {
                Some(FromJobManager::Deploy(deploy)) => tasks.deploy(deploy),
                Some(FromJobManager::Cancel(cancel)) => {
                    tasks.cancel(&cancel.job_id, cancel.attempt)
                }
                Some(FromJobManager::TriggerCheckpoint(trigger)) => {
                    tasks.trigger_checkpoint(trigger)
                }
                Some(FromJobManager::CheckpointComplete(complete)) => {
                    tasks.checkpoint_complete(&complete)
                }
                Some(FromJobManager::Registered(_)) | None => {}
            },
            Ok(None) => break Ok(()),
            Err(e) => break Err(Failure::AfterRegistration(e.message().to_string())),
        }
    };
    heartbeats.abort();
    tasks.disconnected();
    result
}

pub use weir_artifact::error_chain;

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use weir_jobmanager::JobManagerConfig;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registers_with_the_pod_it_runs_in() {
        let jobmanager = weir_jobmanager::start(JobManagerConfig {
            rpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rest_bind: None,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            checkpoint_storage: "memory:///checkpoints".into(),
            cluster_id: None,
            ..JobManagerConfig::default()
        })
        .await
        .expect("JobManager");
        start(TaskManagerConfig {
            pod_name: Some("jm-taskmanager-3".into()),
            ..TaskManagerConfig::new(format!("http://{}", jobmanager.rpc_address), 2)
        })
        .await
        .expect("TaskManager");
        let registered = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let resources = jobmanager.core.resources();
                if let Some(tm) = resources.task_managers.first() {
                    return tm.clone();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("registered within 10s");
        assert_eq!(registered.pod_name.as_deref(), Some("jm-taskmanager-3"));
        assert_eq!(registered.slots, 2);
    }
}
