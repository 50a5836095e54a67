//! The JobManager's state and its rules: jobs, TaskManagers, slots,
//! deployments, task states, failures and restarts. Every change happens
//! under one lock, in plain (non-async) code, so the rules read top to
//! bottom; the gRPC and REST layers only translate.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, Notify};
use tonic::Status;
use weir_checkpoint::{CheckpointMetadata, TaskStateHandle, VertexShape, METADATA_FORMAT};
use weir_proto::v1::job_manager_message::Message as ToTaskManager;
use weir_proto::v1::{
    user_metric, CancelTasks, CheckpointAck, CheckpointComplete, DeployTasks, JobCounters,
    JobDetails, JobManagerMessage, OperatorDetails, RegisterTaskManager, RestoreState,
    TaskDeployment, TaskState, TaskStateUpdate, TriggerCheckpoint, UserMetric, VertexDetails,
};
pub use weir_types::JobState;
use weir_types::{Digest, JobGraph, JobSpec, RestartHistory};

use crate::checkpoints::{
    completed_summary, Checkpoints, Completed, MetadataWriteError, Pending, SavepointError,
    SavepointReply, SavepointRequest, SavepointStatus,
};
use crate::exceptions::{ExceptionHistory, Failure, FailureSource, DEFAULT_EXCEPTION_HISTORY};
use crate::job_store::{JobRecord, JobStore, JOB_RECORD_FORMAT};
use crate::limits::{JobManagerLimits, LimitError};

mod persistence;
mod recovery;
pub use persistence::run_storage_work;
pub use recovery::Recovery;

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

struct TaskManager {
    registration: RegisterTaskManager,
    sender: mpsc::Sender<Result<JobManagerMessage, Status>>,
    last_heartbeat: Instant,
    /// Tells a stale stream from the current one after a re-registration.
    session: u64,
    /// Since when it has run no task; `None` while it runs some. Kept
    /// current by `schedule` and `tick`, so it may lag by one tick.
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct OperatorTotals {
    user_metrics: BTreeMap<String, UserMetric>,
    recycles: u64,
    peak_memory: u64,
}

struct Job {
    id: String,
    spec: JobSpec,
    spec_yaml: String,
    graph: JobGraph,
    state: JobState,
    status_message: String,
    /// Its record and modules are in the job store (or there is none): it
    /// may be scheduled.
    durable: bool,
    /// Attempts up to this one are recorded in the job store as possibly
    /// deployed; deploying a higher one waits for the record to say so.
    attempts_reserved: u32,
    /// A `ReserveAttempts` is under way.
    reserving: bool,
    /// Where the job's end is reported, so its record goes with it.
    storage_work: mpsc::UnboundedSender<StorageWork>,
    exceptions: ExceptionHistory,
    /// Deployments so far; the first is attempt 0.
    attempt: u32,
    deployed: bool,
    history: RestartHistory,
    submitted_ms: i64,
    end_ms: i64,
    attempt_started: Instant,
    restart_at: Option<Instant>,
    failed_at: Option<Instant>,
    /// TaskManager id per slot the current attempt holds; emptied when the
    /// attempt ends and its slots are free again.
    placement: Vec<String>,
    /// Where the last attempt ran, for people; kept after it ends.
    hosts: Vec<String>,
    /// State per (vertex, subtask) of the current attempt.
    tasks: BTreeMap<(u32, u32), TaskState>,
    /// Latest counters of the current attempt, per TaskManager.
    counters: HashMap<String, JobCounters>,
    operators: BTreeMap<u32, OperatorTotals>,
    checkpoints: Checkpoints,
    /// Set by stop-with-savepoint: the savepoint, once the tasks stop.
    stop_with: Option<String>,
}

/// The job graph's shape, as checkpoints record it.
pub fn shape_of(graph: &JobGraph) -> Vec<VertexShape> {
    graph
        .vertices
        .iter()
        .map(|v| VertexShape {
            name: v.name.clone(),
            parallelism: v.parallelism,
        })
        .collect()
}

impl Job {
    fn tasks_stopped(&self) -> bool {
        self.tasks.values().all(|state| {
            matches!(
                state,
                TaskState::Finished | TaskState::Failed | TaskState::Canceled
            )
        })
    }

    /// The state a job that was cancelling reaches once its tasks stop.
    fn stopped(&mut self) {
        match self.stop_with.take() {
            Some(location) => self.end(
                JobState::Finished,
                format!("stopped with savepoint {location}"),
            ),
            None => self.end(JobState::Canceled, "cancelled".into()),
        }
    }

    fn end(&mut self, state: JobState, message: String) {
        self.state = state;
        self.status_message = message;
        self.end_ms = now_ms();
        self.restart_at = None;
        // Queued before anything else of the job (a finished job's
        // checkpoints), so a JobManager that dies in between never resumes
        // a job that ended from state that is gone.
        let _ = self.storage_work.send(StorageWork::ForgetJob {
            job_id: self.id.clone(),
        });
    }

    /// The attempt the next deployment runs.
    fn next_attempt(&self) -> u32 {
        if self.deployed {
            self.attempt + 1
        } else {
            self.attempt
        }
    }

    /// What the job store keeps of the job.
    fn record(&self) -> JobRecord {
        JobRecord {
            format: JOB_RECORD_FORMAT.into(),
            job_id: self.id.clone(),
            spec_yaml: self.spec_yaml.clone(),
            submitted_ms: self.submitted_ms,
            attempts_reserved: self.attempts_reserved,
            initial_savepoint: self
                .checkpoints
                .initial
                .as_ref()
                .map(|c| c.location.clone()),
        }
    }

