//! The tasks deployed to this TaskManager: one thread each, grouped by job
//! attempt, reporting their states to the JobManager.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tonic::transport::Channel;
use weir_executor::{
    Barrier, Control, InputGate, JobMetrics, Outbox, PathPolicy, RunDefaults, TaskCheckpoints,
    TaskMetrics, CHANNEL_CAPACITY,
};
use weir_proto::v1::resource_manager_client::ResourceManagerClient;
use weir_proto::v1::task_manager_message::Message as ToJobManager;
use weir_proto::v1::{
    ChannelMetadata, CheckpointComplete, DeployTasks, FailureKind as ProtoFailureKind, JobCounters,
    RestoreState, TaskId, TaskManagerMessage, TaskState, TaskStateUpdate, TriggerCheckpoint,
};
use weir_state::StateBudget;
use weir_types::{Classify, JobGraph, LockedJob};
use weir_wasm_operator::WasmOperators;

use crate::dataplane::{DataPlaneStats, GateKey, GateRegistry};
use crate::deploy_error::{DeployError, SnapshotError};
use crate::modules::ModuleCache;
use crate::network_outbox::{Connections, FlushPolicy, NetworkOutbox};
use crate::task_thread::{TaskContext, TaskSnapshotStore};

/// Jobs whose cancelled attempts are remembered before the ones that run
/// nothing here are forgotten.
const MAX_CANCELLED_JOBS: usize = 10_000;
/// The longest error a task's report carries to the JobManager.
const MAX_ERROR_BYTES: usize = 16 * 1024;
/// How long a deployment waits for an older attempt of its job to stop.
const OLDER_ATTEMPT_GRACE: Duration = Duration::from_secs(30);

/// What never changes over the TaskManager's life.
pub struct Shared {
    pub id: String,
    pub data_address: String,
    pub slots: u32,
    pub gates: Arc<GateRegistry>,
    pub buffered: Arc<DataPlaneStats>,
    pub connections: Connections,
    pub modules: ModuleCache,
    pub runtime: tokio::runtime::Handle,
    pub defaults: RunDefaults,
    pub flush_timeout: Duration,
    /// Checkpoint storage, by URL.
    pub storage: Arc<weir_checkpoint::Storage>,
    /// Which files jobs' sources and sinks may touch here.
    pub paths: PathPolicy,
    /// All keyed state on this TaskManager.
    pub state_budget: Arc<StateBudget>,
    /// The keyed state one job may hold here.
    pub job_state_bytes: u64,
}

/// Per-second rates of one task, from the last two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    pub records_in_per_second: f64,
    pub records_out_per_second: f64,
    pub busy_ms_per_second: f64,
    pub backpressured_ms_per_second: f64,
}

pub struct RunningTask {
    pub subtask: u32,
    pub name: String,
    pub metrics: Arc<TaskMetrics>,
    pub rates: Rates,
    last_sample: Option<(Instant, [u64; 4])>,
}

pub struct RunningJob {
    pub job_id: String,
    pub job_name: String,
    pub attempt: u32,
    pub metrics: Arc<JobMetrics>,
    pub tasks: Vec<RunningTask>,
    pub slots: u32,
    cancel: Arc<AtomicBool>,
    /// Closes the job's outgoing network channels when it is cancelled.
    cancel_watch: tokio::sync::watch::Sender<bool>,
    remaining: usize,
    /// Each task's checkpoint controls: (vertex, sender).
    controls: Vec<(u32, std::sync::mpsc::Sender<Control>)>,
}

