//! The operator trait that native built-ins and WASM components share.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use weir_types::{Classify, FailureKind, UserMetric};

/// A failure inside user code, as the sandbox that runs it describes it (the
/// WASM host's errors name the operator, the call and the cause).
pub trait GuestFailure: std::error::Error + Classify + Send + Sync + 'static {}

impl<E: std::error::Error + Classify + Send + Sync + 'static> GuestFailure for E {}

/// Why an operator failed. Every variant names the operator.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Guest(Box<dyn GuestFailure>),
    #[error("operator '{operator}' returned a malformed batch from {call}: {detail}")]
    Malformed {
        operator: String,
        call: &'static str,
        detail: String,
    },
    #[error("operator '{operator}' has an invalid configuration: {message}")]
    InvalidConfig { operator: String, message: String },
    #[error("operator '{operator}' failed: {message}")]
    Failed { operator: String, message: String },
}

impl OperatorError {
    /// `failure` of user code, kept whole (its kind decides restarts).
    pub fn guest(failure: impl GuestFailure) -> Self {
        OperatorError::Guest(Box::new(failure))
    }
}

impl Classify for OperatorError {
    fn failure_kind(&self) -> FailureKind {
        match self {
            OperatorError::Guest(e) => e.failure_kind(),
            OperatorError::InvalidConfig { .. } => FailureKind::Configuration,
            _ => FailureKind::Transient,
        }
    }
}

/// What an operator instance learns about its place in the job when it opens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenInfo {
    /// The columns the input is partitioned by (empty when not keyed).
    pub key_fields: Vec<String>,
    pub subtask_index: u32,
    pub parallelism: u32,
    /// Key groups of the job: keyed state is organised by them.
    pub max_parallelism: u32,
    /// The job's event-time column (`eventTime.column`), if it has one.
    pub event_time_column: Option<String>,
    /// Restarts of the task so far.
    pub attempt: u32,
    /// Whether the job takes checkpoints.
    pub checkpointing: bool,
    /// The side outputs the task writes somewhere, by tag
    /// (`weir_types::LATE_RECORDS`): records for any other are the
    /// operator's to drop (and count).
    pub side_outputs: Vec<&'static str>,
}

/// Records an operator set aside for one of its side outputs.
#[derive(Debug, Clone)]
pub struct SideRecords {
    pub tag: &'static str,
    pub batch: RecordBatch,
}

/// How a WASM operator's instances fared, for the summary and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Instances replaced because their memory neared the limit.
    pub recycles: u64,
    /// The most linear memory one instance reached, in bytes.
    pub peak_memory_bytes: u64,
}

impl InstanceStats {
    /// Subtasks' stats together: recycles add up, the peak is the highest.
    pub fn merge(self, other: InstanceStats) -> InstanceStats {
        InstanceStats {
            recycles: self.recycles + other.recycles,
            peak_memory_bytes: self.peak_memory_bytes.max(other.peak_memory_bytes),
        }
    }
}

/// One operator instance in a task's chain. Calls never overlap.
pub trait Operator: Send {
    fn name(&self) -> &str;

    /// Prepares for `input` and returns the schema of everything emitted.
    fn open(&mut self, input: SchemaRef, info: &OpenInfo) -> Result<SchemaRef, OperatorError>;

    /// Processes one batch, appending what it produces to `out`.
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError>;

    /// The watermark advanced.
    fn on_watermark(
        &mut self,
        _watermark: i64,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The TaskManager's clock reached `now` (milliseconds since the epoch):
    /// processing-time timers that are due fire. Called every few
    /// milliseconds while the task runs.
    fn on_processing_time(
        &mut self,
        _now: i64,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The operator's state for a checkpoint (a copy: the operator goes on
    /// at once). Operators without state return nothing.
    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Vec<u8>, OperatorError> {
        Ok(Vec::new())
    }

    /// Takes what the operator set aside for its side outputs since the
    /// last call. The task calls it after each call that may produce some,
    /// for operators it gave side outputs (`OpenInfo::side_outputs`), and
    /// writes the records where the job says, with its checkpoints: the
    /// operator itself never writes outside the stream.
    fn take_side_output(&mut self) -> Vec<SideRecords> {
        Vec::new()
    }

    /// Takes back what `snapshot_state` returned, after `open` and before
    /// any record.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), OperatorError> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(OperatorError::Failed {
                operator: self.name().to_string(),
                message: "the checkpoint holds state for it, but it keeps none".into(),
            })
        }
    }

    /// The input ended; emits what the operator still holds.
    fn close(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError>;

    /// Metrics the operator reports beyond records in and out.
    fn user_metrics(&self) -> Vec<(String, UserMetric)> {
        Vec::new()
    }

    /// Instance statistics; native operators have none.
    fn instance_stats(&self) -> InstanceStats {
        InstanceStats::default()
    }
}
