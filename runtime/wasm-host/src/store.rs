//! What one operator instance's store holds, and the host side of Weir's
//! imports: log, metrics, keyed state and timers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::weir::operator::keyed_state::{
    self, HostListState, HostMapState, HostValueState, ListState, MapState, ValueState,
};
use crate::bindings::weir::operator::log::{self, Level};
use crate::bindings::weir::operator::types::{self, HostError};
use crate::bindings::weir::operator::{metrics, timers};
use crate::guest_output::{Admission, GuestOutput, LogBudget};

/// Distinct metric names one instance may create; more are ignored with a
/// warning, so a guest cannot grow host memory through metric names.
const MAX_USER_METRICS: usize = 256;
const MAX_METRIC_NAME_BYTES: usize = 128;

/// A metric an operator reported through the `metrics` import.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserMetric {
    Counter(u64),
    Gauge(f64),
}

/// Caps the linear memory of all memories of one instance together, and
/// remembers whether the cap was hit so a failed call can say so.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    used: usize,
    pub(crate) exceeded: Option<usize>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            used: 0,
            exceeded: None,
        }
    }

    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

/// Table elements one instance may have; tables are small in practice.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used.saturating_add(desired.saturating_sub(current));
        if total > self.limit {
            self.exceeded = Some(total);
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

pub(crate) struct StoreState {
    pub(crate) operator: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stdout: GuestOutput,
    pub(crate) stderr: GuestOutput,
    budget: Arc<Mutex<LogBudget>>,
    pub(crate) metrics: BTreeMap<String, UserMetric>,
    pub(crate) watermark: Option<i64>,
}

impl StoreState {
    pub(crate) fn new(
        operator: Arc<str>,
        wasi: WasiCtx,
        limiter: MemoryLimiter,
        stdout: GuestOutput,
        stderr: GuestOutput,
        budget: Arc<Mutex<LogBudget>>,
    ) -> Self {
        StoreState {
            operator,
            wasi,
            table: ResourceTable::new(),
            limiter,
            stdout,
            stderr,
            budget,
            metrics: BTreeMap::new(),
            watermark: None,
        }
    }

    fn metric_slot(&mut self, name: String) -> Option<&mut UserMetric> {
        if !self.metrics.contains_key(&name) {
            let valid = !name.is_empty()
                && name.len() <= MAX_METRIC_NAME_BYTES
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                && !name.as_bytes()[0].is_ascii_digit();
            if !valid || self.metrics.len() >= MAX_USER_METRICS {
                tracing::warn!(
                    target: "weir::guest",
                    operator = %self.operator,
                    metric = %name.chars().take(MAX_METRIC_NAME_BYTES).collect::<String>(),
                    "metric ignored: names are [a-zA-Z_:][a-zA-Z0-9_:]* up to {MAX_METRIC_NAME_BYTES} bytes, at most {MAX_USER_METRICS} per operator"
                );
                return None;
            }
        }
        Some(self.metrics.entry(name).or_insert(UserMetric::Counter(0)))
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for StoreState {}

impl log::Host for StoreState {
    fn log(&mut self, level: Level, message: String) {
        let admission = self
            .budget
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .admit();
        let Admission::Logged { suppressed } = admission else {
            return;
        };
        let operator = &self.operator;
        if suppressed > 0 {
            tracing::warn!(target: "weir::guest", operator = %operator, suppressed, "guest output over budget: lines dropped");
        }
        match level {
            Level::Trace => {
                tracing::trace!(target: "weir::guest", operator = %operator, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "weir::guest", operator = %operator, "{message}")
            }
            Level::Info => tracing::info!(target: "weir::guest", operator = %operator, "{message}"),
            Level::Warn => tracing::warn!(target: "weir::guest", operator = %operator, "{message}"),
            Level::Error => {
                tracing::error!(target: "weir::guest", operator = %operator, "{message}")
            }
        }
    }

    fn enabled(&mut self, level: Level) -> bool {
        match level {
            Level::Trace => tracing::enabled!(target: "weir::guest", tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(target: "weir::guest", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "weir::guest", tracing::Level::INFO),
            Level::Warn => tracing::enabled!(target: "weir::guest", tracing::Level::WARN),
            Level::Error => tracing::enabled!(target: "weir::guest", tracing::Level::ERROR),
        }
    }
}

impl metrics::Host for StoreState {
    fn counter_add(&mut self, name: String, delta: u64) {
        if let Some(slot) = self.metric_slot(name) {
            *slot = match *slot {
                UserMetric::Counter(n) => UserMetric::Counter(n.saturating_add(delta)),
                // A name first used as a gauge stays a gauge.
                gauge @ UserMetric::Gauge(_) => gauge,
            };
        }
    }

    fn gauge_set(&mut self, name: String, value: f64) {
        if let Some(slot) = self.metric_slot(name) {
            *slot = UserMetric::Gauge(value);
        }
    }
}

fn state_unavailable() -> HostError {
    HostError::Unavailable(
        "keyed state is not available to WASM operators in this version of Weir".to_string(),
    )
}

fn timers_unavailable() -> HostError {
    HostError::Unavailable(
        "timers are not available to WASM operators in this version of Weir".to_string(),
    )
}

// Keyed state and timers are part of the contract from its first version so
// that operators compile against the final shapes; until the runtime owns
// checkpointed state, every call answers `unavailable` and no resource is
// ever handed out.
impl keyed_state::Host for StoreState {}

impl HostValueState for StoreState {
    fn open(&mut self, _name: String) -> Result<Resource<ValueState>, HostError> {
        Err(state_unavailable())
    }

    fn get(
        &mut self,
        _state: Resource<ValueState>,
        _keys: Vec<Vec<u8>>,
    ) -> Result<Vec<Option<Vec<u8>>>, HostError> {
        Err(state_unavailable())
    }

    fn put(
        &mut self,
        _state: Resource<ValueState>,
        _entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), HostError> {
        Err(state_unavailable())
    }

    fn drop(&mut self, _state: Resource<ValueState>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostMapState for StoreState {
    fn open(&mut self, _name: String) -> Result<Resource<MapState>, HostError> {
        Err(state_unavailable())
    }

    fn get(
        &mut self,
        _state: Resource<MapState>,
        _lookups: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Option<Vec<u8>>>, HostError> {
        Err(state_unavailable())
    }

    fn put(
        &mut self,
        _state: Resource<MapState>,
        _entries: Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), HostError> {
        Err(state_unavailable())
    }

    fn entries(
        &mut self,
        _state: Resource<MapState>,
        _key: Vec<u8>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, HostError> {
        Err(state_unavailable())
    }

    fn clear(&mut self, _state: Resource<MapState>, _keys: Vec<Vec<u8>>) -> Result<(), HostError> {
        Err(state_unavailable())
    }

    fn drop(&mut self, _state: Resource<MapState>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostListState for StoreState {
    fn open(&mut self, _name: String) -> Result<Resource<ListState>, HostError> {
        Err(state_unavailable())
    }

    fn get(
        &mut self,
        _state: Resource<ListState>,
        _keys: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<Vec<u8>>>, HostError> {
        Err(state_unavailable())
    }

    fn append(
        &mut self,
        _state: Resource<ListState>,
        _entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), HostError> {
        Err(state_unavailable())
    }

    fn clear(&mut self, _state: Resource<ListState>, _keys: Vec<Vec<u8>>) -> Result<(), HostError> {
        Err(state_unavailable())
    }

    fn drop(&mut self, _state: Resource<ListState>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl timers::Host for StoreState {
    fn register(&mut self, _timers: Vec<timers::Timer>) -> Result<(), HostError> {
        Err(timers_unavailable())
    }

    fn delete(&mut self, _timers: Vec<timers::Timer>) -> Result<(), HostError> {
        Err(timers_unavailable())
    }

    fn current_watermark(&mut self) -> Option<i64> {
        self.watermark
    }

    fn current_processing_time(&mut self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_all_memories_together() {
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(!limiter.memory_growing(0, 50, None).unwrap());
        assert_eq!(limiter.exceeded, Some(110));
        assert!(limiter.memory_growing(60, 100, None).unwrap());
        assert_eq!(limiter.used(), 100);
    }
}
