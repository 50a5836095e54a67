use std::path::PathBuf;

use weir_types::{Classify, FailureKind};

use crate::ErrorKind;

/// Why a module could not be loaded. Every variant names the module.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read module '{module}' at {path}: {source}")]
    Io {
        module: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("module '{module}' is not a WebAssembly file (it starts with {head})")]
    NotWasm { module: String, head: String },
    #[error(
        "module '{module}' is a core WebAssembly module, not a component: build it for \
         wasm32-wasip2 (Rust), or wrap it with `wasm-tools component new`"
    )]
    NotAComponent { module: String },
    #[error("module '{module}' is not a valid component: {detail}")]
    Invalid { module: String, detail: String },
    #[error(
        "module '{module}' is a component of the wrong world: {detail} (a Weir operator \
         exports `weir:operator/handler@0.1.0`; build it against operators-sdk/wit)"
    )]
    WrongWorld { module: String, detail: String },
    #[error("module '{module}' has sha256 {actual}, but the job expects {expected}")]
    DigestMismatch {
        module: String,
        expected: String,
        actual: String,
    },
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
}

/// Why a call into an operator instance failed. Every variant names the
/// operator and the call (`open`, `process`, ...).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(
        "operator '{operator}' exceeded its deadline of {deadline_ms} ms in {call} and was stopped"
    )]
    DeadlineExceeded {
        operator: String,
        call: &'static str,
        deadline_ms: u64,
    },
    #[error(
        "operator '{operator}' exceeded its memory limit of {limit} bytes in {call} \
         (it asked for {requested} bytes)"
    )]
    MemoryLimitExceeded {
        operator: String,
        call: &'static str,
        limit: u64,
        requested: u64,
    },
    #[error("operator '{operator}' trapped in {call}: {trap}{}", guest_stderr(.stderr))]
    Trap {
        operator: String,
        call: &'static str,
        trap: String,
        /// The last lines the guest wrote to stderr (a panic message, often).
        stderr: String,
    },
    #[error("operator '{operator}' failed in {call}: {} error: {message}", kind_name(*.kind))]
    Operator {
        operator: String,
        call: &'static str,
        kind: ErrorKind,
        message: String,
    },
    #[error("operator '{operator}' cannot be instantiated: {detail}")]
    Instantiate { operator: String, detail: String },
    #[error("operator '{operator}' cannot take {call}: it failed earlier and must be re-created")]
    Poisoned {
        operator: String,
        call: &'static str,
    },
}

impl Classify for CallError {
    /// A configuration the operator refused fails the same way again; a
    /// trap, deadline or memory limit may not recur.
    fn failure_kind(&self) -> FailureKind {
        match self {
            CallError::Operator {
                kind: ErrorKind::InvalidConfig,
                ..
            } => FailureKind::Configuration,
            _ => FailureKind::Transient,
        }
    }
}

/// The guest's last stderr lines on one line, without the Rust runtime's
/// advice about `RUST_BACKTRACE`, which a sandboxed guest cannot follow.
fn guest_stderr(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("; guest stderr: {}", lines.join(" | "))
    }
}

pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidConfig => "invalid-config",
        ErrorKind::InvalidInput => "invalid-input",
        ErrorKind::Host => "host",
        ErrorKind::Internal => "internal",
    }
}
