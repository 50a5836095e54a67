//! Runs Weir jobs in this process: sources, chains of operators over Arrow
//! record batches, exchanges between vertices, sinks. A TaskManager runs
//! the tasks deployed to it with it; `prepare` runs a whole job in-process.
//! Operators that run user code come through [`UserOperators`]: the executor
//! itself knows no sandbox (`weir-wasm-operator` runs WASM components).

mod builtins;
mod checkpoint;
mod exchange;
mod gate;
mod ipc;
mod job;
mod metrics;
mod operator;
mod paths;
mod rows;
mod schema;
mod sink;
mod source;
mod task;
mod time;
mod user;

pub use checkpoint::{
    Barrier, Control, RestoreError, SnapshotStore, TaskCheckpoints, TaskSnapshot,
};
pub use exchange::{Message, Outbox, SendError};
pub use gate::{gate, GateReceiver, GateSender, RecvError, SendFuture};
pub use job::{JobError, JobSummary, OperatorSummary, RunDefaults, CHANNEL_CAPACITY};
pub use metrics::{merge_user_metrics, JobMetrics, OperatorMetrics, TaskMetrics};
pub use operator::{GuestFailure, InstanceStats, OpenInfo, Operator, OperatorError, SideRecords};
pub use paths::{PathError, PathPolicy};
pub use schema::SchemaError;
pub use sink::{EncodeError, SinkError};
pub use source::{GeneratorSource, Source, SourceError, DEFAULT_MAX_LINE_BYTES};
pub use task::{source_schema, InputGate, OperatorReports, Task, TaskSetup};
pub use time::{InputWatermarks, WatermarkGenerator, MAX_WATERMARK};
pub use user::{NoUserOperators, UserAggregate, UserAggregates, UserOperatorSetup, UserOperators};
pub use weir_types::{key_group, key_hash, subtask_of, KeyGroupRange};

/// Row-encoding and Arrow IPC conversions, for benchmarks and tests of
/// operators outside a job.
pub mod codec {
    pub use crate::ipc::{encode as encode_ipc, Decoder as IpcDecoder, IpcError};
    pub use crate::rows::{decode as decode_rows, encode as encode_rows, RowsError};
}
