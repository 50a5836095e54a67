//! A job as the JobManager holds it: its spec and graph, its attempt and
//! restarts, the figures its tasks report.

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use weir_checkpoint::VertexShape;
use weir_proto::v1::{JobCounters, TaskState, UserMetric};
use weir_types::JobState;
use weir_types::{Digest, JobGraph, LockedJob, RestartHistory};

use crate::checkpoints::Checkpoints;
use crate::exceptions::ExceptionHistory;
use crate::job_store::{JobRecord, JOB_RECORD_FORMAT};

use super::*;

#[derive(Default)]
pub(super) struct OperatorTotals {
    pub(super) user_metrics: BTreeMap<String, UserMetric>,
    pub(super) recycles: u64,
    pub(super) peak_memory: u64,
}

pub(super) struct Job {
    pub(super) id: String,
    /// The job as it was locked at submission; reads as its spec.
    pub(super) spec: LockedJob,
    pub(super) graph: JobGraph,
    pub(super) state: JobState,
    pub(super) status_message: String,
    /// Its record and modules are in the job store (or there is none): it
    /// may be scheduled.
    pub(super) durable: bool,
    /// Attempts up to this one are recorded in the job store as possibly
    /// deployed; deploying a higher one waits for the record to say so.
    pub(super) attempts_reserved: u32,
    /// A `ReserveAttempts` is under way.
    pub(super) reserving: bool,
    /// Where the job's end is reported, so its record goes with it.
    pub(super) storage_work: mpsc::UnboundedSender<StorageWork>,
    pub(super) exceptions: ExceptionHistory,
    /// Deployments so far; the first is attempt 0.
    pub(super) attempt: u32,
    pub(super) deployed: bool,
    pub(super) history: RestartHistory,
    pub(super) submitted_ms: i64,
    pub(super) end_ms: i64,
    pub(super) attempt_started: Instant,
    pub(super) restart_at: Option<Instant>,
    pub(super) failed_at: Option<Instant>,
    /// TaskManager id per slot the current attempt holds; emptied when the
    /// attempt ends and its slots are free again.
    pub(super) placement: Vec<String>,
    /// Where the last attempt ran, for people; kept after it ends.
    pub(super) hosts: Vec<String>,
    /// State per (vertex, subtask) of the current attempt.
    pub(super) tasks: BTreeMap<(u32, u32), TaskState>,
    /// Latest counters of the current attempt, per TaskManager.
    pub(super) counters: HashMap<String, JobCounters>,
    pub(super) operators: BTreeMap<u32, OperatorTotals>,
    pub(super) checkpoints: Checkpoints,
    /// Set by stop-with-savepoint: the savepoint, once the tasks stop.
    pub(super) stop_with: Option<String>,
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
    pub(super) fn tasks_stopped(&self) -> bool {
        self.tasks.values().all(|state| {
            matches!(
                state,
                TaskState::Finished | TaskState::Failed | TaskState::Canceled
            )
        })
    }

    /// The state a job that was cancelling reaches once its tasks stop.
    pub(super) fn stopped(&mut self) {
        match self.stop_with.take() {
            Some(location) => self.end(
                JobState::Finished,
                format!("stopped with savepoint {location}"),
            ),
            None => self.end(JobState::Canceled, "cancelled".into()),
        }
    }

    pub(super) fn end(&mut self, state: JobState, message: String) {
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
    pub(super) fn next_attempt(&self) -> u32 {
        if self.deployed {
            self.attempt + 1
        } else {
            self.attempt
        }
    }

    /// What the job store keeps of the job.
    pub(super) fn record(&self) -> JobRecord {
        JobRecord {
            format: JOB_RECORD_FORMAT.into(),
            job_id: self.id.clone(),
            job: serde_json::to_value(&self.spec).unwrap_or_default(),
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
    pub(super) fn uploaded_modules(&self) -> Vec<Digest> {
        self.spec
            .modules()
            .filter(|pinned| !pinned.remote)
            .map(|pinned| pinned.digest)
            .collect()
    }
}

pub(super) fn new_job_id(seed: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{seed}{nanos}{}", std::process::id()).as_bytes());
    hex::encode(&digest[..16])
}
