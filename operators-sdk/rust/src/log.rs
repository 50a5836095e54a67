//! Logging into the runtime's logs, attributed to the operator instance.
//!
//! The runtime rate-limits what an instance may log, so log per batch or on
//! rare events rather than per record; check [`enabled`] before formatting an
//! expensive message. Outside a Weir runtime (native unit tests) messages go
//! to stderr.

use crate::sys::log as host;

/// Severity of a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn to_wit(self) -> host::Level {
        match self {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        }
    }
}

/// Writes one log event.
pub fn log(level: Level, message: &str) {
    host::log(level.to_wit(), message);
}

/// Whether an event of `level` would be kept, so that a message nobody reads
/// need not be formatted.
pub fn enabled(level: Level) -> bool {
    host::enabled(level.to_wit())
}

pub fn trace(message: &str) {
    log(Level::Trace, message);
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}
