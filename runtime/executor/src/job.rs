//! Running a whole job in this process with in-memory channels: the
//! executor's own harness, used by its tests and benchmarks. `weir run` and
//! the cluster schedule the same tasks through the JobManager instead.
//!
//! Preparing does everything that can fail on bad input before a record
//! flows (the caller has read and compiled the modules): it opens every
//! operator instance (so an
//! operator refuses its configuration up front), checks `keyBy` columns
//! against the schemas operators declare, opens the source and creates the
//! sink. Running then starts one thread per task.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_types::{Classify, FailureKind, InstanceLimits, JobGraph, JobSpec, UserMetric};

use crate::exchange::Outbox;
use crate::gate::{gate, GateSender};
use crate::metrics::{merge_user_metrics, JobMetrics, TaskMetrics};
use crate::operator::{InstanceStats, OperatorError};
use crate::paths::PathPolicy;
use crate::sink::SinkError;
use crate::source::SourceError;
use crate::source::DEFAULT_MAX_LINE_BYTES;
use crate::task::{source_schema, InputGate, Task, TaskSetup};
use crate::user::UserOperators;

/// Batches buffered per channel between two tasks.
pub const CHANNEL_CAPACITY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("operators[{index}] '{operator}': {message}")]
    Plan {
        index: usize,
        operator: String,
        message: String,
    },
    /// The operator's module cannot be read or compiled.
    #[error("operators[{index}] '{operator}': {source}")]
    Module {
        index: usize,
        operator: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("source: {0}")]
    Source(#[source] SourceError),
    /// The job spec does not fit what the job met (a column it names is
    /// missing, say): no restart can help.
    #[error("{0}")]
    Config(String),
    #[error("sink: {0}")]
    Sink(#[source] SinkError),
    /// A network channel between tasks failed.
    #[error("data channel: {0}")]
    Channel(String),
    /// A task cannot start from its checkpoint (damaged, or of another
    /// job graph).
    #[error("cannot restore the checkpoint: {0}")]
    Restore(String),
    /// What the checkpoint recorded no longer matches what exists (a sink's
    /// output truncated, a source file changed, a snapshot of another
    /// version): restarting from it would meet the same mismatch.
    #[error("cannot restore the checkpoint: {0}; no restart can cure this")]
    RestoreConflict(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Another task failed first; this one stopped because of it.
    #[error("the job was cancelled")]
    Cancelled,
}

impl Classify for JobError {
    fn failure_kind(&self) -> FailureKind {
        match self {
            JobError::Operator(e) => e.failure_kind(),
            JobError::Plan { .. }
            | JobError::Module { .. }
            | JobError::Config(_)
            | JobError::RestoreConflict(_) => FailureKind::Configuration,
            JobError::Internal(_) => FailureKind::Internal,
            JobError::Sink(e) => e.failure_kind(),
            JobError::Source(e) => e.failure_kind(),
            _ => FailureKind::Transient,
        }
    }
}

/// How the runtime fills in what a job spec leaves out.
#[derive(Debug, Clone)]
pub struct RunDefaults {
    pub limits: InstanceLimits,
    /// The longest line a file source reads.
    pub max_line_bytes: usize,
}

impl Default for RunDefaults {
    fn default() -> Self {
        RunDefaults {
            limits: InstanceLimits::default(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What a job did, for the summary `weir run` prints.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub name: String,
    pub duration: Duration,
    pub source_records: u64,
    pub sink_records: u64,
    pub operators: Vec<OperatorSummary>,
}

#[derive(Debug, Clone)]
pub struct OperatorSummary {
    pub name: String,
    /// `wasm sha256:...` or `builtin NAME`.
    pub kind: String,
    pub parallelism: u32,
    pub records_in: u64,
    pub records_out: u64,
    pub user_metrics: BTreeMap<String, UserMetric>,
    /// Instance recycling and peak memory over all subtasks (WASM only).
    pub instances: InstanceStats,
}

/// A job ready to run: every instance open, every file open.
pub struct PreparedJob {
    name: String,
    tasks: Vec<Task>,
    metrics: Arc<JobMetrics>,
    operators: Vec<(String, String, u32)>,
}

/// Prepares `spec` to run in this process, its user code made by
/// `operators`. Relative paths resolve against `base_dir` (the job spec's
/// directory).
pub fn prepare(
    spec: &JobSpec,
    base_dir: &Path,
    operators: &dyn UserOperators,
    defaults: &RunDefaults,
) -> Result<PreparedJob, JobError> {
    // As under `weir run`: the job's own directory.
    let paths = PathPolicy::deny_all().allow(base_dir);
    let graph = JobGraph::of(spec);
    let metrics = Arc::new(JobMetrics::new(
        spec.operators.iter().map(|o| o.name.clone()),
    ));

    // Gates of every vertex but the first, and the senders into them.
    let mut gates: Vec<Vec<Option<InputGate>>> = Vec::new();
    let mut senders: Vec<Vec<GateSender>> = Vec::new();
    for (v, vertex) in graph.vertices.iter().enumerate() {
        let (mut vertex_gates, mut vertex_senders) = (Vec::new(), Vec::new());
        if v > 0 {
            for _ in 0..vertex.parallelism {
                let (sender, receiver) = gate(CHANNEL_CAPACITY);
                vertex_senders.push(sender);
                vertex_gates.push(Some(InputGate {
                    receiver,
                    producers: graph.producers_of(v),
                }));
            }
        }
        gates.push(vertex_gates);
        senders.push(vertex_senders);
    }

    // Open vertex by vertex, so schemas (and errors) follow the job's order.
    let mut tasks = Vec::new();
    let mut schema = source_schema(spec);
    for (v, vertex) in graph.vertices.iter().enumerate() {
        let mut out_schema = None;
        for subtask in 0..vertex.parallelism {
            let setup = TaskSetup {
                spec,
                graph: &graph,
                vertex: v,
                subtask,
                attempt: 0,
                base_dir,
                operators,
                defaults,
                paths: &paths,
                state_budgets: &[],
            };
            let outboxes: Vec<Box<dyn Outbox>> = senders
                .get(v + 1)
                .map(|next| {
                    next.iter()
                        .map(|s| Box::new(s.clone()) as Box<dyn Outbox>)
                        .collect()
                })
                .unwrap_or_default();
            let gate = gates[v].get_mut(subtask as usize).and_then(Option::take);
            let mut task = Task::new(&setup, gate, outboxes)?;
            let output = task.open(schema.clone())?;
            out_schema.get_or_insert(output);
            tasks.push(task);
        }
        if let Some(output) = out_schema {
            schema = output;
        }
    }

    let operators = spec
        .operators
        .iter()
        .enumerate()
        .map(|(index, op)| {
            let digest = operators.module_digest(index);
            let kind = op.kind(digest.as_deref());
            (op.name.clone(), kind, spec.operator_parallelism(op))
        })
        .collect();
    Ok(PreparedJob {
        name: spec.name.clone(),
        tasks,
        metrics,
        operators,
    })
}

impl PreparedJob {
    /// Live counters, for progress displays; valid before and during `run`.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        self.metrics.clone()
    }

    /// The number of tasks (threads) the job runs as.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Runs the job to its end, or to its first failure.
    pub fn run(self) -> Result<JobSummary, JobError> {
        let started = Instant::now();
        let cancelled = Arc::new(AtomicBool::new(false));
        let failure: Arc<Mutex<Option<JobError>>> = Arc::new(Mutex::new(None));
        let mut handles = Vec::new();
        for task in self.tasks {
            let metrics = self.metrics.clone();
            let cancelled = cancelled.clone();
            let failure = failure.clone();
            let name = task.name().to_string();
            let handle = std::thread::Builder::new()
                .name(format!("weir-task {name}"))
                .spawn(move || {
                    let result = task.run(&metrics, &TaskMetrics::default(), &cancelled);
                    if let Err(error) = &result {
                        cancelled.store(true, Ordering::Relaxed);
                        if !matches!(error, JobError::Cancelled) {
                            tracing::debug!(task = %name, "task failed: {error}");
                        }
                    }
                    match result {
                        Ok(user_metrics) => user_metrics,
                        Err(JobError::Cancelled) => Vec::new(),
                        Err(error) => {
                            let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
                            first.get_or_insert(error);
                            Vec::new()
                        }
                    }
                })
                .map_err(|e| JobError::Internal(format!("cannot start a task thread: {e}")))?;
            handles.push(handle);
        }

        let mut user_metrics: Vec<BTreeMap<String, UserMetric>> =
            vec![BTreeMap::new(); self.operators.len()];
        let mut instances = vec![InstanceStats::default(); self.operators.len()];
        for handle in handles {
            match handle.join() {
                Ok(reported) => {
                    for (index, metrics, stats) in reported {
                        merge_user_metrics(&mut user_metrics[index], metrics);
                        instances[index] = instances[index].merge(stats);
                    }
                }
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(JobError::Internal(format!("a task panicked: {message}")));
                }
            }
        }
        let failed = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(error) = failed {
            return Err(error);
        }

        let operators = self
            .operators
            .into_iter()
            .zip(user_metrics)
            .zip(instances)
            .zip(&self.metrics.operators)
            .map(
                |((((name, kind, parallelism), user_metrics), instances), counters)| {
                    OperatorSummary {
                        name,
                        kind,
                        parallelism,
                        records_in: counters.records_in.load(Ordering::Relaxed),
                        records_out: counters.records_out.load(Ordering::Relaxed),
                        user_metrics,
                        instances,
                    }
                },
            )
            .collect();
        Ok(JobSummary {
            name: self.name,
            duration: started.elapsed(),
            source_records: self.metrics.source_records(),
            sink_records: self.metrics.sink_records(),
            operators,
        })
    }
}
