//! Checkpoint coordination: triggering, acknowledgements, completion,
//! failures, and savepoints on request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir_checkpoint::{CheckpointMetadata, TaskStateHandle, METADATA_FORMAT};
use weir_proto::v1::job_manager_message::Message as ToTaskManager;
use weir_proto::v1::{CheckpointAck, CheckpointComplete, TaskState, TriggerCheckpoint};
use weir_types::JobState;

use crate::checkpoints::{
    completed_summary, Checkpoints, Completed, MetadataWriteError, Pending, SavepointError,
    SavepointReply, SavepointRequest, SavepointStatus,
};
use crate::exceptions::{Failure, FailureSource};

use super::*;

/// Ends the checkpoint under way (not counted as a failure: the job itself
/// stopped or changed) and answers queued savepoint requests.
pub(super) fn abort_checkpoints(job: &mut Job, why: &str) {
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

impl Core {
    /// Times out the checkpoint under way and triggers the next one (a
    /// savepoint asked for first) when its time has come.
    pub(super) fn coordinate(&self, state: &mut State) {
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
    pub(super) fn fail_checkpoint(
        &self,
        state: &mut State,
        job_id: &str,
        why: String,
        counts: bool,
    ) {
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
}
