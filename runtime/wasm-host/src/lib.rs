//! The one crate that talks to wasmtime. It turns component bytes into
//! sandboxed operator instances and narrows everything else away:
//!
//! - [`WasmHost`] owns the engine (component model, pooling allocator, epoch
//!   interruption), the linker with Weir's imports and a deny-by-default WASI,
//!   and a compile cache keyed by the component's sha256 (in memory, and on
//!   disk when a cache directory is configured).
//! - [`Module`] is a compiled, type-checked operator component: instantiating
//!   it goes through wasmtime's `InstancePre`, so no linking happens per
//!   instance.
//! - [`OperatorInstance`] is one sandboxed instance with its own deadline per
//!   call, memory limit and capped stack. Every failure comes back as a
//!   [`CallError`] naming the operator, the call and the cause.

mod bindings;
mod engine;
mod error;
mod guest_output;
mod instance;
mod store;

pub use bindings::aggregate::exports::weir::operator::aggregate::{
    AggregateContext, AggregateInfo,
};
pub use bindings::exports::weir::operator::handler::{OpenContext, OpenResult};
pub use bindings::weir::operator::timers::{TimeDomain, Timer};
pub use bindings::weir::operator::types::{
    DataType, Encoding, ErrorKind, Field, OperatorError, Schema,
};
pub use engine::{EngineConfig, Module, WasmHost};
pub use error::{CallError, LoadError};
pub use guest_output::{LogLimits, DEFAULT_LOG_BYTES_PER_SECOND, DEFAULT_LOG_LINES_PER_SECOND};
pub use instance::{AggregateInstance, Capabilities, OperatorInstance, Sandbox};
// Defined with the shared vocabulary, so crates that only pass them on need
// no wasmtime.
pub use weir_types::{InstanceLimits, UserMetric};

/// The contract version this host implements.
pub const CONTRACT: &str = "weir:operator@0.1.0";
