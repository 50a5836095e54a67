//! What a job's tasks share: their error, the defaults the runtime fills
//! in, and the summary of a finished job. Tasks are wired and run by the
//! TaskManager (`weir run` and tests use it through the in-process cluster,
//! `weir-minicluster`).

use std::collections::BTreeMap;
use std::time::Duration;

use weir_types::{Classify, FailureKind, InstanceLimits, UserMetric};

use crate::operator::{InstanceStats, OperatorError};
use crate::sink::SinkError;
use crate::source::SourceError;
use crate::source::DEFAULT_MAX_LINE_BYTES;

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
    /// Writing an operator's side output (a window's late records) failed.
    #[error("operators[{index}] '{operator}': side output {tag}: {source}")]
    SideOutput {
        index: usize,
        operator: String,
        tag: &'static str,
        #[source]
        source: SinkError,
    },
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
            JobError::Sink(e) | JobError::SideOutput { source: e, .. } => e.failure_kind(),
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
