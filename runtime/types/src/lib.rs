//! Weir's shared vocabulary: the job spec and its validation, resource
//! quantities, module references, the job graph and restart strategies. No IO: callers read files and pass text.

mod builtins;
mod digest;
mod failure;
pub mod fault;
mod graph;
mod instance;
mod job_state;
mod keys;
mod limits;
mod locked;
mod module_ref;
mod quantity;
mod restart;
mod schema;
mod spec;
mod validate;

pub use builtins::{
    AggregateFunction, BuiltinConfig, BuiltinConfigError, CountConfig, CountEmit, LateRecords,
    SideOutputSpec, WindowAggregate, WindowAssigner, WindowConfig, LATE_RECORDS,
};
pub use digest::{BadDigest, Digest};
pub use failure::{Classify, FailureKind};
pub use graph::{JobGraph, Partitioning, Vertex};
pub use instance::{InstanceLimits, UserMetric};
pub use job_state::{JobState, UnknownJobState};
pub use keys::{key_group, key_hash, subtask_of, KeyGroupRange};
pub use limits::{
    SpecLimitError, SpecLimits, DEFAULT_MAX_MODULE_BYTES, DEFAULT_MAX_SPEC_BYTES,
    DEFAULT_MAX_SPEC_DEPTH,
};
pub use locked::{LockError, LockedJob, LockedJobWireError, PinnedModule};
pub use module_ref::{ModuleRef, ModuleRefError};
pub use quantity::{format_bytes, parse_bytes, parse_duration, QuantityError};
pub use restart::{RestartHistory, RestartStrategy};
pub use spec::*;

/// The sha256 of `bytes` as `sha256:<hex>`: the one form digests of modules,
/// snapshots and artifacts take everywhere in Weir.
pub fn sha256_digest(bytes: &[u8]) -> String {
    Digest::of(bytes).to_string()
}
