//! Runs Weir jobs in this process: sources, chains of operators over Arrow
//! record batches, exchanges between stages, sinks. `weir run` uses it; so
//! will a TaskManager for the tasks deployed to it.

mod builtins;
mod exchange;
mod ipc;
mod job;
mod metrics;
mod operator;
mod rows;
mod schema;
mod sink;
mod source;
mod wasm;

pub use exchange::{key_group, key_hash, subtask_of};
pub use job::{prepare, JobError, JobSummary, OperatorSummary, PreparedJob, RunDefaults};
pub use metrics::{JobMetrics, OperatorMetrics};
pub use operator::{InstanceStats, OpenInfo, Operator, OperatorError};
pub use source::{GeneratorSource, Source};
pub use wasm::WasmOperator;

/// Row-encoding and Arrow IPC conversions, for benchmarks and tests of
/// operators outside a job.
pub mod codec {
    pub use crate::ipc::{encode as encode_ipc, Decoder as IpcDecoder};
    pub use crate::rows::{decode as decode_rows, encode as encode_rows};
}
