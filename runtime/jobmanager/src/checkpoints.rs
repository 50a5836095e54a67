//! The checkpoint coordinator's bookkeeping for one job: the checkpoint
//! under way, the completed ones kept for recovery, savepoints asked for,
//! and the figures REST shows. The rules that use it live in `core`, under
//! the JobManager's one lock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use tokio::sync::oneshot;
use weir_checkpoint::{CheckpointMetadata, StorageError, TaskStateHandle};
use weir_proto::v1::{CheckpointStats, CheckpointSummary};
use weir_types::JobState;

/// Checkpoints and savepoints REST lists per job, newest first.
const HISTORY: usize = 10;

/// A checkpoint or savepoint whose `_metadata` is written.
#[derive(Debug, Clone)]
pub struct Completed {
    pub location: String,
    pub metadata: CheckpointMetadata,
}

/// What a savepoint request gets: the savepoint's location, or why not.
pub type SavepointReply = oneshot::Sender<Result<String, SavepointError>>;

/// Why a savepoint was not taken: refused when asked for, or lost with
/// the checkpoint that was to be it.
#[derive(Debug, thiserror::Error)]
pub enum SavepointError {
    #[error("there is no job {job_id}")]
    NoSuchJob { job_id: String },
    #[error("job {job_id} is {}: savepoints are taken of running jobs", .state.name())]
    NotRunning { job_id: String, state: JobState },
    /// The target directory is not a checkpoint location.
    #[error(transparent)]
    Directory(#[from] StorageError),
    /// The checkpoint failed: a task declined it, it expired, or its
    /// metadata could not be written. `why` is the reason the checkpoint
    /// history records too, and a decline's comes from the TaskManager as
    /// text, so text is what there is to carry.
    #[error("{why}")]
    CheckpointFailed { why: String },
    /// The job cancelled, failed or ended before the savepoint completed.
    #[error("{why}")]
    Abandoned { why: String },
}

/// Why a checkpoint's `_metadata` was not written (the checkpoint then
/// fails).
#[derive(Debug, thiserror::Error)]
pub enum MetadataWriteError {
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StorageError),
}

pub struct SavepointRequest {
    pub directory: String,
    pub stop: bool,
    pub reply: Option<SavepointReply>,
    /// For REST clients that poll.
    pub request_id: String,
}

pub struct Pending {
    pub id: u64,
    pub location: String,
    pub savepoint: Option<SavepointRequest>,
    pub trigger_ms: i64,
    pub started: Instant,
    pub tasks: usize,
    pub acks: BTreeMap<(u32, u32), TaskStateHandle>,
    pub latest_ack_ms: i64,
    /// `_metadata` is being written.
    pub finalizing: bool,
}

/// Where a REST savepoint request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointStatus {
    InProgress,
    Completed(String),
    Failed(String),
}

#[derive(Default)]
pub struct Checkpoints {
    /// The job's checkpoint directory root (storage URL), when it takes
    /// periodic checkpoints.
    pub storage: Option<String>,
    /// The default directory of this job's savepoints.
    pub savepoint_dir: String,
    pub next_id: u64,
    pub pending: Option<Pending>,
    pub queued: VecDeque<SavepointRequest>,
    /// Retained checkpoints, oldest first.
    pub completed: VecDeque<Completed>,
    /// The savepoint the job was started from, used until a checkpoint of
    /// its own completes.
    pub initial: Option<Completed>,
    pub next_trigger: Option<Instant>,
    pub consecutive_failures: u32,
    pub completed_count: u64,
    pub failed_count: u64,
    pub restored_count: u64,
    pub last_restored: Option<CheckpointSummary>,
    pub history: VecDeque<CheckpointSummary>,
    pub savepoints: BTreeMap<String, SavepointStatus>,
}

impl Checkpoints {
    /// The checkpoint a restart starts from: the newest retained one, or
    /// the savepoint the job started from.
    pub fn restore_point(&self) -> Option<&Completed> {
        self.completed.back().or(self.initial.as_ref())
    }

    pub fn record(&mut self, summary: CheckpointSummary) {
        self.history.retain(|s| s.id != summary.id);
        self.history.push_front(summary);
        self.history.truncate(HISTORY);
    }

    pub fn summary_of(pending: &Pending, status: &str, failure: String) -> CheckpointSummary {
        CheckpointSummary {
            id: pending.id,
            status: status.into(),
            savepoint: pending.savepoint.is_some(),
            trigger_timestamp_ms: pending.trigger_ms,
            latest_ack_timestamp_ms: pending.latest_ack_ms,
            state_size_bytes: pending.acks.values().map(|h| h.bytes).sum(),
            duration_ms: pending.started.elapsed().as_millis() as u64,
            tasks: pending.tasks as u32,
            acknowledged: pending.acks.len() as u32,
            location: pending.location.clone(),
            failure,
        }
    }

    pub fn stats(&self) -> CheckpointStats {
        let mut history: Vec<CheckpointSummary> = Vec::new();
        if let Some(pending) = &self.pending {
            history.push(Self::summary_of(pending, "IN_PROGRESS", String::new()));
        }
        history.extend(self.history.iter().cloned());
        CheckpointStats {
            completed: self.completed_count,
            failed: self.failed_count,
            in_progress: u64::from(self.pending.is_some()),
            restored: self.restored_count,
            last_restored: self.last_restored.clone(),
            history,
        }
    }
}

/// The figures of a completed checkpoint or savepoint.
pub fn completed_summary(
    completed: &Completed,
    duration_ms: u64,
    ack_ms: i64,
) -> CheckpointSummary {
    CheckpointSummary {
        id: completed.metadata.checkpoint_id,
        status: "COMPLETED".into(),
        savepoint: completed.metadata.savepoint,
        trigger_timestamp_ms: completed.metadata.timestamp_ms,
        latest_ack_timestamp_ms: ack_ms,
        state_size_bytes: completed.metadata.state_bytes(),
        duration_ms,
        tasks: completed.metadata.tasks.len() as u32,
        acknowledged: completed.metadata.tasks.len() as u32,
        location: completed.location.clone(),
        failure: String::new(),
    }
}