    /// The digests of the modules it runs that the JobManager holds (not
    /// fetched by the TaskManagers from a registry or ConfigMap).
    fn uploaded_modules(&self) -> Vec<Digest> {
        self.spec
            .operators
            .iter()
            .filter(|op| {
                op.module
                    .as_deref()
                    .is_some_and(|m| !weir_types::ModuleRef::parse(m).is_ok_and(|r| r.is_remote()))
            })
            .filter_map(|op| op.sha256.as_deref().and_then(|d| Digest::parse(d).ok()))
            .collect()
    }
}

struct StoredModule {
    bytes: Arc<Vec<u8>>,
    /// When it was uploaded, or last named by a submission.
    stored: Instant,
    /// It is in the job store too.
    persisted: bool,
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

fn new_job_id(seed: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{seed}{nanos}{}", std::process::id()).as_bytes());
    hex::encode(&digest[..16])
}

fn send(tm: &TaskManager, message: ToTaskManager) {
    // The queue is deep; a TaskManager that cannot keep up with its control
    // messages is failing, and heartbeats will say so.
    if tm
        .sender
        .try_send(Ok(JobManagerMessage {
            message: Some(message),
        }))
        .is_err()
    {
        tracing::warn!(
            tm = %tm.registration.task_manager_id,
            "cannot queue a message to the TaskManager"
        );
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

    // ----- modules -------------------------------------------------------

    /// Keeps `bytes` if they have `claimed` digest and fit the module
    /// limits; returns the digest.
    pub fn put_module(&self, claimed: &str, bytes: Vec<u8>) -> Result<Digest, PutModuleError> {
        self.limits
            .check_module_size(bytes.len() as u64)
            .map_err(PutModuleError::Limit)?;
        let digest = Digest::of(&bytes);
        if !claimed.is_empty() && Digest::parse(claimed).ok() != Some(digest) {
            return Err(PutModuleError::Digest {
                actual: digest,
                claimed: claimed.to_string(),
            });
        }
        let mut state = self.lock();
        if let Some(module) = state.modules.get_mut(&digest) {
            module.stored = Instant::now();
            return Ok(digest);
        }
        let held: u64 = state.modules.values().map(|m| m.bytes.len() as u64).sum();
        self.limits
            .check_module_store(held, bytes.len() as u64)
            .map_err(PutModuleError::Limit)?;
        state.modules.insert(
            digest,
            StoredModule {
                bytes: Arc::new(bytes),
                stored: Instant::now(),
                persisted: false,
            },
        );
        Ok(digest)
    }

    pub fn module(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.lock().modules.get(digest).map(|m| m.bytes.clone())
    }

    // ----- jobs ----------------------------------------------------------

    /// Accepts a job; `restore` is the savepoint (or retained checkpoint)
    /// it starts from. With a job store, the job is scheduled once its
    /// record is durable: [`Core::durable`] waits for that.
    pub fn submit(
        &self,
        spec_yaml: &str,
        restore: Option<Completed>,
    ) -> Result<String, SubmitError> {
        let spec = JobSpec::from_yaml_within(spec_yaml, &self.limits.spec)
            .map_err(|e| SubmitError::Spec(e.to_string()))?;
        let graph = JobGraph::of(&spec);
        if let Some(restore) = &restore {
            if let Some(why) = restore.metadata.mismatch(&shape_of(&graph)) {
                return Err(SubmitError::Savepoint {
                    location: restore.location.clone(),
                    why,
                });
            }
        }
        let root = self.checkpoint_root(&spec)?;
        let mut state = self.lock();
        let mut modules = Vec::new();
        for (index, op) in spec.operators.iter().enumerate() {
            if op.module.is_none() {
                continue;
            }
            let Some(digest) = &op.sha256 else {
                return Err(SubmitError::Unpinned {
                    index,
                    operator: op.name.clone(),
                });
            };
            // Validated with the spec.
            let Ok(digest) = Digest::parse(digest) else {
                return Err(SubmitError::Spec(format!(
                    "operators[{index}].sha256: '{digest}' is not a sha256 digest"
                )));
            };
            // Registry and ConfigMap modules are fetched by the TaskManagers.
            let remote = op
                .module
                .as_deref()
                .is_some_and(|m| weir_types::ModuleRef::parse(m).is_ok_and(|r| r.is_remote()));
            if remote {
                continue;
            }
            let Some(module) = state.modules.get_mut(&digest) else {
                return Err(SubmitError::MissingModule {
                    index,
                    operator: op.name.clone(),
                    digest: digest.to_string(),
                });
            };
            // Named again: its grace starts over while the job is stored.
            module.stored = Instant::now();
            if !module.persisted && !modules.iter().any(|(d, _)| *d == digest) {
                modules.push((digest, module.bytes.clone()));
            }
        }
        let id = new_job_id(&spec.name);
        tracing::info!(job = %id, name = %spec.name, "job submitted");
        let checkpoints = Checkpoints {
            storage: spec.checkpointing.as_ref().map(|_| root.clone()),
            savepoint_dir: weir_checkpoint::join(&root, "savepoints"),
            next_id: restore.as_ref().map_or(1, |r| r.metadata.checkpoint_id + 1),
            initial: restore,
            ..Checkpoints::default()
        };
        let durable = !self.job_store.is_enabled();
        let job = self.new_job(
            id.clone(),
            spec,
            spec_yaml.to_string(),
            graph,
            checkpoints,
            durable,
        );
        if !durable {
            self.queue_storage(StorageWork::PersistJob {
                record: job.record(),
                modules,
            });
        }
        state.jobs.insert(id.clone(), job);
        state.order.push(id.clone());
        self.schedule(&mut state);
        drop(state);
        self.changed();
        Ok(id)
    }

    /// The checkpoint storage a job with `spec` uses (a URL).
    fn checkpoint_root(&self, spec: &JobSpec) -> Result<String, SubmitError> {
        match spec
            .checkpointing
            .as_ref()
            .and_then(|c| c.storage.as_deref())
        {
            Some(storage) => weir_checkpoint::location_of(storage, std::path::Path::new("/"))
                .map_err(|e| SubmitError::Spec(format!("checkpointing.storage: {e}"))),
            None => Ok(self.checkpoint_storage.clone()),
        }
    }

    /// A job not yet deployed.
    fn new_job(
        &self,
        id: String,
        spec: JobSpec,
        spec_yaml: String,
        graph: JobGraph,
        checkpoints: Checkpoints,
        durable: bool,
    ) -> Job {
        Job {
            id,
            spec_yaml,
            graph,
            state: JobState::Created,
            status_message: if durable {
                String::new()
            } else {
                "storing the job".into()
            },
            durable,
            attempts_reserved: if self.job_store.is_enabled() {
                0
            } else {
                // Nothing outlives this JobManager: no attempt of another
                // one can be mistaken for its own.
                u32::MAX
            },
            reserving: false,
            storage_work: self.storage_work.clone(),
            exceptions: ExceptionHistory::new(self.exception_history),
            attempt: 0,
            deployed: false,
            history: RestartHistory::default(),
            submitted_ms: now_ms(),
            end_ms: -1,
            attempt_started: Instant::now(),
            restart_at: None,
            failed_at: None,
            placement: Vec::new(),
            hosts: Vec::new(),
            tasks: BTreeMap::new(),
            counters: HashMap::new(),
            operators: BTreeMap::new(),
            checkpoints,
            stop_with: None,
            spec,
        }
    }

    pub fn cancel(&self, job_id: &str) -> Option<JobState> {
        let mut state = self.lock();
        let state = &mut *state;
        let job = state.jobs.get_mut(job_id)?;
        let previous = job.state;
        if !job.state.is_terminal() {
            abort_checkpoints(job, "the job was cancelled");
        }
        match job.state {
            JobState::Created | JobState::Restarting if job.tasks_stopped() => {
                job.end(JobState::Canceled, "cancelled".into());
            }
            JobState::Running | JobState::Restarting | JobState::Created => {
                job.state = JobState::Cancelling;
                job.status_message = "cancelling".into();
                job.restart_at = None;
                cancel_tasks(&state.task_managers, job);
            }
            _ => {}
        }
        self.changed();
        Some(previous)
    }

    pub fn job(&self, job_id: &str) -> Option<JobDetails> {
        let state = self.lock();
        state.jobs.get(job_id).map(details)
    }

    pub fn jobs(&self) -> Vec<JobDetails> {
        let state = self.lock();
        state
            .order
            .iter()
            .filter_map(|id| state.jobs.get(id))
            .map(details)
            .collect()
    }

    /// Waits until the job ends; returns its details.
    pub async fn wait(&self, job_id: &str) -> Option<JobDetails> {
        loop {
            let changed = self.changed.notified();
            let details = self.job(job_id)?;
            if details.job_state().is_some_and(JobState::is_terminal) {
                return Some(details);
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), changed).await;
        }
    }

    // ----- TaskManagers ---------------------------------------------------

    /// Registers a TaskManager; returns its session number.
    pub fn register(
        &self,
        registration: RegisterTaskManager,
        sender: mpsc::Sender<Result<JobManagerMessage, Status>>,
    ) -> u64 {
        let mut state = self.lock();
        let id = registration.task_manager_id.clone();
        if state.task_managers.contains_key(&id) {
            self.lose(&mut state, &id, "it registered again");
        }
        state.sessions += 1;
        let session = state.sessions;
        tracing::info!(
            tm = %id,
            slots = registration.slots,
            data = %registration.data_address,
            "TaskManager registered"
        );
        state.task_managers.insert(
            id,
            TaskManager {
                registration,
                sender,
                last_heartbeat: Instant::now(),
                session,
                idle_since: Some(Instant::now()),
            },
        );
        self.schedule(&mut state);
        drop(state);
        self.changed();
        session
    }

    pub fn heartbeat(&self, tm_id: &str, session: u64, jobs: Vec<JobCounters>) {
        let mut state = self.lock();
        match state.task_managers.get_mut(tm_id) {
            Some(tm) if tm.session == session => tm.last_heartbeat = Instant::now(),
            _ => return,
        }
        for counters in jobs {
            if let Some(job) = state.jobs.get_mut(&counters.job_id) {
                if job.attempt == counters.attempt && job.deployed {
                    job.counters.insert(tm_id.to_string(), counters);
                }
            }
        }
    }

    /// The TaskManager's stream ended.
    pub fn disconnected(&self, tm_id: &str, session: u64, why: &str) {
        let mut state = self.lock();
        if is_current_session(&state, tm_id, session) {
            self.lose(&mut state, tm_id, why);
            self.schedule(&mut state);
            drop(state);
            self.changed();
        }
    }

    fn lose(&self, state: &mut State, tm_id: &str, why: &str) {
        let Some(tm) = state.task_managers.remove(tm_id) else {
            return;
        };
        tracing::warn!(tm = %tm_id, "TaskManager lost: {why}");
        let failure = Failure {
            kind: FailureSource::TaskManagerLost,
            task_name: String::new(),
            task_manager_id: tm_id.to_string(),
            endpoint: tm.registration.data_address.clone(),
            message: format!(
                "TaskManager {tm_id} ({}) was lost: {why}",
                tm.registration.data_address
            ),
        };
        let jobs: Vec<String> = state
            .jobs
            .values()
            .filter(|job| job.placement.iter().any(|id| id == tm_id))
            .map(|job| job.id.clone())
            .collect();
        for job_id in jobs {
            if let Some(job) = state.jobs.get_mut(&job_id) {
                // Subtask i of every vertex runs in slot i.
                for ((_, subtask), task_state) in job.tasks.iter_mut() {
                    if job.placement.get(*subtask as usize).map(String::as_str) == Some(tm_id) {
                        *task_state = TaskState::Failed;
                    }
                }
            }
            self.fail(state, &job_id, failure.clone(), true);
        }
    }

    pub fn task_state(&self, tm_id: &str, session: u64, update: TaskStateUpdate) {
        let mut state = self.lock();
        if !is_current_session(&state, tm_id, session) {
            return;
        }
        let Some(task) = update.task.clone() else {
            return;
        };
        let Some(job) = state.jobs.get_mut(&task.job_id) else {
            return;
        };
        if job.attempt != task.attempt || !job.deployed {
            return;
        }
        let new_state = TaskState::try_from(update.state).unwrap_or(TaskState::Unspecified);
        let failure_kind = weir_types::FailureKind::from(update.failure_kind());
        if let Some(slot) = job.tasks.get_mut(&(task.vertex, task.subtask)) {
            *slot = new_state;
        }
        if let Some(counters) = update.counters {
            job.counters.insert(tm_id.to_string(), counters);
        }
        for report in update.operators {
            let totals = job.operators.entry(report.operator_index).or_default();
            for (name, value) in report.user_metrics {
                let merged = match (
                    totals.user_metrics.get(&name).and_then(|m| m.value),
                    value.value,
                ) {
                    (
                        Some(user_metric::Value::Counter(a)),
                        Some(user_metric::Value::Counter(b)),
                    ) => UserMetric {
                        value: Some(user_metric::Value::Counter(a.saturating_add(b))),
                    },
                    _ => value,
                };
                totals.user_metrics.insert(name, merged);
            }
            totals.recycles += report.instance_recycles;
            totals.peak_memory = totals.peak_memory.max(report.peak_memory_bytes);
        }
        let job_id = task.job_id.clone();
        match new_state {
            TaskState::Failed => {
                let mut retryable = failure_kind.is_retryable();
                let mut message = if update.error.is_empty() {
                    "a task failed".to_string()
                } else {
                    update.error
                };
                if update.restore_failed_checkpoint != 0 {
                    if let Some(job) = state.jobs.get_mut(&job_id) {
                        let bad = update.restore_failed_checkpoint;
                        let checkpoints = &mut job.checkpoints;
                        let before = checkpoints.completed.len();
                        checkpoints
                            .completed
                            .retain(|c| c.metadata.checkpoint_id != bad);
                        if checkpoints.completed.len() < before {
                            let next = match checkpoints.restore_point() {
                                Some(c) => format!(
                                    "the restart falls back to checkpoint {} at {}",
                                    c.metadata.checkpoint_id, c.location
                                ),
                                None => "no earlier checkpoint is left: the restart starts \
                                         from the beginning"
                                    .into(),
                            };
                            message = format!("{message}; {next}");
                        } else if checkpoints
                            .initial
                            .as_ref()
                            .is_some_and(|c| c.metadata.checkpoint_id == bad)
                        {
                            // A savepoint the user chose: no silent fallback.
                            retryable = false;
                        }
                        tracing::warn!(job = %job_id, "{message}");
                    }
                }
                let failure = Failure {
                    kind: FailureSource::Task,
                    task_name: state
                        .jobs
                        .get(&job_id)
                        .map(|job| task_name(&job.graph, task.vertex, task.subtask))
                        .unwrap_or_default(),
                    task_manager_id: tm_id.to_string(),
                    endpoint: state
                        .task_managers
                        .get(tm_id)
                        .map(|tm| tm.registration.data_address.clone())
                        .unwrap_or_default(),
                    message,
                };
                self.fail(&mut state, &job_id, failure, retryable);
            }
            TaskState::Finished | TaskState::Canceled => {
                let job = state.jobs.get_mut(&job_id);
                if let Some(job) = job {
                    let all_finished = job.tasks.values().all(|s| *s == TaskState::Finished);
                    if job.state == JobState::Running && all_finished {
                        tracing::info!(job = %job.id, "job finished");
                        job.end(JobState::Finished, String::new());
                        job.placement.clear();
                    } else if job.state == JobState::Cancelling && job.tasks_stopped() {
                        job.stopped();
                        job.placement.clear();
                    } else if job.state == JobState::Running {
                        // A task that finished takes no part in checkpoints:
                        // the one under way cannot complete.
                        abort_checkpoints(job, "a task finished before it completed");
                    }
                    if job.state.is_terminal() {
                        abort_checkpoints(job, "the job ended before it completed");
                    }
                    if job.state == JobState::Finished && job.stop_with.is_none() {
                        // As in Flink, a finished job's checkpoints go; a
                        // cancelled or failed job's stay, to resume from.
                        if let Some(storage) = &job.checkpoints.storage {
                            let location = weir_checkpoint::join(storage, &job.id);
                            job.checkpoints.completed.clear();
                            let _ = self.storage_work.send(StorageWork::Delete { location });
                        }
                    }
                }
                self.schedule(&mut state);
            }
            _ => {}
        }
        drop(state);
        self.changed();
    }

    /// A task failed or its TaskManager was lost: cancel the rest, then
    /// restart under the job's strategy or fail the job.
    fn fail(&self, state: &mut State, job_id: &str, failure: Failure, retryable: bool) {
        let Some(job) = state.jobs.get_mut(job_id) else {
            return;
        };
        if matches!(job.state, JobState::Running | JobState::Restarting) {
            job.exceptions.record(job.attempt, now_ms(), &failure);
        }
        let message = failure.message;
        match job.state {
            JobState::Running => {}
            JobState::Cancelling => {
                if job.tasks_stopped() {
                    job.stopped();
                    job.placement.clear();
                }
                return;
            }
            _ => return,
        }
        abort_checkpoints(job, &format!("the job failed: {message}"));
        cancel_tasks(&state.task_managers, job);
        let delay = if retryable {
            job.spec
                .restart_strategy()
                .next_delay(&mut job.history, job.attempt_started.elapsed())
        } else {
            None
        };
        match delay {
            Some(delay) => {
                tracing::warn!(job = %job.id, "job failed, restarting in {delay:?}: {message}");
                job.state = JobState::Restarting;
                job.status_message = format!(
                    "restart {} in {:.1} s after: {message}",
                    job.history.restarts,
                    delay.as_secs_f64()
                );
                job.restart_at = Some(Instant::now() + delay);
                job.failed_at = Some(Instant::now());
            }
            None => {
                let why = if retryable && job.history.restarts > 0 {
                    format!(
                        "{message} (no restart left under {})",
                        job.spec.restart_strategy().describe()
                    )
                } else {
                    message
                };
                tracing::warn!(job = %job.id, "job failed: {why}");
                job.end(JobState::Failed, why);
            }
        }
        job.placement.clear();
    }

    /// Places and deploys waiting jobs, first come first served.
    fn schedule(&self, state: &mut State) {
        let now = Instant::now();
        let order = state.order.clone();
        for job_id in order {
            let ready = match state.jobs.get(&job_id) {
                Some(job) => match job.state {
                    JobState::Created => job.durable,
                    JobState::Restarting => {
                        job.restart_at.is_some_and(|at| at <= now)
                            && (job.tasks_stopped()
                                || job.failed_at.is_some_and(|at| at.elapsed() > CANCEL_GRACE))
                    }
                    _ => false,
                },
                None => false,
            };
            if !ready {
                continue;
            }
            let free = free_slots(state);
            let Some(job) = state.jobs.get_mut(&job_id) else {
                continue;
            };
            let required = job.graph.required_slots() as usize;
            if free.len() < required {
                let mut message = format!(
                    "waiting for {required} task slot{}, {} available",
                    if required == 1 { "" } else { "s" },
                    free.len()
                );
                if job.state == JobState::Restarting {
                    // Why it restarts stays in sight while it waits.
                    if let Some(cause) = job.exceptions.latest() {
                        message = format!(
                            "{message} (restart {} after: {})",
                            job.history.restarts, cause.message
                        );
                    }
                }
                if job.status_message != message {
                    tracing::info!(job = %job.id, "{message}");
                }
                job.status_message = message;
                // Later jobs may fit; Flink's scheduler lets them.
                continue;
            }
            let next = job.next_attempt();
            if next > job.attempts_reserved {
                // A JobManager that takes over must start above any attempt
                // this one deployed: the record says so before the tasks run.
                if !job.reserving {
                    job.reserving = true;
                    let mut record = job.record();
                    record.attempts_reserved = next;
                    self.queue_storage(StorageWork::ReserveAttempts { record });
                }
                continue;
            }
            deploy(
                &state.task_managers,
                job,
                free[..required].to_vec(),
                &self.checkpoint_storage,
            );
        }
        refresh_idle(state);
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

    // ----- checkpoints ------------------------------------------------------

    /// Times out the checkpoint under way and triggers the next one (a
    /// savepoint asked for first) when its time has come.
    fn coordinate(&self, state: &mut State) {
        let ids: Vec<String> = state.order.clone();
        for job_id in ids {
            let Some(job) = state.jobs.get_mut(&job_id) else {
                continue;
            };
            if job.state != JobState::Running {
                continue;
            }
            let timeout = job
                .spec
                .checkpointing
                .as_ref()
                .map_or(Duration::from_secs(600), |c| c.timeout());
            if let Some(pending) = &job.checkpoints.pending {
                if !pending.finalizing && pending.started.elapsed() > timeout {
                    let why = format!(
                        "it expired after {:.1} s with {} of {} tasks acknowledged",
                        timeout.as_secs_f64(),
                        pending.acks.len(),
                        pending.tasks
                    );
                    self.fail_checkpoint(state, &job_id, why, true);
                }
                continue;
            }
            let all_running = job.tasks.values().all(|t| *t == TaskState::Running);
            if !all_running {
                continue;
            }
            let savepoint = job.checkpoints.queued.pop_front();
            let due = job
                .checkpoints
                .next_trigger
                .is_some_and(|at| at <= Instant::now());
            if savepoint.is_none() && !(job.checkpoints.storage.is_some() && due) {
                continue;
            }
            let id = job.checkpoints.next_id;
            job.checkpoints.next_id += 1;
            let location = match &savepoint {
                Some(request) => weir_checkpoint::join(
                    &request.directory,
                    &format!(
                        "savepoint-{}-{}",
                        &job.id[..6.min(job.id.len())],
                        &new_job_id(&job.id)[..12]
                    ),
                ),
                None => weir_checkpoint::checkpoint_location(
                    job.checkpoints.storage.as_deref().unwrap_or_default(),
                    &job.id,
                    id,
                ),
            };
            let trigger_ms = now_ms();
            tracing::info!(job = %job.id, checkpoint = id, savepoint = savepoint.is_some(), "triggering a checkpoint");
            send_to_job(&state.task_managers, job, || {
                ToTaskManager::TriggerCheckpoint(TriggerCheckpoint {
                    job_id: job.id.clone(),
                    attempt: job.attempt,
                    checkpoint_id: id,
                    location: location.clone(),
                    timestamp_ms: trigger_ms,
                })
            });
            job.checkpoints.pending = Some(Pending {
                id,
                location,
                savepoint,
                trigger_ms,
                started: Instant::now(),
                tasks: job.tasks.len(),
                acks: BTreeMap::new(),
                latest_ack_ms: trigger_ms,
                finalizing: false,
            });
        }
    }

    /// A task stored its snapshot (or declined).
    pub fn checkpoint_ack(&self, tm_id: &str, session: u64, ack: CheckpointAck) {
        let mut state = self.lock();
        if !is_current_session(&state, tm_id, session) {
            return;
        }
        let Some(task) = ack.task.clone() else {
            return;
        };
        let Some(job) = state.jobs.get_mut(&task.job_id) else {
            return;
        };
        if job.attempt != task.attempt {
            return;
        }
        let Some(pending) = job
            .checkpoints
            .pending
            .as_mut()
            .filter(|p| p.id == ack.checkpoint_id)
        else {
            return;
        };
        if !ack.declined.is_empty() {
            let why = format!(
                "vertex {} subtask {} declined: {}",
                task.vertex, task.subtask, ack.declined
            );
            let job_id = task.job_id.clone();
            self.fail_checkpoint(&mut state, &job_id, why, ack.failed);
            drop(state);
            self.changed();
            return;
        }
        pending.latest_ack_ms = now_ms();
        pending.acks.insert(
            (task.vertex, task.subtask),
            TaskStateHandle {
                vertex: task.vertex,
                subtask: task.subtask,
                file: ack.file,
                bytes: ack.bytes,
                sha256: ack.sha256,
            },
        );
        if pending.acks.len() < pending.tasks || pending.finalizing {
            return;
        }
        pending.finalizing = true;
        let metadata = CheckpointMetadata {
            format: METADATA_FORMAT.into(),
            job_id: job.id.clone(),
            job_name: job.spec.name.clone(),
            checkpoint_id: pending.id,
            savepoint: pending.savepoint.is_some(),
            timestamp_ms: pending.trigger_ms,
            vertices: shape_of(&job.graph),
            tasks: pending.acks.values().cloned().collect(),
        };
        self.queue_storage(StorageWork::Finalize {
            job_id: job.id.clone(),
            id: pending.id,
            location: pending.location.clone(),
            metadata: Box::new(metadata),
        });
    }

    /// `_metadata` of checkpoint `id` was written (or could not be).
    pub fn checkpoint_finalized(
        &self,
        job_id: &str,
        id: u64,
        metadata: CheckpointMetadata,
        written: Result<(), MetadataWriteError>,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(job) = state.jobs.get_mut(job_id) else {
            return;
        };
        if job.checkpoints.pending.as_ref().map(|p| p.id) != Some(id) {
            return;
        }
        if let Err(why) = written {
            self.fail_checkpoint(
                state,
                job_id,
                format!("cannot write its metadata: {why}"),
                true,
            );
            drop(guard);
            self.changed();
            return;
        }
        let Some(pending) = job.checkpoints.pending.take() else {
            return;
        };
        let completed = Completed {
            location: pending.location.clone(),
            metadata,
        };
        let duration_ms = pending.started.elapsed().as_millis() as u64;
        let summary = completed_summary(&completed, duration_ms, pending.latest_ack_ms);
        tracing::info!(
            job = %job.id,
            checkpoint = id,
            bytes = summary.state_size_bytes,
            duration_ms,
            "checkpoint complete"
        );
        // Sinks publish what the checkpoint covers.
        send_to_job(&state.task_managers, job, || {
            ToTaskManager::CheckpointComplete(CheckpointComplete {
                job_id: job.id.clone(),
                attempt: job.attempt,
                checkpoint_id: id,
            })
        });
        let checkpoints = &mut job.checkpoints;
        checkpoints.completed_count += 1;
        checkpoints.consecutive_failures = 0;
        checkpoints.record(summary);
        checkpoints.next_trigger = job
            .spec
            .checkpointing
            .as_ref()
            .map(|c| Instant::now() + c.interval());
        match pending.savepoint {
            Some(mut request) => {
                checkpoints.savepoints.insert(
                    request.request_id.clone(),
                    SavepointStatus::Completed(completed.location.clone()),
                );
                if let Some(reply) = request.reply.take() {
                    let _ = reply.send(Ok(completed.location.clone()));
                }
                if request.stop {
                    tracing::info!(job = %job.id, "stopping with savepoint {}", completed.location);
                    job.stop_with = Some(completed.location.clone());
                    job.state = JobState::Cancelling;
                    job.status_message = "stopping with a savepoint".into();
                    cancel_tasks(&state.task_managers, job);
                }
            }
            None => {
                checkpoints.completed.push_back(completed);
                let retained = job
                    .spec
                    .checkpointing
                    .as_ref()
                    .map_or(1, |c| c.retained.max(1)) as usize;
                while checkpoints.completed.len() > retained {
                    if let Some(old) = checkpoints.completed.pop_front() {
                        self.queue_storage(StorageWork::Delete {
                            location: old.location,
                        });
                    }
                }
            }
        }
        drop(guard);
        self.changed();
    }

    /// The checkpoint under way failed: counts it, and fails the job once
    /// more checkpoints failed in a row than it tolerates.
    fn fail_checkpoint(&self, state: &mut State, job_id: &str, why: String, counts: bool) {
        let Some(job) = state.jobs.get_mut(job_id) else {
            return;
        };
        let Some(mut pending) = job.checkpoints.pending.take() else {
            return;
        };
        tracing::warn!(job = %job.id, checkpoint = pending.id, "checkpoint failed: {why}");
        let checkpoints = &mut job.checkpoints;
        checkpoints.failed_count += 1;
        checkpoints.record(Checkpoints::summary_of(&pending, "FAILED", why.clone()));
        checkpoints.next_trigger = job
            .spec
            .checkpointing
            .as_ref()
            .map(|c| Instant::now() + c.interval());
        self.queue_storage(StorageWork::Delete {
            location: pending.location.clone(),
        });
        if let Some(request) = pending.savepoint.as_mut() {
            checkpoints.savepoints.insert(
                request.request_id.clone(),
                SavepointStatus::Failed(why.clone()),
            );
            if let Some(reply) = request.reply.take() {
                let _ = reply.send(Err(SavepointError::CheckpointFailed { why }));
            }
            return;
        }
        if !counts {
            return;
        }
        checkpoints.consecutive_failures += 1;
        let tolerable = job
            .spec
            .checkpointing
            .as_ref()
            .map_or(0, |c| c.tolerable_failures);
        if checkpoints.consecutive_failures > tolerable {
            let message = format!(
                "checkpoint {} failed ({why}); {} checkpoints failed in a row, more than \
                 checkpointing.tolerableFailures ({tolerable})",
                pending.id, checkpoints.consecutive_failures
            );
            checkpoints.consecutive_failures = 0;
            self.fail(
                state,
                job_id,
                Failure::of_job(FailureSource::Checkpoints, message),
                true,
            );
        }
    }

    /// Asks for a savepoint of a running job into `directory` (the job's
    /// default savepoint directory when `None`); returns the request id.
    pub fn trigger_savepoint(
        &self,
        job_id: &str,
        directory: Option<String>,
        stop: bool,
        reply: Option<SavepointReply>,
    ) -> Result<String, SavepointError> {
        let mut state = self.lock();
        let job = state
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| SavepointError::NoSuchJob {
                job_id: job_id.to_string(),
            })?;
        if job.state != JobState::Running {
            return Err(SavepointError::NotRunning {
                job_id: job_id.to_string(),
                state: job.state,
            });
        }
        let directory = match directory {
            Some(dir) => weir_checkpoint::location_of(&dir, std::path::Path::new("/"))?,
            None => job.checkpoints.savepoint_dir.clone(),
        };
        let request_id = new_job_id(job_id);
        job.checkpoints
            .savepoints
            .insert(request_id.clone(), SavepointStatus::InProgress);
        job.checkpoints.queued.push_back(SavepointRequest {
            directory,
            stop,
            reply,
            request_id: request_id.clone(),
        });
        self.coordinate(&mut state);
        drop(state);
        self.changed();
        Ok(request_id)
    }

    pub fn savepoint_status(&self, job_id: &str, request_id: &str) -> Option<SavepointStatus> {
        let state = self.lock();
        state
            .jobs
            .get(job_id)?
            .checkpoints
            .savepoints
            .get(request_id)
            .cloned()
    }

    // ----- for a resource manager -----------------------------------------

    /// What a resource manager needs to decide on TaskManagers: the slots
    /// that jobs waiting for slots need, the free ones, and who is idle.
    pub fn resources(&self) -> Resources {
        let mut state = self.lock();
        refresh_idle(&mut state);
        // A job waits for slots while it holds none and has not ended: just
        // submitted, or between a failure and its restart (whose slots are
        // then counted free, so the two cancel out).
        let demanded_slots = state
            .jobs
            .values()
            .filter(|job| {
                matches!(job.state, JobState::Created | JobState::Restarting)
                    && job.placement.is_empty()
            })
            .map(|job| job.graph.required_slots())
            .sum();
        let free_slots = free_slots(&state).len() as u32;
        let task_managers = state
            .task_managers
            .values()
            .map(|tm| RegisteredTaskManager {
                id: tm.registration.task_manager_id.clone(),
                pod_name: Some(tm.registration.pod_name.clone()).filter(|p| !p.is_empty()),
                slots: tm.registration.slots,
                idle_since: tm.idle_since,
            })
            .collect();
        Resources {
            demanded_slots,
            free_slots,
            task_managers,
        }
    }

    /// The pod of a TaskManager failed (Kubernetes says so): drops that
    /// TaskManager now, as a heartbeat timeout would later, and restarts
    /// its jobs. Returns whether a TaskManager ran in that pod; a pod
    /// reported twice, or one whose TaskManager never registered, is not.
    pub fn task_manager_failed(&self, pod_name: &str, reason: &str) -> bool {
        let mut state = self.lock();
        let ids: Vec<String> = state
            .task_managers
            .values()
            .filter(|tm| !pod_name.is_empty() && tm.registration.pod_name == pod_name)
            .map(|tm| tm.registration.task_manager_id.clone())
            .collect();
        for id in &ids {
            self.lose(
                &mut state,
                id,
                &format!("its pod {pod_name} failed: {reason}"),
            );
        }
        if ids.is_empty() {
            return false;
        }
        self.schedule(&mut state);
        drop(state);
        self.changed();
        true
    }

    /// Forgets an idle TaskManager whose pod is about to be deleted. Returns
    /// false, and keeps it, if it is gone or no longer idle (a job was
    /// placed on it since the caller looked).
    pub fn release_idle(&self, tm_id: &str, why: &str) -> bool {
        let mut state = self.lock();
        let idle = state.task_managers.contains_key(tm_id)
            && used_slots(&state).get(tm_id).copied().unwrap_or(0) == 0;
        if !idle {
            return false;
        }
        state.task_managers.remove(tm_id);
        tracing::info!(tm = %tm_id, "TaskManager released: {why}");
        drop(state);
        self.changed();
        true
    }

    // ----- figures for REST and metrics -----------------------------------

    pub fn task_managers(&self) -> Vec<TaskManagerInfo> {
        let state = self.lock();
        let used = used_slots(&state);
        state
            .task_managers
            .values()
            .map(|tm| {
                let id = &tm.registration.task_manager_id;
                let in_use = used.get(id).copied().unwrap_or(0);
                TaskManagerInfo {
                    id: id.clone(),
                    data_address: tm.registration.data_address.clone(),
                    metrics_address: tm.registration.metrics_address.clone(),
                    slots: tm.registration.slots,
                    free_slots: tm.registration.slots.saturating_sub(in_use),
                    since_heartbeat: tm.last_heartbeat.elapsed(),
                    version: tm.registration.version.clone(),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct TaskManagerInfo {
    pub id: String,
    pub data_address: String,
    pub metrics_address: String,
    pub slots: u32,
    pub free_slots: u32,
    pub since_heartbeat: Duration,
    pub version: String,
}

/// What [`Core::resources`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Slots needed by the jobs that wait for slots.
    pub demanded_slots: u32,
    /// Slots no job holds.
    pub free_slots: u32,
    pub task_managers: Vec<RegisteredTaskManager>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTaskManager {
    pub id: String,
    /// The Kubernetes pod it runs in, if it said.
    pub pod_name: Option<String>,
    pub slots: u32,
    /// Since when it has run no task; `None` while it runs some.
    pub idle_since: Option<Instant>,
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

/// Ends the checkpoint under way (not counted as a failure: the job itself
/// stopped or changed) and answers queued savepoint requests.
fn abort_checkpoints(job: &mut Job, why: &str) {
    let checkpoints = &mut job.checkpoints;
    let mut requests: Vec<SavepointRequest> = checkpoints.queued.drain(..).collect();
    if let Some(pending) = checkpoints.pending.take() {
        checkpoints.failed_count += 1;
        checkpoints.record(Checkpoints::summary_of(&pending, "FAILED", why.to_string()));
        requests.extend(pending.savepoint);
    }
    for mut request in requests {
        checkpoints.savepoints.insert(
            request.request_id.clone(),
            SavepointStatus::Failed(why.to_string()),
        );
        if let Some(reply) = request.reply.take() {
            let _ = reply.send(Err(SavepointError::Abandoned {
                why: why.to_string(),
            }));
        }
    }
}

/// Forgets the oldest ended jobs beyond `ENDED_JOBS_KEPT`, and modules that
/// no job still needs (after `MODULE_GRACE`), so that a long-lived
/// JobManager's memory does not grow with every job. Returns the modules
/// forgotten that the job store holds too.
fn retire(state: &mut State) -> Vec<Digest> {
    let ended: Vec<String> = state
        .order
        .iter()
        .filter(|id| state.jobs.get(*id).is_some_and(|j| j.state.is_terminal()))
        .cloned()
        .collect();
    if ended.len() > ENDED_JOBS_KEPT {
        let forget = &ended[..ended.len() - ENDED_JOBS_KEPT];
        for id in forget {
            state.jobs.remove(id);
        }
        state.order.retain(|id| state.jobs.contains_key(id));
    }
    let needed: std::collections::HashSet<Digest> = state
        .jobs
        .values()
        .filter(|job| !job.state.is_terminal())
        .flat_map(|job| job.uploaded_modules())
        .collect();
    let mut forgotten = Vec::new();
    state.modules.retain(|digest, module| {
        let keep = needed.contains(digest) || module.stored.elapsed() < MODULE_GRACE;
        if !keep && module.persisted {
            forgotten.push(*digest);
        }
        keep
    });
    forgotten
}

/// Starts or stops each TaskManager's idle clock by whether a job holds
/// one of its slots.
fn refresh_idle(state: &mut State) {
    let used = used_slots(state);
    let now = Instant::now();
    for (id, tm) in state.task_managers.iter_mut() {
        if used.get(id).copied().unwrap_or(0) > 0 {
            tm.idle_since = None;
        } else if tm.idle_since.is_none() {
            tm.idle_since = Some(now);
        }
    }
}

fn used_slots(state: &State) -> HashMap<String, u32> {
    let mut used: HashMap<String, u32> = HashMap::new();
    for job in state.jobs.values() {
        for tm in &job.placement {
            *used.entry(tm.clone()).or_default() += 1;
        }
    }
    used
}

/// Free slots, interleaved across TaskManagers so a job spreads out (as
/// Flink's `cluster.evenly-spread-out-slots`).
fn free_slots(state: &State) -> Vec<String> {
    let used = used_slots(state);
    let mut per_tm: Vec<(String, u32)> = state
        .task_managers
        .iter()
        .map(|(id, tm)| {
            let free = tm
                .registration
                .slots
                .saturating_sub(used.get(id).copied().unwrap_or(0));
            (id.clone(), free)
        })
        .collect();
    let mut slots = Vec::new();
    loop {
        let mut any = false;
        for (id, free) in per_tm.iter_mut() {
            if *free > 0 {
                *free -= 1;
                slots.push(id.clone());
                any = true;
            }
        }
        if !any {
            return slots;
        }
    }
}

fn deploy(
    task_managers: &BTreeMap<String, TaskManager>,
    job: &mut Job,
    placement: Vec<String>,
    cluster_storage: &str,
) {
    if job.deployed {
        job.attempt += 1;
    }
    job.deployed = true;
    job.state = JobState::Running;
    job.status_message = String::new();
    job.restart_at = None;
    job.failed_at = None;
    job.attempt_started = Instant::now();
    job.counters.clear();
    job.operators.clear();
    job.tasks.clear();
    job.hosts = placement.clone();
    job.placement = placement;
    job.checkpoints.next_trigger = job
        .spec
        .checkpointing
        .as_ref()
        .map(|c| Instant::now() + c.interval());
    let restore = job.checkpoints.restore_point().cloned();
    if let Some(restore) = &restore {
        tracing::info!(
            job = %job.id,
            checkpoint = restore.metadata.checkpoint_id,
            "restoring from {}",
            restore.location
        );
        job.checkpoints.restored_count += 1;
        let mut summary = completed_summary(restore, 0, now_ms());
        summary.status = "RESTORED".into();
        job.checkpoints.last_restored = Some(summary);
    }
    let restore_of = |vertex: u32, subtask: u32| -> Option<RestoreState> {
        let restore = restore.as_ref()?;
        let handle = restore
            .metadata
            .tasks
            .iter()
            .find(|t| t.vertex == vertex && t.subtask == subtask)?;
        Some(RestoreState {
            checkpoint_id: restore.metadata.checkpoint_id,
            location: weir_checkpoint::join(&restore.location, &handle.file),
            sha256: handle.sha256.clone(),
            bytes: handle.bytes,
        })
    };
    let address_of = |slot: usize| -> String {
        job.placement
            .get(slot)
            .and_then(|id| task_managers.get(id))
            .map(|tm| tm.registration.data_address.clone())
            .unwrap_or_default()
    };
    let mut per_tm: BTreeMap<String, Vec<TaskDeployment>> = BTreeMap::new();
    for (v, vertex) in job.graph.vertices.iter().enumerate() {
        let consumers: Vec<String> = job
            .graph
            .vertices
            .get(v + 1)
            .map(|next| (0..next.parallelism as usize).map(address_of).collect())
            .unwrap_or_default();
        for subtask in 0..vertex.parallelism {
            let tm = job.placement[subtask as usize].clone();
            job.tasks.insert((v as u32, subtask), TaskState::Deploying);
            per_tm.entry(tm).or_default().push(TaskDeployment {
                vertex: v as u32,
                subtask,
                consumers: consumers.clone(),
                restore: restore_of(v as u32, subtask),
            });
        }
    }
    tracing::info!(
        job = %job.id,
        attempt = job.attempt,
        task_managers = per_tm.len(),
        "deploying"
    );
    let mut checkpoint_storage = vec![cluster_storage.to_string()];
    checkpoint_storage.extend(job.checkpoints.storage.clone());
    checkpoint_storage.dedup();
    for (tm_id, tasks) in per_tm {
        if let Some(tm) = task_managers.get(&tm_id) {
            send(
                tm,
                ToTaskManager::Deploy(DeployTasks {
                    job_id: job.id.clone(),
                    attempt: job.attempt,
                    spec_yaml: job.spec_yaml.clone(),
                    tasks,
                    checkpoint_storage: checkpoint_storage.clone(),
                }),
            );
        }
    }
}

/// Whether `session` is the TaskManager's current registration (messages
/// of an earlier stream are stale).
fn is_current_session(state: &State, tm_id: &str, session: u64) -> bool {
    state
        .task_managers
        .get(tm_id)
        .is_some_and(|tm| tm.session == session)
}

/// Sends `message` once to each TaskManager running the job's attempt.
fn send_to_job(
    task_managers: &BTreeMap<String, TaskManager>,
    job: &Job,
    message: impl Fn() -> ToTaskManager,
) {
    let mut sent = Vec::new();
    for tm_id in &job.placement {
        if sent.contains(tm_id) {
            continue;
        }
        sent.push(tm_id.clone());
        if let Some(tm) = task_managers.get(tm_id) {
            send(tm, message());
        }
    }
}

fn cancel_tasks(task_managers: &BTreeMap<String, TaskManager>, job: &Job) {
    send_to_job(task_managers, job, || {
        ToTaskManager::Cancel(CancelTasks {
            job_id: job.id.clone(),
            attempt: job.attempt,
        })
    });
}

fn details(job: &Job) -> JobDetails {
    let sum = |f: &dyn Fn(&JobCounters) -> u64| job.counters.values().map(f).sum::<u64>();
    let op_in = |i: usize| sum(&|c| c.operator_records_in.get(i).copied().unwrap_or(0));
    let op_out = |i: usize| sum(&|c| c.operator_records_out.get(i).copied().unwrap_or(0));
    let source_records = sum(&|c| c.source_records);
    let sink_records = sum(&|c| c.sink_records);
    let vertices = job
        .graph
        .vertices
        .iter()
        .enumerate()
        .map(|(v, vertex)| {
            let states: Vec<TaskState> = job
                .tasks
                .iter()
                .filter(|((tv, _), _)| *tv as usize == v)
                .map(|(_, s)| *s)
                .collect();
            let records_in = match (vertex.reads_source, vertex.operators.first()) {
                (true, _) => 0,
                (false, Some(&first)) => op_in(first),
                (false, None) => sink_records,
            };
            let records_out = match vertex.operators.last() {
                Some(&last) => op_out(last),
                None if vertex.reads_source => source_records,
                None => 0,
            };
            VertexDetails {
                id: format!("v{v}"),
                name: vertex.name.clone(),
                parallelism: vertex.parallelism,
                state: vertex_state(job.state, &states).to_string(),
                records_in,
                records_out,
                task_managers: (0..vertex.parallelism as usize)
                    .map(|s| job.hosts.get(s).cloned().unwrap_or_default())
                    .collect(),
            }
        })
        .collect();
    let operators = job
        .spec
        .operators
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let totals = job.operators.get(&(i as u32));
            OperatorDetails {
                name: op.name.clone(),
                kind: op.kind(op.sha256.as_deref()),
                parallelism: job.spec.operator_parallelism(op),
                records_in: op_in(i),
                records_out: op_out(i),
                user_metrics: totals
                    .map(|t| t.user_metrics.clone().into_iter().collect())
                    .unwrap_or_default(),
                instance_recycles: totals.map(|t| t.recycles).unwrap_or(0),
                peak_memory_bytes: totals.map(|t| t.peak_memory).unwrap_or(0),
            }
        })
        .collect();
    JobDetails {
        job_id: job.id.clone(),
        name: job.spec.name.clone(),
        state: weir_proto::v1::JobState::from(job.state) as i32,
        status_message: job.status_message.clone(),
        start_time_ms: job.submitted_ms,
        end_time_ms: job.end_ms,
        restarts: job.history.restarts,
        attempt: job.attempt,
        vertices,
        source_records,
        sink_records,
        operators,
        required_slots: job.graph.required_slots(),
        checkpoints: Some(job.checkpoints.stats()),
        exceptions: job.exceptions.entries(),
        exceptions_truncated: job.exceptions.truncated(),
    }
}

/// "name (subtask/parallelism)", as tasks are named everywhere.
fn task_name(graph: &JobGraph, vertex: u32, subtask: u32) -> String {
    match graph.vertices.get(vertex as usize) {
        Some(v) => format!("{} ({}/{})", v.name, subtask + 1, v.parallelism),
        None => format!("vertex {vertex} ({})", subtask + 1),
    }
}

fn vertex_state(job: JobState, tasks: &[TaskState]) -> &'static str {
    let all = |s: TaskState| !tasks.is_empty() && tasks.iter().all(|t| *t == s);
    if all(TaskState::Finished) {
        "FINISHED"
    } else if tasks.contains(&TaskState::Failed) {
        "FAILED"
    } else if tasks.contains(&TaskState::Running) {
        "RUNNING"
    } else if tasks.contains(&TaskState::Deploying) {
        "DEPLOYING"
    } else if all(TaskState::Canceled) {
        "CANCELED"
    } else if job == JobState::Created || job == JobState::Restarting {
        "CREATED"
    } else {
        job.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Core {
        Core::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            "memory:///checkpoints".into(),
        )
    }

    const JOB: &str = "name: j\nsource: {type: generator, count: 1}\nsink: {type: blackhole}\n";

    #[test]
    fn a_job_without_slots_waits_and_can_be_cancelled() {
        let core = core();
        let id = core.submit(JOB, None).unwrap();
        core.tick();
        let job = core.job(&id).unwrap();
        assert_eq!(job.job_state(), Some(weir_types::JobState::Created));
        assert_eq!(job.status_message, "waiting for 1 task slot, 0 available");
        assert_eq!(core.cancel(&id), Some(JobState::Created));
        assert_eq!(
            core.job(&id).unwrap().job_state(),
            Some(weir_types::JobState::Canceled)
        );
    }

    #[test]
    fn modules_are_checked_at_submission() {
        let core = core();
        let unpinned = "name: j\nsource: {type: generator}\noperators:\n  - {name: m, module: m.wasm}\nsink: {type: blackhole}\n";
        let error = core.submit(unpinned, None).unwrap_err();
        assert!(
            error.to_string().contains("operators[0] 'm' has no sha256"),
            "{error}"
        );
        let digest = core.put_module("", b"bytes".to_vec()).unwrap();
        let pinned = unpinned.replace(
            "module: m.wasm",
            &format!("module: m.wasm, sha256: {digest}"),
        );
        core.submit(&pinned, None).unwrap();
        let wrong = core
            .put_module("sha256:00", b"bytes".to_vec())
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("not the sha256:00 the client sent"),
            "{wrong}"
        );
    }

    #[test]
    fn ended_jobs_and_unneeded_modules_are_forgotten() {
        let core = core();
        let kept = core.put_module("", b"kept".to_vec()).unwrap();
        let dropped = core.put_module("", b"dropped".to_vec()).unwrap();
        let running = format!(
            "name: r\nsource: {{type: generator}}\noperators:\n  - {{name: m, module: m.wasm, sha256: {kept}}}\nsink: {{type: blackhole}}\n"
        );
        let waiting = core.submit(&running, None).unwrap();
        let first = core.submit(JOB, None).unwrap();
        core.cancel(&first);
        for _ in 0..ENDED_JOBS_KEPT {
            let id = core.submit(JOB, None).unwrap();
            core.cancel(&id);
        }
        {
            let mut state = core.lock();
            let long_ago = Instant::now()
                .checked_sub(MODULE_GRACE * 2)
                .expect("the clock reaches back");
            for module in state.modules.values_mut() {
                module.stored = long_ago;
            }
        }
        core.tick();
        assert!(
            core.job(&first).is_none(),
            "the oldest ended job is forgotten"
        );
        assert!(core.job(&waiting).is_some(), "a job still waiting is kept");
        assert_eq!(core.jobs().len(), ENDED_JOBS_KEPT + 1);
        assert!(
            core.module(&kept).is_some(),
            "a waiting job's module is kept"
        );
        assert!(core.module(&dropped).is_none());
    }

    /// A TaskManager that is only a queue of what the JobManager sends it.
    fn fake_task_manager(
        core: &Core,
        id: &str,
        slots: u32,
    ) -> (u64, mpsc::Receiver<Result<JobManagerMessage, Status>>) {
        let (sender, receiver) = mpsc::channel(64);
        let registration = RegisterTaskManager {
            task_manager_id: id.into(),
            data_address: format!("{id}:1"),
            slots,
            ..RegisterTaskManager::default()
        };
        (core.register(registration, sender), receiver)
    }

    fn next_deploy(
        receiver: &mut mpsc::Receiver<Result<JobManagerMessage, Status>>,
    ) -> Option<DeployTasks> {
        while let Ok(message) = receiver.try_recv() {
            if let Ok(JobManagerMessage {
                message: Some(ToTaskManager::Deploy(deploy)),
            }) = message
            {
                return Some(deploy);
            }
        }
        None
    }

    fn report(core: &Core, session: u64, deploy: &DeployTasks, state: TaskState, retryable: bool) {
        for task in &deploy.tasks {
            core.task_state(
                "tm",
                session,
                TaskStateUpdate {
                    task: Some(weir_proto::v1::TaskId {
                        job_id: deploy.job_id.clone(),
                        attempt: deploy.attempt,
                        vertex: task.vertex,
                        subtask: task.subtask,
                    }),
                    state: state as i32,
                    error: "operator 'x' trapped".into(),
                    failure_kind: if retryable {
                        weir_proto::v1::FailureKind::Transient
                    } else {
                        weir_proto::v1::FailureKind::Configuration
                    } as i32,
                    ..TaskStateUpdate::default()
                },
            );
        }
    }

    #[test]
    fn a_retryable_failure_restarts_after_the_delay_until_attempts_run_out() {
        let core = core();
        let (session, mut tm) = fake_task_manager(&core, "tm", 1);
        let spec =
            format!("{JOB}restartStrategy: {{type: fixed-delay, attempts: 1, delay: 1ms}}\n");
        let id = core.submit(&spec, None).unwrap();
        let first = next_deploy(&mut tm).expect("deployed at once");
        assert_eq!(first.attempt, 0);

        report(&core, session, &first, TaskState::Failed, true);
        let job = core.job(&id).unwrap();
        assert_eq!(job.job_state(), Some(weir_types::JobState::Restarting));
        assert!(
            job.status_message.contains("after: operator 'x' trapped"),
            "{}",
            job.status_message
        );
        std::thread::sleep(Duration::from_millis(5));
        core.tick();
        let second = next_deploy(&mut tm).expect("redeployed after the delay");
        assert_eq!(second.attempt, 1);
        assert_eq!(core.job(&id).unwrap().restarts, 1);

        // An update of the old attempt changes nothing now.
        report(&core, session, &first, TaskState::Finished, false);
        assert_eq!(
            core.job(&id).unwrap().job_state(),
            Some(weir_types::JobState::Running)
        );

        report(&core, session, &second, TaskState::Failed, true);
        let job = core.job(&id).unwrap();
        assert_eq!(job.job_state(), Some(weir_types::JobState::Failed));
        assert!(
            job.status_message
                .contains("no restart left under fixed-delay"),
            "{}",
            job.status_message
        );
    }

    #[test]
    fn a_failure_no_restart_can_cure_fails_the_job_at_once() {
        let core = core();
        let (session, mut tm) = fake_task_manager(&core, "tm", 1);
        let spec = format!("{JOB}restartStrategy: {{type: exponential-delay}}\n");
        let id = core.submit(&spec, None).unwrap();
        let deploy = next_deploy(&mut tm).unwrap();
        report(&core, session, &deploy, TaskState::Failed, false);
        let job = core.job(&id).unwrap();
        assert_eq!(job.job_state(), Some(weir_types::JobState::Failed));
        assert_eq!(job.restarts, 0);
    }

    #[test]
    fn resources_report_waiting_slots_free_slots_and_idle_task_managers() {
        let core = core();
        let (_, _tm) = fake_task_manager(&core, "tm", 2);
        core.submit(JOB, None).unwrap();
        let wide = JOB.replace("name: j\n", "name: w\nparallelism: 3\n");
        core.submit(&wide, None).unwrap();
        let resources = core.resources();
        assert_eq!(resources.demanded_slots, 3, "the wide job waits");
        assert_eq!(resources.free_slots, 1);
        assert_eq!(resources.task_managers.len(), 1);
        assert_eq!(
            resources.task_managers[0].idle_since, None,
            "it runs a task"
        );
        assert_eq!(resources.task_managers[0].pod_name, None);

        let (_, _other) = fake_task_manager(&core, "tm-2", 2);
        let resources = core.resources();
        assert_eq!(resources.demanded_slots, 0, "the wide job runs now");
        assert_eq!(resources.free_slots, 0);
        assert!(
            !core.release_idle("tm", "test"),
            "a TaskManager running tasks is not released"
        );
    }

    #[test]
    fn a_failed_pod_drops_its_task_manager_and_restarts_its_jobs() {
        let core = core();
        let (sender, _receiver) = mpsc::channel(64);
        core.register(
            RegisterTaskManager {
                task_manager_id: "tm".into(),
                data_address: "tm:1".into(),
                slots: 1,
                pod_name: "jm-taskmanager-1".into(),
                ..RegisterTaskManager::default()
            },
            sender,
        );
        let spec = format!("{JOB}restartStrategy: {{type: fixed-delay, attempts: 2, delay: 1h}}\n");
        let id = core.submit(&spec, None).unwrap();
        assert!(!core.task_manager_failed("jm-taskmanager-2", "pod deleted"));
        assert!(!core.task_manager_failed("", "pod deleted"));
        assert!(core.task_manager_failed("jm-taskmanager-1", "Evicted: low on memory"));
        assert!(core.task_managers().is_empty());
        let job = core.job(&id).unwrap();
        assert_eq!(job.job_state(), Some(weir_types::JobState::Restarting));
        assert!(
            job.status_message
                .contains("TaskManager tm (tm:1) was lost: its pod jm-taskmanager-1 failed: Evicted: low on memory"),
            "{}",
            job.status_message
        );
    }

    #[test]
    fn a_lost_task_manager_restarts_its_jobs_on_the_slots_that_remain() {
        let core = core();
        let (first_session, mut first) = fake_task_manager(&core, "tm", 1);
        let spec =
            format!("{JOB}restartStrategy: {{type: fixed-delay, attempts: 2, delay: 1ms}}\n");
        let id = core.submit(&spec, None).unwrap();
        next_deploy(&mut first).unwrap();
        let (_, mut second) = fake_task_manager(&core, "tm-2", 1);
        core.disconnected("tm", first_session, "it closed its connection");
        let job = core.job(&id).unwrap();
        assert_eq!(job.job_state(), Some(weir_types::JobState::Restarting));
        assert!(
            job.status_message
                .contains("TaskManager tm (tm:1) was lost"),
            "{}",
            job.status_message
        );
        std::thread::sleep(Duration::from_millis(5));
        core.tick();
        let deploy = next_deploy(&mut second).expect("restarted on the other TaskManager");
        assert_eq!(deploy.attempt, 1);
    }
}
