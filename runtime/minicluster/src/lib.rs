//! A cluster inside one process: a JobManager and TaskManagers, the
//! cluster's own code, with the control plane on loopback gRPC and the data
//! plane in memory between tasks of one TaskManager (over loopback between
//! TaskManagers). `weir run` runs every job on one; whole-job tests and
//! benchmarks use it too, so there is one way tasks are wired: the
//! TaskManager's.
//!
//! The TaskManagers share one [`WasmHost`]: a module is compiled once, here,
//! when its job is submitted (so a module that does not compile is refused
//! with the operator's name before anything is scheduled), and every
//! TaskManager finds it by digest.

mod outcome;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use weir_artifact::Upload;
use weir_jobmanager::{
    Completed, Core, JobManagerConfig, JobManagerError, JobManagerHandle, PutModuleError,
    SubmitError,
};
use weir_proto::v1::JobDetails;
use weir_taskmanager::{TaskManagerConfig, TaskManagerError, TaskManagerHandle};
use weir_wasm_host::{EngineConfig, LoadError, WasmHost};

pub use outcome::{outcome, summary_of, JobFailure};

#[derive(Debug, thiserror::Error)]
pub enum MiniClusterError {
    #[error(transparent)]
    JobManager(#[from] JobManagerError),
    #[error(transparent)]
    TaskManager(#[from] TaskManagerError),
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(#[source] LoadError),
    /// A module of the job does not compile; names the operator.
    #[error("operators[{index}] '{operator}': {source}")]
    Module {
        index: usize,
        operator: String,
        #[source]
        source: LoadError,
    },
    #[error(transparent)]
    PutModule(#[from] PutModuleError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("job {0} is not known to the JobManager")]
    UnknownJob(String),
}

/// Why [`MiniCluster::run`] has no summary.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The job was not accepted.
    #[error(transparent)]
    Cluster(#[from] MiniClusterError),
    /// The job ran and failed (or was cancelled).
    #[error(transparent)]
    Failed(#[from] JobFailure),
}

/// How to start a [`MiniCluster`].
#[derive(Clone)]
pub struct MiniClusterConfig {
    pub jobmanager: JobManagerConfig,
    /// What every TaskManager is started with; its `jobmanager` address is
    /// filled in. Its `host` is shared by all (one is made when absent).
    pub taskmanager: TaskManagerConfig,
    pub taskmanagers: u32,
}

impl MiniClusterConfig {
    /// `taskmanagers` TaskManagers of `slots` slots each, on loopback ports
    /// chosen at start; no REST API; jobs end with the process.
    pub fn new(taskmanagers: u32, slots: u32) -> Self {
        MiniClusterConfig {
            jobmanager: JobManagerConfig {
                rpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                rest_bind: None,
                heartbeat_interval: Duration::from_millis(500),
                heartbeat_timeout: Duration::from_secs(30),
                cluster_id: None,
                ..JobManagerConfig::default()
            },
            taskmanager: TaskManagerConfig::new(String::new(), slots),
            taskmanagers: taskmanagers.max(1),
        }
    }
}

/// A started JobManager and its TaskManagers. They run on the tokio runtime
/// that started them, until it ends.
pub struct MiniCluster {
    pub jobmanager: JobManagerHandle,
    pub taskmanagers: Vec<TaskManagerHandle>,
    host: Arc<WasmHost>,
}

impl MiniCluster {
    /// Starts the JobManager, then the TaskManagers, on the current tokio
    /// runtime.
    pub async fn start(config: MiniClusterConfig) -> Result<MiniCluster, MiniClusterError> {
        let host = match &config.taskmanager.host {
            Some(host) => host.clone(),
            // As a TaskManager makes its own: compiled components kept
            // under its cache directory, its log limits.
            None => Arc::new(
                WasmHost::new(EngineConfig {
                    cache_dir: config
                        .taskmanager
                        .cache_dir
                        .as_ref()
                        .map(|dir| dir.join("compiled")),
                    log_limits: config.taskmanager.log_limits,
                    ..EngineConfig::default()
                })
                .map_err(MiniClusterError::Engine)?,
            ),
        };
        let jobmanager = weir_jobmanager::start(config.jobmanager).await?;
        let mut taskmanagers = Vec::new();
        for _ in 0..config.taskmanagers {
            taskmanagers.push(
                weir_taskmanager::start(TaskManagerConfig {
                    jobmanager: format!("http://{}", jobmanager.rpc_address),
                    host: Some(host.clone()),
                    ..config.taskmanager.clone()
                })
                .await?,
            );
        }
        Ok(MiniCluster {
            jobmanager,
            taskmanagers,
            host,
        })
    }

    pub fn core(&self) -> Arc<Core> {
        self.jobmanager.core.clone()
    }

    /// The engine the TaskManagers share.
    pub fn host(&self) -> &Arc<WasmHost> {
        &self.host
    }

    /// Compiles the job's uploaded modules, hands them to the JobManager and
    /// submits the job (from `restore`, if given); returns its id. The spec
    /// goes to the JobManager as the value it is.
    pub async fn submit(
        &self,
        upload: Upload,
        restore: Option<Completed>,
    ) -> Result<String, MiniClusterError> {
        for (index, op) in upload.spec.operators.iter().enumerate() {
            let Some(bytes) = op
                .sha256
                .as_deref()
                .and_then(|digest| upload.bytes_of(digest))
            else {
                continue;
            };
            self.host
                .load(&op.name, bytes, None)
                .map_err(|source| MiniClusterError::Module {
                    index,
                    operator: op.name.clone(),
                    source,
                })?;
        }
        let core = self.core();
        for (digest, bytes) in upload.modules {
            core.put_module(&digest, bytes)?;
        }
        Ok(core.submit_spec(upload.spec, restore)?)
    }

    /// Waits for the job to end; its details as it ended.
    pub async fn wait(&self, job_id: &str) -> Result<JobDetails, MiniClusterError> {
        self.core()
            .wait(job_id)
            .await
            .ok_or_else(|| MiniClusterError::UnknownJob(job_id.to_string()))
    }

    /// Submits the job and waits for it: its summary if it finished, else
    /// why it did not.
    pub async fn run(&self, upload: Upload) -> Result<weir_executor::JobSummary, RunError> {
        let job_id = self.submit(upload, None).await?;
        let details = self.wait(&job_id).await?;
        Ok(outcome(&details)?)
    }
}
