//! What the runtime knows of a sandboxed operator instance without knowing
//! the sandbox: the limits it runs under and the metrics it reports. The
//! WASM host enforces and fills them; the executor and the TaskManager pass
//! them on.

use std::time::Duration;

/// The limits of one operator instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceLimits {
    /// Linear memory of the instance, all memories together.
    pub memory_bytes: u64,
    /// Wall time one call (open, process, ...) may take before it is stopped.
    pub call_timeout: Duration,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(10),
        }
    }
}

/// A metric an operator reported through the `metrics` import.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserMetric {
    Counter(u64),
    Gauge(f64),
}
