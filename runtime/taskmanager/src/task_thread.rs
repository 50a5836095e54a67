//! What runs on a task's own thread: building the task, running it to its
//! end, reporting how it ended; and where its snapshots go (written on the
//! TaskManager's runtime, acknowledged to the JobManager).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use weir_executor::{
    Barrier, InputGate, JobError, JobMetrics, Outbox, PathPolicy, SnapshotStore, Task,
    TaskCheckpoints, TaskMetrics, TaskSetup,
};
use weir_proto::v1::task_manager_message::Message as ToJobManager;
use weir_proto::v1::{
    user_metric, CheckpointAck, FailureKind as ProtoFailureKind, OperatorReport, TaskId, TaskState,
    TaskStateUpdate, UserMetric as ProtoMetric,
};
use weir_state::StateBudget;
use weir_types::{Classify, JobGraph, JobSpec};
use weir_wasm_host::UserMetric;

use crate::tasks::Tasks;

/// Writes a task's snapshots to checkpoint storage on the TaskManager's
/// runtime and acknowledges them to the JobManager.
pub(crate) struct TaskSnapshotStore {
    pub(crate) tasks: Arc<Tasks>,
    pub(crate) id: TaskId,
    pub(crate) paths: Arc<PathPolicy>,
}

impl SnapshotStore for TaskSnapshotStore {
    fn store(&self, barrier: &Barrier, snapshot: Vec<u8>) {
        let tasks = self.tasks.clone();
        let id = self.id.clone();
        let file = weir_checkpoint::task_file(id.vertex, id.subtask);
        let location = weir_checkpoint::join(&barrier.location, &file);
        let checkpoint_id = barrier.id;
        if let Err(e) = self
            .paths
            .check_storage("the savepoint directory", &location)
        {
            self.decline(checkpoint_id, e.to_string());
            return;
        }
        self.tasks.shared.runtime.spawn(async move {
            let bytes = snapshot.len() as u64;
            let sha256 = weir_types::sha256_digest(&snapshot);
            let stored = tasks.shared.storage.put(&location, snapshot).await;
            let ack = match stored {
                Ok(()) => CheckpointAck {
                    task: Some(id),
                    checkpoint_id,
                    file,
                    bytes,
                    sha256,
                    ..CheckpointAck::default()
                },
                Err(e) => {
                    tracing::warn!("cannot store a snapshot of checkpoint {checkpoint_id}: {e}");
                    CheckpointAck {
                        task: Some(id),
                        checkpoint_id,
                        declined: format!("cannot store the snapshot: {e}"),
                        failed: true,
                        ..CheckpointAck::default()
                    }
                }
            };
            tasks.tell(ToJobManager::CheckpointAck(ack));
        });
    }

    fn decline(&self, checkpoint_id: u64, why: String) {
        self.tasks.tell(ToJobManager::CheckpointAck(CheckpointAck {
            task: Some(self.id.clone()),
            checkpoint_id,
            declined: why,
            ..CheckpointAck::default()
        }));
    }
}

pub(crate) struct TaskContext {
    pub(crate) checkpoints: Option<TaskCheckpoints>,
    pub(crate) tasks: Arc<Tasks>,
    pub(crate) id: TaskId,
    pub(crate) spec: Arc<JobSpec>,
    pub(crate) graph: Arc<JobGraph>,
    /// The job's compiled modules, as operators.
    pub(crate) operators: Arc<weir_wasm_operator::WasmOperators>,
    pub(crate) paths: Arc<PathPolicy>,
    pub(crate) state_budgets: Arc<[Arc<StateBudget>]>,
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) task_metrics: Arc<TaskMetrics>,
    pub(crate) cancel: Arc<AtomicBool>,
}

impl TaskContext {
    pub(crate) fn run(mut self, gate: Option<InputGate>, outboxes: Vec<Box<dyn Outbox>>) {
        let setup = TaskSetup {
            spec: &self.spec,
            graph: &self.graph,
            vertex: self.id.vertex as usize,
            subtask: self.id.subtask,
            attempt: self.id.attempt,
            base_dir: Path::new("/"),
            operators: &*self.operators,
            defaults: &self.tasks.shared.defaults,
            paths: &self.paths,
            state_budgets: &self.state_budgets,
        };
        self.tasks.report(TaskStateUpdate {
            task: Some(self.id.clone()),
            state: TaskState::Running as i32,
            ..TaskStateUpdate::default()
        });
        let checkpoints = self.checkpoints.take();
        let result = Task::new(&setup, gate, outboxes)
            .map(|task| match checkpoints {
                Some(checkpoints) => task.with_checkpoints(checkpoints),
                None => task,
            })
            .and_then(|task| task.run(&self.metrics, &self.task_metrics, &self.cancel));
        let mut update = TaskStateUpdate {
            task: Some(self.id.clone()),
            ..TaskStateUpdate::default()
        };
        match result {
            Ok(reports) => {
                update.state = TaskState::Finished as i32;
                update.operators = reports
                    .into_iter()
                    .map(|(index, user_metrics, stats)| OperatorReport {
                        operator_index: index as u32,
                        user_metrics: user_metrics
                            .into_iter()
                            .map(|(name, value)| (name, to_proto(value)))
                            .collect(),
                        instance_recycles: stats.recycles,
                        peak_memory_bytes: stats.peak_memory_bytes,
                    })
                    .collect();
            }
            Err(JobError::Cancelled) => update.state = TaskState::Canceled as i32,
            Err(error) => {
                if self.cancel.load(Ordering::Relaxed) {
                    update.state = TaskState::Canceled as i32;
                } else {
                    tracing::warn!(job = %self.id.job_id, "task failed: {error}");
                    update.state = TaskState::Failed as i32;
                    update.failure_kind = ProtoFailureKind::from(error.failure_kind()) as i32;
                    update.error = error.to_string();
                }
            }
        }
        update.counters = self.tasks.counters_of(&self.id.job_id, self.id.attempt);
        self.tasks.report(update);
        self.tasks.task_ended(&self.id);
    }
}

pub fn to_proto(value: UserMetric) -> ProtoMetric {
    ProtoMetric {
        value: Some(match value {
            UserMetric::Counter(n) => user_metric::Value::Counter(n),
            UserMetric::Gauge(g) => user_metric::Value::Gauge(g),
        }),
    }
}
