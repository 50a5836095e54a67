//! The JobManager's state and its rules. Every change happens under one
//! lock, in plain (non-async) code; the gRPC and REST layers only
//! translate. The rules live in rooms of their own, each an `impl Core`
//! over the shared `State`:
//! - `registry`: TaskManagers, their sessions, heartbeats and slots;
//! - `scheduler`: placing waiting jobs' tasks and deploying them;
//! - `lifecycle`: submission, cancellation, task states, failures, restarts;
//! - `coordinator`: checkpoints and savepoints;
//! - `modules`: the module store;
//! - `views`: what REST, the CLI and the controller see of a job;
//! - `persistence` and `recovery`: the job store, and resuming from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Notify};
use weir_checkpoint::CheckpointMetadata;
use weir_types::Digest;
pub use weir_types::JobState;

use crate::exceptions::DEFAULT_EXCEPTION_HISTORY;
use crate::job_store::{JobRecord, JobStore};
use crate::limits::{JobManagerLimits, LimitError};

mod coordinator;
mod job;
mod lifecycle;
mod modules;
mod persistence;
mod recovery;
mod registry;
mod scheduler;
#[cfg(test)]
mod tests;
mod views;

use coordinator::abort_checkpoints;
pub use job::shape_of;
use job::{new_job_id, Job};
use lifecycle::retire;
use modules::StoredModule;
pub use persistence::run_storage_work;
pub use recovery::Recovery;
use registry::{free_slots, is_current_session, refresh_idle, send, TaskManager};
pub use registry::{RegisteredTaskManager, Resources, TaskManagerInfo, TaskManagerLink};
use scheduler::{cancel_tasks, send_to_job};
use views::{details, task_name};

/// How long a restart waits for the failed attempt's tasks to stop before
/// it goes ahead anyway.
const CANCEL_GRACE: Duration = Duration::from_secs(30);
/// Ended jobs kept for `weir list` and REST; older ones are forgotten.
const ENDED_JOBS_KEPT: usize = 1000;
/// A module no job needs is kept this long after its upload, so that a
/// client between `PutModule` and `SubmitJob` does not lose it.
const MODULE_GRACE: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid job spec: {0}")]
    Spec(String),
    #[error("operators[{index}] '{operator}' has no sha256 of an uploaded module; `weir submit` uploads modules and pins them")]
    Unpinned { index: usize, operator: String },
    #[error(
        "operators[{index}] '{operator}': module {digest} was not uploaded to this JobManager"
    )]
    MissingModule {
        index: usize,
        operator: String,
        digest: String,
    },
    #[error("cannot start from {location}: {why}")]
    Savepoint { location: String, why: String },
    #[error("cannot store the job in {location}: {why}")]
    Storage { location: String, why: String },
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// Why a module upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PutModuleError {
    /// Over `maxModuleSize` or `moduleStoreSize`.
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("the module's bytes have digest {actual}, not the {claimed} the client sent")]
    Digest { actual: Digest, claimed: String },
}

/// Checkpoint storage work the JobManager does off its lock.
pub enum StorageWork {
    /// Write a checkpoint's `_metadata`, completing it.
    Finalize {
        job_id: String,
        id: u64,
        location: String,
        metadata: Box<CheckpointMetadata>,
    },
    /// Delete a checkpoint no longer retained (or one that failed).
    Delete { location: String },
    /// Write a new job's modules and record; the job is scheduled once
    /// they are durable.
    PersistJob {
        record: JobRecord,
        modules: Vec<(Digest, Arc<Vec<u8>>)>,
    },
    /// Rewrite a job's record with more attempts reserved; the attempt is
    /// deployed once it is durable.
    ReserveAttempts { record: JobRecord },
    /// The job ended: its record goes (before anything else of it).
    ForgetJob { job_id: String },
    /// No job needs this module any more.
    ForgetModule { digest: Digest },
}

#[derive(Default)]
struct State {
    modules: HashMap<Digest, StoredModule>,
    task_managers: BTreeMap<String, TaskManager>,
    jobs: BTreeMap<String, Job>,
    /// Job ids in submission order: the scheduler serves jobs first come.
    order: Vec<String>,
    sessions: u64,
    /// Jobs the job store could not take, and why (for `durable`).
    unstored: HashMap<String, String>,
}

pub struct Core {
    state: Mutex<State>,
    changed: Notify,
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    /// Where checkpoints go when a job's spec does not say (a URL).
    pub checkpoint_storage: String,
    storage_work: mpsc::UnboundedSender<StorageWork>,
    storage_queue: Mutex<Option<mpsc::UnboundedReceiver<StorageWork>>>,
    /// Where jobs and their modules are kept across JobManagers.
    pub(crate) job_store: Arc<JobStore>,
    pub limits: JobManagerLimits,
    exception_history: usize,
}

/// Milliseconds since the Unix epoch, as job times are given.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs the timers: heartbeat checks, restart delays.
pub async fn supervise(core: Arc<Core>) {
    tokio::spawn(run_storage_work(core.clone()));
    let period = (core.heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        core.tick();
    }
}

impl Core {
    pub fn new(
        heartbeat_interval: Duration,
        heartbeat_timeout: Duration,
        checkpoint_storage: String,
    ) -> Self {
        let (storage_work, queue) = mpsc::unbounded_channel();
        Core {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            heartbeat_interval,
            heartbeat_timeout,
            checkpoint_storage,
            storage_work,
            storage_queue: Mutex::new(Some(queue)),
            job_store: Arc::new(JobStore::disabled()),
            limits: JobManagerLimits::default(),
            exception_history: DEFAULT_EXCEPTION_HISTORY,
        }
    }

    /// Keeps jobs and their modules in `store`, so that they outlive this
    /// JobManager.
    pub fn with_job_store(mut self, store: JobStore) -> Self {
        self.job_store = Arc::new(store);
        self
    }

    pub fn with_limits(mut self, limits: JobManagerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Keeps `entries` failures per job (at least one).
    pub fn with_exception_history(mut self, entries: usize) -> Self {
        self.exception_history = entries.max(1);
        self
    }

    /// The queue of storage work; `supervise` takes it once.
    pub fn take_storage_queue(&self) -> Option<mpsc::UnboundedReceiver<StorageWork>> {
        self.storage_queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn queue_storage(&self, work: StorageWork) {
        let _ = self.storage_work.send(work);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changed.notify_waiters();
    }

    /// Completes at the next change of jobs or TaskManagers; a resource
    /// manager waits on it to react without polling.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Heartbeat timeouts and due restarts; runs every heartbeat interval.
    fn tick(&self) {
        let mut state = self.lock();
        let timeout = self.heartbeat_timeout;
        let silent: Vec<String> = state
            .task_managers
            .iter()
            .filter(|(_, tm)| tm.last_heartbeat.elapsed() > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &silent {
            let why = format!("no heartbeat for {:.1} s", timeout.as_secs_f64());
            self.lose(&mut state, id, &why);
        }
        self.schedule(&mut state);
        self.coordinate(&mut state);
        for digest in retire(&mut state) {
            self.queue_storage(StorageWork::ForgetModule { digest });
        }
        drop(state);
        self.changed();
    }
}
