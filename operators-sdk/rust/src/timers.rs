//! Time, owned by the runtime: register timers per key; they fire through
//! [`Operator::on_timer`](crate::Operator::on_timer) and are part of
//! checkpointed state.
//!
//! Outside a Weir runtime (native unit tests) registering fails with a `host`
//! error, there is no watermark, and processing time is the system clock.

pub use crate::__private::{TimeDomain, Timer};
use crate::state::host_error;
use crate::sys::timers as host;
use crate::Error;

impl Timer {
    /// A timer for `key` (see [`state::key_of`](crate::state::key_of)) at
    /// `timestamp` milliseconds since the Unix epoch.
    pub fn new(key: Vec<u8>, timestamp: i64, domain: TimeDomain) -> Self {
        Timer {
            key,
            timestamp,
            domain,
        }
    }
}

/// Registers timers; registering the same (key, timestamp, domain) twice
/// keeps one.
pub fn register(timers: &[Timer]) -> Result<(), Error> {
    host::register(timers).map_err(|e| host_error("registering timers", e))
}

/// Deletes timers registered earlier.
pub fn delete(timers: &[Timer]) -> Result<(), Error> {
    host::delete(timers).map_err(|e| host_error("deleting timers", e))
}

/// The operator's current watermark, if one has arrived.
pub fn current_watermark() -> Option<i64> {
    host::current_watermark()
}

/// The runtime's clock, in milliseconds since the Unix epoch. Unlike the WASI
/// wall clock, which reads 0 unless the job grants it, this is always
/// available: processing time is part of the contract.
pub fn current_processing_time() -> i64 {
    host::current_processing_time()
}
