//! A job's life: submission, cancellation, task states, failures and
//! restarts, and forgetting jobs that ended long ago.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use weir_proto::v1::{user_metric, JobDetails, TaskState, TaskStateUpdate, UserMetric};
use weir_types::{Digest, JobGraph, JobSpec, LockError, LockedJob, RestartHistory};
use weir_types::{FailureKind, JobState};

use crate::checkpoints::{Checkpoints, Completed};
use crate::exceptions::{ExceptionHistory, Failure, FailureSource};

use super::*;

/// Forgets the oldest ended jobs beyond `ENDED_JOBS_KEPT`, and modules that
/// no job still needs (after `MODULE_GRACE`), so that a long-lived
/// JobManager's memory does not grow with every job. Returns the modules
/// forgotten that the job store holds too.
pub(super) fn retire(state: &mut State) -> Vec<Digest> {
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

impl Core {
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
        self.submit_spec(spec, restore)
    }

    /// Accepts a job already parsed (a WeirJob's), as [`Core::submit`]: it
    /// is locked here, once, and kept and deployed as that value.
    pub fn submit_spec(
        &self,
        spec: JobSpec,
        restore: Option<Completed>,
    ) -> Result<String, SubmitError> {
        let spec = LockedJob::lock(spec).map_err(|e| match e {
            LockError::Unpinned { index, operator } => SubmitError::Unpinned { index, operator },
            other => SubmitError::Spec(other.to_string()),
        })?;
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
        for pinned in spec.modules() {
            // Registry and ConfigMap modules are fetched by the TaskManagers.
            if pinned.remote {
                continue;
            }
            let digest = pinned.digest;
            let Some(module) = state.modules.get_mut(&digest) else {
                return Err(SubmitError::MissingModule {
                    index: pinned.index,
                    operator: pinned.operator.name.clone(),
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
        let job = self.new_job(id.clone(), spec, graph, checkpoints, durable);
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
    pub(super) fn checkpoint_root(&self, spec: &JobSpec) -> Result<String, SubmitError> {
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
    pub(super) fn new_job(
        &self,
        id: String,
        spec: LockedJob,
        graph: JobGraph,
        checkpoints: Checkpoints,
        durable: bool,
    ) -> Job {
        Job {
            id,
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
        let failure_kind = FailureKind::from(update.failure_kind());
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
                let mut failure_kind = failure_kind;
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
                            failure_kind = FailureKind::Configuration;
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
                    failure_kind,
                };
                self.fail(&mut state, &job_id, failure);
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
    pub(super) fn fail(&self, state: &mut State, job_id: &str, failure: Failure) {
        let Some(job) = state.jobs.get_mut(job_id) else {
            return;
        };
        if matches!(job.state, JobState::Running | JobState::Restarting) {
            job.exceptions.record(job.attempt, now_ms(), &failure);
        }
        let retryable = failure.failure_kind.is_retryable();
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
}
