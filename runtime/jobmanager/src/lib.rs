//! The Weir JobManager. Its parts, as in Flink:
//! - the dispatcher accepts jobs and their modules (`JobService`);
//! - the resource manager tracks TaskManagers and their slots
//!   (`ResourceManager`: one stream per TaskManager, heartbeats on it);
//! - the scheduler places a job's subtasks into slots (Flink's default slot
//!   sharing: slot i holds subtask i of every vertex), deploys them, follows
//!   their states, and restarts the job under its restart strategy when a
//!   task fails or a TaskManager disappears;
//! - REST (shaped like Flink's) and Prometheus metrics.
//!
//! It never depends on the executor: the job graph comes from weir-types.

mod checkpoints;
mod core;
mod exceptions;
mod grpc;
mod job_store;
mod limits;
mod resource_manager;
mod rest;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use weir_proto::v1::job_service_server::JobServiceServer;
use weir_proto::v1::resource_manager_server::ResourceManagerServer;

pub use crate::checkpoints::{Completed, MetadataWriteError, SavepointError, SavepointStatus};
pub use crate::core::{
    shape_of, Core, JobState, PutModuleError, Recovery, RegisteredTaskManager, Resources,
    SubmitError, TaskManagerInfo,
};
pub use crate::exceptions::DEFAULT_EXCEPTION_HISTORY;
pub use crate::grpc::read_restore_point;
pub use crate::job_store::{JobRecord, JobStore, JobStoreError, JOB_RECORD_FORMAT};
pub use crate::limits::{
    JobManagerLimits, LimitError, DEFAULT_MAX_CONCURRENT_SUBMISSIONS, DEFAULT_MODULE_STORE_BYTES,
};
pub use crate::resource_manager::{NativeConfig, NativeResourceManager};
pub use crate::rest::{checkpoints_json, exceptions_json, job_json};

#[derive(Debug, thiserror::Error)]
pub enum JobManagerError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot recover the jobs of the job store: {0}")]
    Recover(#[from] JobStoreError),
}

#[derive(Debug, Clone)]
pub struct JobManagerConfig {
    /// Where clients and TaskManagers reach it (gRPC); port 0 picks one.
    pub rpc_bind: SocketAddr,
    /// Where REST and `/metrics` listen, if anywhere.
    pub rest_bind: Option<SocketAddr>,
    /// How often TaskManagers send heartbeats.
    pub heartbeat_interval: Duration,
    /// A TaskManager silent this long is considered lost.
    pub heartbeat_timeout: Duration,
    /// Where checkpoints go when a job's spec does not say (a URL); the
    /// default savepoint directory is `savepoints/` in it.
    pub checkpoint_storage: String,
    /// Keep jobs and their modules in the checkpoint storage, under
    /// `ha/<cluster id>/`, and resume them on start; `None` for a JobManager
    /// whose jobs end with it (`weir run`).
    pub cluster_id: Option<String>,
    pub limits: JobManagerLimits,
    /// Failures kept per job.
    pub exception_history: usize,
}

/// The checkpoint storage of a cluster whose configuration names none: a
/// directory under the system's temporary directory.
pub fn default_checkpoint_storage() -> String {
    let dir = std::env::temp_dir().join("weir-checkpoints");
    weir_checkpoint::location_of(&dir.to_string_lossy(), std::path::Path::new("/"))
        .unwrap_or_else(|_| "file:///tmp/weir-checkpoints".into())
}

impl Default for JobManagerConfig {
    fn default() -> Self {
        JobManagerConfig {
            rpc_bind: SocketAddr::from(([127, 0, 0, 1], 6123)),
            rest_bind: Some(SocketAddr::from(([127, 0, 0, 1], 8081))),
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(10),
            checkpoint_storage: default_checkpoint_storage(),
            cluster_id: Some(DEFAULT_CLUSTER_ID.into()),
            limits: JobManagerLimits::default(),
            exception_history: DEFAULT_EXCEPTION_HISTORY,
        }
    }
}

/// The cluster id of a JobManager whose configuration names none.
pub const DEFAULT_CLUSTER_ID: &str = "default";

/// A started JobManager.
#[derive(Clone)]
pub struct JobManagerHandle {
    pub rpc_address: SocketAddr,
    pub rest_address: Option<SocketAddr>,
    pub core: Arc<Core>,
}

async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr), JobManagerError> {
    let error = |source| JobManagerError::Bind { address, source };
    let listener = TcpListener::bind(address).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}

/// Starts the JobManager on the current tokio runtime: takes over the jobs
/// of its job store, then serves.
pub async fn start(config: JobManagerConfig) -> Result<JobManagerHandle, JobManagerError> {
    let store = match &config.cluster_id {
        Some(cluster) => JobStore::new(&config.checkpoint_storage, cluster),
        None => JobStore::disabled(),
    };
    let core = Arc::new(
        Core::new(
            config.heartbeat_interval,
            config.heartbeat_timeout,
            config.checkpoint_storage.clone(),
        )
        .with_job_store(store)
        .with_limits(config.limits)
        .with_exception_history(config.exception_history),
    );
    // Before anything is served: a client must not see the job list
    // without the jobs being resumed, nor a TaskManager get work twice.
    tokio::spawn(core::run_storage_work(core.clone()));
    let recovery = core.recover().await?;
    if recovery != Recovery::default() {
        tracing::info!(
            resumed = recovery.resumed,
            failed = recovery.failed,
            unreadable = recovery.unreadable,
            "jobs recovered from the job store"
        );
    }
    let (listener, rpc_address) = bind(config.rpc_bind).await?;
    let jobs = JobServiceServer::new(grpc::Jobs::new(core.clone()))
        .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES);
    let resources = ResourceManagerServer::new(grpc::Resources { core: core.clone() })
        .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES);
    tokio::spawn(async move {
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(jobs)
            .add_service(resources)
            .serve_with_incoming(TcpListenerStream::new(listener).map(|stream| {
                // Control messages are small; Nagle would hold each for an ACK.
                stream.inspect(|s| {
                    let _ = s.set_nodelay(true);
                })
            }))
            .await
        {
            tracing::error!("the JobManager's RPC endpoint stopped: {e}");
        }
    });
    let rest_address = match config.rest_bind {
        Some(address) => {
            let (listener, bound) = bind(address).await?;
            let app = rest::router(core.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("the REST endpoint stopped: {e}");
                }
            });
            Some(bound)
        }
        None => None,
    };
    tokio::spawn(core::supervise(core.clone()));
    Ok(JobManagerHandle {
        rpc_address,
        rest_address,
        core,
    })
}
