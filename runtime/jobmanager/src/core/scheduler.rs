//! The scheduler: places the tasks of waiting jobs on free slots and sends
//! the deployments.

use std::collections::BTreeMap;
use std::time::Instant;

use weir_proto::v1::job_manager_message::Message as ToTaskManager;
use weir_proto::v1::{CancelTasks, DeployTasks, RestoreState, TaskDeployment, TaskState};
use weir_types::JobState;

use crate::checkpoints::completed_summary;

use super::*;

pub(super) fn deploy(
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
    let locked_job = job.spec.to_bytes();
    for (tm_id, tasks) in per_tm {
        if let Some(tm) = task_managers.get(&tm_id) {
            send(
                tm,
                ToTaskManager::Deploy(DeployTasks {
                    job_id: job.id.clone(),
                    attempt: job.attempt,
                    job: locked_job.clone(),
                    tasks,
                    checkpoint_storage: checkpoint_storage.clone(),
                }),
            );
        }
    }
}

/// Sends `message` once to each TaskManager running the job's attempt.
pub(super) fn send_to_job(
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

pub(super) fn cancel_tasks(task_managers: &BTreeMap<String, TaskManager>, job: &Job) {
    send_to_job(task_managers, job, || {
        ToTaskManager::Cancel(CancelTasks {
            job_id: job.id.clone(),
            attempt: job.attempt,
        })
    });
}

impl Core {
    /// Places and deploys waiting jobs, first come first served.
    pub(super) fn schedule(&self, state: &mut State) {
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
}