pub struct Tasks {
    pub shared: Shared,
    jobs: Mutex<HashMap<(String, u32), RunningJob>>,
    /// The newest attempt cancelled per job: a deployment of it or an
    /// older one, arriving late, does not start. One entry per job.
    cancelled: Mutex<HashMap<String, u32>>,
    link: Mutex<
        Option<(
            mpsc::Sender<TaskManagerMessage>,
            ResourceManagerClient<Channel>,
        )>,
    >,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tasks {
    pub fn new(shared: Shared) -> Self {
        Tasks {
            shared,
            jobs: Mutex::new(HashMap::new()),
            cancelled: Mutex::new(HashMap::new()),
            link: Mutex::new(None),
        }
    }

    pub fn connected(
        &self,
        outbound: mpsc::Sender<TaskManagerMessage>,
        client: ResourceManagerClient<Channel>,
    ) {
        *lock(&self.link) = Some((outbound, client));
    }

    pub fn disconnected(&self) {
        *lock(&self.link) = None;
    }

    /// Whether the TaskManager is registered with a JobManager now.
    pub fn is_connected(&self) -> bool {
        lock(&self.link).is_some()
    }

    pub(crate) fn report(&self, mut update: TaskStateUpdate) {
        // An error carries what a guest said, of any size; the JobManager
        // needs its start, and its connection must not break on a message
        // too large for it.
        if update.error.len() > MAX_ERROR_BYTES {
            let mut end = MAX_ERROR_BYTES;
            while !update.error.is_char_boundary(end) {
                end -= 1;
            }
            let cut = update.error.len() - end;
            update.error.truncate(end);
            update.error.push_str(&format!("... ({cut} bytes cut)"));
        }
        self.tell(ToJobManager::TaskState(update));
    }

    /// Reports `update` for each of the tasks `ids`.
    fn report_each(&self, ids: &[TaskId], update: TaskStateUpdate) {
        for id in ids {
            self.report(TaskStateUpdate {
                task: Some(id.clone()),
                ..update.clone()
            });
        }
    }

    pub(crate) fn tell(&self, message: ToJobManager) {
        let outbound = lock(&self.link).as_ref().map(|(o, _)| o.clone());
        if let Some(outbound) = outbound {
            // Never block a task thread on the JobManager: a full queue means
            // the connection is failing and the JobManager will learn anyway.
            let _ = outbound.try_send(TaskManagerMessage {
                message: Some(message),
            });
        }
    }

    /// Passes a checkpoint trigger to the job's source tasks here.
    pub fn trigger_checkpoint(&self, trigger: TriggerCheckpoint) {
        let barrier = Barrier {
            id: trigger.checkpoint_id,
            location: trigger.location.as_str().into(),
            timestamp_ms: trigger.timestamp_ms,
        };
        let jobs = lock(&self.jobs);
        if let Some(job) = jobs.get(&(trigger.job_id.clone(), trigger.attempt)) {
            for (vertex, control) in &job.controls {
                if *vertex == 0 {
                    let _ = control.send(Control::Trigger(barrier.clone()));
                }
            }
        }
    }

    /// Tells every task of the job here that a checkpoint completed.
    pub fn checkpoint_complete(&self, complete: &CheckpointComplete) {
        let jobs = lock(&self.jobs);
        if let Some(job) = jobs.get(&(complete.job_id.clone(), complete.attempt)) {
            for (_, control) in &job.controls {
                let _ = control.send(Control::Complete(complete.checkpoint_id));
            }
        }
    }

    /// Fetches and verifies a task's snapshot.
    async fn fetch_snapshot(&self, restore: &RestoreState) -> Result<Vec<u8>, SnapshotError> {
        let bytes = self.shared.storage.get(&restore.location).await?;
        if bytes.len() as u64 != restore.bytes {
            return Err(SnapshotError::Length {
                location: restore.location.clone(),
                actual: bytes.len() as u64,
                expected: restore.bytes,
            });
        }
        let digest = weir_types::sha256_digest(&bytes);
        if digest != restore.sha256 {
            return Err(SnapshotError::Digest {
                location: restore.location.clone(),
                actual: digest,
                expected: restore.sha256.clone(),
            });
        }
        Ok(bytes)
    }

    /// Slots held by the jobs running here.
    pub fn slots_in_use(&self) -> u32 {
        lock(&self.jobs).values().map(|job| job.slots).sum()
    }

    pub fn with_jobs<R>(&self, f: impl FnOnce(&HashMap<(String, u32), RunningJob>) -> R) -> R {
        f(&lock(&self.jobs))
    }

    pub fn counters(&self) -> Vec<JobCounters> {
        lock(&self.jobs).values().map(counters_of).collect()
    }

    /// Whether attempt `attempt` of the job was cancelled (it, or a newer one).
    fn is_cancelled(&self, job_id: &str, attempt: u32) -> bool {
        lock(&self.cancelled)
            .get(job_id)
            .is_some_and(|&newest| attempt <= newest)
    }

    pub fn cancel(&self, job_id: &str, attempt: u32) {
        {
            let mut cancelled = lock(&self.cancelled);
            if cancelled.len() >= MAX_CANCELLED_JOBS && !cancelled.contains_key(job_id) {
                // Forget the jobs that run nothing here any more.
                let running: HashSet<String> = lock(&self.jobs)
                    .keys()
                    .map(|(job, _)| job.clone())
                    .collect();
                cancelled.retain(|job, _| running.contains(job));
            }
            let newest = cancelled.entry(job_id.to_string()).or_insert(attempt);
            *newest = (*newest).max(attempt);
        }
        for job in lock(&self.jobs).values() {
            if job.job_id == job_id && job.attempt <= attempt {
                job.cancel.store(true, Ordering::Relaxed);
                job.cancel_watch.send_replace(true);
            }
        }
        self.shared.gates.remove_job(job_id, attempt);
    }

    /// The JobManager is gone: it will restart these jobs elsewhere.
    pub fn cancel_everything(&self) {
        let jobs: Vec<(String, u32)> = lock(&self.jobs).keys().cloned().collect();
        for (job_id, attempt) in jobs {
            self.cancel(&job_id, attempt);
        }
    }

    pub fn deploy(self: &Arc<Self>, deploy: DeployTasks) {
        let tasks = self.clone();
        self.shared.runtime.spawn(async move {
            let ids = task_ids(&deploy);
            if let Err(error) = tasks.clone().start(deploy).await {
                tracing::warn!("cannot deploy tasks: {error}");
                tasks.report_each(
                    &ids,
                    TaskStateUpdate {
                        state: TaskState::Failed as i32,
                        error: error.to_string(),
                        failure_kind: ProtoFailureKind::from(error.failure_kind()) as i32,
                        ..TaskStateUpdate::default()
                    },
                );
            }
        });
    }

    async fn start(self: Arc<Self>, deploy: DeployTasks) -> Result<(), DeployError> {
        let job = LockedJob::from_bytes(&deploy.job)?;
        // The job's checkpoint storage is out of bounds for its sources and
        // sinks, and where its snapshots may go.
        let paths = deploy
            .checkpoint_storage
            .iter()
            .fold(self.shared.paths.clone(), |paths, storage| {
                paths.with_storage(storage)
            });
        for task in &deploy.tasks {
            if let Some(restore) = &task.restore {
                paths.check_storage("the checkpoint to restore", &restore.location)?;
            }
        }
        let graph = JobGraph::of(&job);
        let client = lock(&self.link)
            .as_ref()
            .map(|(_, client)| client.clone())
            .ok_or(DeployError::LostJobManager)?;
        let mut modules = BTreeMap::new();
        for pinned in job.modules() {
            let op = pinned.operator;
            let module = self
                .shared
                .modules
                .get(
                    &op.name,
                    &pinned.digest.to_string(),
                    op.module.as_deref(),
                    &client,
                )
                .await
                .map_err(|source| DeployError::Module {
                    index: pinned.index,
                    operator: op.name.clone(),
                    source,
                })?;
            modules.insert(pinned.index, module);
        }
        let spec = job.into_spec();

        let mut snapshots: HashMap<(u32, u32), Vec<u8>> = HashMap::new();
        for task in &deploy.tasks {
            let Some(restore) = &task.restore else {
                continue;
            };
            match self.fetch_snapshot(restore).await {
                Ok(bytes) => {
                    snapshots.insert((task.vertex, task.subtask), bytes);
                }
                Err(why) => {
                    let message =
                        format!("cannot restore checkpoint {}: {why}", restore.checkpoint_id);
                    tracing::warn!(job = %deploy.job_id, "{message}");
                    self.report_each(
                        &task_ids(&deploy),
                        TaskStateUpdate {
                            state: TaskState::Failed as i32,
                            error: message,
                            failure_kind: ProtoFailureKind::Transient as i32,
                            restore_failed_checkpoint: restore.checkpoint_id,
                            ..TaskStateUpdate::default()
                        },
                    );
                    return Ok(());
                }
            }
        }

        if !snapshots.is_empty() {
            weir_types::fault::point("tm.restore");
        }
        let key = (deploy.job_id.clone(), deploy.attempt);
        // An older attempt of the job still stopping here (a sink finishing
        // a commit, say) must be gone before this one touches its files.
        if deploy.attempt > 0 {
            self.cancel(&deploy.job_id, deploy.attempt - 1);
        }
        self.wait_for_older_attempts(&deploy.job_id, deploy.attempt)
            .await?;
        if self.is_cancelled(&deploy.job_id, deploy.attempt) {
            // Cancelled while its modules arrived: say so, or a restart would
            // wait for these tasks to stop.
            self.report_each(
                &task_ids(&deploy),
                TaskStateUpdate {
                    state: TaskState::Canceled as i32,
                    ..TaskStateUpdate::default()
                },
            );
            return Ok(());
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let (cancel_watch, _) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(JobMetrics::new(
            spec.operators.iter().map(|op| op.name.clone()),
        ));

        // Gates first, so that local producers find them.
        let mut gates = HashMap::new();
        for task in &deploy.tasks {
            if task.vertex == 0 {
                continue;
            }
            let (sender, receiver) = weir_executor::gate(CHANNEL_CAPACITY);
            let gate_key = GateKey {
                job_id: deploy.job_id.clone(),
                attempt: deploy.attempt,
                vertex: task.vertex,
                subtask: task.subtask,
            };
            self.shared.gates.register(gate_key, sender);
            gates.insert(
                (task.vertex, task.subtask),
                InputGate {
                    receiver,
                    producers: graph.producers_of(task.vertex as usize),
                },
            );
        }

        let mut slots_here: BTreeMap<u32, u32> = BTreeMap::new();
        for task in &deploy.tasks {
            *slots_here.entry(task.vertex).or_default() += 1;
        }
        let mut running = RunningJob {
            job_id: deploy.job_id.clone(),
            job_name: spec.name.clone(),
            attempt: deploy.attempt,
            metrics: metrics.clone(),
            tasks: Vec::new(),
            slots: slots_here.values().copied().max().unwrap_or(0),
            cancel: cancel.clone(),
            cancel_watch: cancel_watch.clone(),
            remaining: deploy.tasks.len(),
            controls: Vec::new(),
        };
        let spec = Arc::new(spec);
        let graph = Arc::new(graph);
        let operators = Arc::new(WasmOperators::new(modules));
        let paths = Arc::new(paths);
        let state_budgets: Arc<[Arc<StateBudget>]> = Arc::from(vec![
            Arc::new(StateBudget::new(
                format!("job {} on this TaskManager", deploy.job_id),
                "taskmanager.jobStateSize",
                self.shared.job_state_bytes,
            )),
            self.shared.state_budget.clone(),
        ]);
        let mut threads = Vec::new();
        for deployment in &deploy.tasks {
            let vertex = deployment.vertex;
            let subtask = deployment.subtask;
            let mut outboxes: Vec<Box<dyn Outbox>> = Vec::new();
            for (consumer, address) in deployment.consumers.iter().enumerate() {
                let consumer = consumer as u32;
                if *address == self.shared.data_address {
                    let gate_key = GateKey {
                        job_id: deploy.job_id.clone(),
                        attempt: deploy.attempt,
                        vertex: vertex + 1,
                        subtask: consumer,
                    };
                    let sender = self.shared.gates.get(&gate_key).ok_or(
                        DeployError::ConsumerNotDeployed {
                            vertex: vertex + 1,
                            subtask: consumer,
                        },
                    )?;
                    outboxes.push(Box::new(sender));
                } else {
                    let metadata = ChannelMetadata {
                        job_id: deploy.job_id.clone(),
                        attempt: deploy.attempt,
                        vertex: vertex + 1,
                        subtask: consumer,
                        producer_subtask: subtask,
                        ..ChannelMetadata::default()
                    };
                    let policy = FlushPolicy {
                        rows: spec.batch_size,
                        bytes: 4 << 20,
                        timeout: self.shared.flush_timeout,
                    };
                    let outbox = NetworkOutbox::open(
                        &self.shared.runtime,
                        &self.shared.connections,
                        address,
                        metadata,
                        policy,
                        self.shared.buffered.clone(),
                        cancel_watch.subscribe(),
                    )?;
                    outboxes.push(Box::new(outbox));
                }
            }
            let task_metrics = Arc::new(TaskMetrics::default());
            let vertex_info = &graph.vertices[vertex as usize];
            let name = format!(
                "{} ({}/{})",
                vertex_info.name,
                subtask + 1,
                vertex_info.parallelism
            );
            running.tasks.push(RunningTask {
                subtask,
                name: name.clone(),
                metrics: task_metrics.clone(),
                rates: Rates::default(),
                last_sample: None,
            });
            let gate = gates.remove(&(vertex, subtask));
            let (control_tx, control_rx) = std::sync::mpsc::channel();
            running.controls.push((vertex, control_tx));
            let id = TaskId {
                job_id: deploy.job_id.clone(),
                attempt: deploy.attempt,
                vertex,
                subtask,
            };
            let checkpoints = TaskCheckpoints {
                control: control_rx,
                store: Box::new(TaskSnapshotStore {
                    tasks: self.clone(),
                    id: id.clone(),
                    paths: paths.clone(),
                }),
                restore: snapshots.remove(&(vertex, subtask)),
            };
            let context = TaskContext {
                checkpoints: Some(checkpoints),
                tasks: self.clone(),
                id,
                spec: spec.clone(),
                graph: graph.clone(),
                operators: operators.clone(),
                paths: paths.clone(),
                state_budgets: state_budgets.clone(),
                metrics: metrics.clone(),
                task_metrics,
                cancel: cancel.clone(),
            };
            threads.push((name, gate, outboxes, context));
        }
        lock(&self.jobs).insert(key.clone(), running);
        // A cancel that came between the check above and now found no job
        // to cancel.
        if self.is_cancelled(&deploy.job_id, deploy.attempt) {
            cancel.store(true, Ordering::Relaxed);
            cancel_watch.send_replace(true);
        }
        for (name, gate, outboxes, context) in threads {
            let spawned = std::thread::Builder::new()
                .name(format!("weir-task {name}"))
                .spawn(move || context.run(gate, outboxes));
            if let Err(e) = spawned {
                return Err(DeployError::Thread(e));
            }
        }
        Ok(())
    }

    /// Waits until no attempt of `job_id` older than `attempt` runs here.
    async fn wait_for_older_attempts(&self, job_id: &str, attempt: u32) -> Result<(), DeployError> {
        let started = Instant::now();
        loop {
            let older = lock(&self.jobs)
                .keys()
                .filter(|(job, a)| job == job_id && *a < attempt)
                .map(|(_, a)| *a)
                .max();
            let Some(older) = older else {
                return Ok(());
            };
            if started.elapsed() > OLDER_ATTEMPT_GRACE {
                return Err(DeployError::OlderAttemptStopping {
                    older,
                    seconds: OLDER_ATTEMPT_GRACE.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn task_ended(&self, id: &TaskId) {
        let key = (id.job_id.clone(), id.attempt);
        let mut jobs = lock(&self.jobs);
        let finished = match jobs.get_mut(&key) {
            Some(job) => {
                job.remaining = job.remaining.saturating_sub(1);
                job.remaining == 0
            }
            None => false,
        };
        if finished {
            let job = jobs.remove(&key);
            drop(jobs);
            self.shared.gates.remove_job(&id.job_id, id.attempt);
            // Every task of the attempt is gone, and its state with it.
            drop(job);
            crate::memory::return_freed_memory();
        }
    }

    pub(crate) fn counters_of(&self, job_id: &str, attempt: u32) -> Option<JobCounters> {
        lock(&self.jobs)
            .get(&(job_id.to_string(), attempt))
            .map(counters_of)
    }
}

/// The ids of the tasks a deployment holds.
fn task_ids(deploy: &DeployTasks) -> Vec<TaskId> {
    deploy
        .tasks
        .iter()
        .map(|t| TaskId {
            job_id: deploy.job_id.clone(),
            attempt: deploy.attempt,
            vertex: t.vertex,
            subtask: t.subtask,
        })
        .collect()
}

fn counters_of(job: &RunningJob) -> JobCounters {
    let m = &job.metrics;
    JobCounters {
        job_id: job.job_id.clone(),
        attempt: job.attempt,
        source_records: m.source_records(),
        sink_records: m.sink_records(),
        operator_records_in: m
            .operators
            .iter()
            .map(|o| o.records_in.load(Ordering::Relaxed))
            .collect(),
        operator_records_out: m
            .operators
            .iter()
            .map(|o| o.records_out.load(Ordering::Relaxed))
            .collect(),
    }
}

/// Samples every task's counters once a second into per-second rates, as
/// Flink's meters do.
pub async fn sample_rates(tasks: Arc<Tasks>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let mut jobs = lock(&tasks.jobs);
        for job in jobs.values_mut() {
            for task in &mut job.tasks {
                let m = &task.metrics;
                let values = [
                    m.records_in.load(Ordering::Relaxed),
                    m.records_out.load(Ordering::Relaxed),
                    m.busy_nanos.load(Ordering::Relaxed),
                    m.backpressured_nanos_now(),
                ];
                if let Some((then, before)) = task.last_sample {
                    let seconds = now.duration_since(then).as_secs_f64().max(1e-3);
                    let rate = |i: usize| values[i].saturating_sub(before[i]) as f64 / seconds;
                    task.rates = Rates {
                        records_in_per_second: rate(0),
                        records_out_per_second: rate(1),
                        busy_ms_per_second: (rate(2) / 1e6).min(1000.0),
                        backpressured_ms_per_second: (rate(3) / 1e6).min(1000.0),
                    };
                }
                task.last_sample = Some((now, values));
            }
        }
    }
}
