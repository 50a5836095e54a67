//! User metrics, exported by the runtime next to its own (Prometheus names
//! are prefixed with the job and operator).
//!
//! Each call crosses into the host: call them per batch, not per record.
//! Outside a Weir runtime (native unit tests) they do nothing.

use crate::sys::metrics as host;

/// Adds `delta` to the monotonic counter `name`, created on first use.
pub fn counter_add(name: &str, delta: u64) {
    host::counter_add(name, delta);
}

/// Sets the gauge `name` to `value`, created on first use.
pub fn gauge_set(name: &str, value: f64) {
    host::gauge_set(name, value);
}
