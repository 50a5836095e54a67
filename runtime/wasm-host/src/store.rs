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
use weir_state::{SharedKeyedState, StateError, StateId, StateKind};
use weir_types::UserMetric;

use crate::guest_output::{cut, report_dropped, GuestOutput, LogBudget};

/// Distinct metric names one instance may create; more are ignored with a
/// warning, so a guest cannot grow host memory through metric names.
const MAX_USER_METRICS: usize = 256;
const MAX_METRIC_NAME_BYTES: usize = 128;

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
    /// The subtask's keyed state; `None` when the input is not keyed.
    pub(crate) keyed_state: Option<SharedKeyedState>,
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
            keyed_state: None,
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
            .admit(message.len());
        let operator = &self.operator;
        if let Some(dropped) = admission.report {
            report_dropped(operator, dropped);
        }
        let Some(keep) = admission.keep else {
            return;
        };
        let message = cut(&message, keep);
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

fn state_error(error: StateError) -> HostError {
    if error.is_limit() {
        HostError::LimitExceeded(error.to_string())
    } else {
        HostError::InvalidArgument(error.to_string())
    }
}

impl StoreState {
    /// Runs `f` on the subtask's keyed state, or says why there is none.
    fn with_state<R>(
        &mut self,
        f: impl FnOnce(&mut weir_state::KeyedState) -> Result<R, StateError>,
    ) -> Result<R, HostError> {
        let Some(shared) = &self.keyed_state else {
            return Err(HostError::Unavailable(format!(
                "keyed state and timers need a keyed input: give operator '{}' a keyBy in the \
                 job spec",
                self.operator
            )));
        };
        let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state).map_err(state_error)
    }

    fn open_state(&mut self, name: &str, kind: StateKind) -> Result<u32, HostError> {
        self.with_state(|state| state.open(name, kind))
            .map(|id| id.0)
    }
}

// A state resource's representation is its `StateId`: the guest only ever
// holds handles the host minted, each of one resource type, so a value-state
// handle always names a value state.
impl keyed_state::Host for StoreState {}

impl HostValueState for StoreState {
    fn open(&mut self, name: String) -> Result<Resource<ValueState>, HostError> {
        self.open_state(&name, StateKind::Value)
            .map(Resource::new_own)
    }

    fn get(
        &mut self,
        state: Resource<ValueState>,
        keys: Vec<Vec<u8>>,
    ) -> Result<Vec<Option<Vec<u8>>>, HostError> {
        self.with_state(|s| s.value_get(StateId(state.rep()), &keys))
    }

    fn put(
        &mut self,
        state: Resource<ValueState>,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), HostError> {
        self.with_state(|s| s.value_put(StateId(state.rep()), entries))
    }

    fn drop(&mut self, _state: Resource<ValueState>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostMapState for StoreState {
    fn open(&mut self, name: String) -> Result<Resource<MapState>, HostError> {
        self.open_state(&name, StateKind::Map)
            .map(Resource::new_own)
    }

    fn get(
        &mut self,
        state: Resource<MapState>,
        lookups: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Option<Vec<u8>>>, HostError> {
        self.with_state(|s| s.map_get(StateId(state.rep()), &lookups))
    }

    fn put(
        &mut self,
        state: Resource<MapState>,
        entries: Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), HostError> {
        self.with_state(|s| s.map_put(StateId(state.rep()), entries))
    }

    fn entries(
        &mut self,
        state: Resource<MapState>,
        key: Vec<u8>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, HostError> {
        self.with_state(|s| s.map_entries(StateId(state.rep()), &key))
    }

    fn clear(&mut self, state: Resource<MapState>, keys: Vec<Vec<u8>>) -> Result<(), HostError> {
        self.with_state(|s| s.map_clear(StateId(state.rep()), &keys))
    }

    fn drop(&mut self, _state: Resource<MapState>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostListState for StoreState {
    fn open(&mut self, name: String) -> Result<Resource<ListState>, HostError> {
        self.open_state(&name, StateKind::List)
            .map(Resource::new_own)
    }

    fn get(
        &mut self,
        state: Resource<ListState>,
        keys: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<Vec<u8>>>, HostError> {
        self.with_state(|s| s.list_get(StateId(state.rep()), &keys))
    }

    fn append(
        &mut self,
        state: Resource<ListState>,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), HostError> {
        self.with_state(|s| s.list_append(StateId(state.rep()), entries))
    }

    fn clear(&mut self, state: Resource<ListState>, keys: Vec<Vec<u8>>) -> Result<(), HostError> {
        self.with_state(|s| s.list_clear(StateId(state.rep()), &keys))
    }

    fn drop(&mut self, _state: Resource<ListState>) -> wasmtime::Result<()> {
        Ok(())
    }
}

fn domain(domain: timers::TimeDomain) -> weir_state::TimeDomain {
    match domain {
        timers::TimeDomain::EventTime => weir_state::TimeDomain::EventTime,
        timers::TimeDomain::ProcessingTime => weir_state::TimeDomain::ProcessingTime,
    }
}

fn timer_entries(list: Vec<timers::Timer>) -> Vec<(Vec<u8>, i64, weir_state::TimeDomain)> {
    list.into_iter()
        .map(|t| (t.key, t.timestamp, domain(t.domain)))
        .collect()
}

impl timers::Host for StoreState {
    fn register(&mut self, list: Vec<timers::Timer>) -> Result<(), HostError> {
        self.with_state(|s| s.register_timers(timer_entries(list)))
    }

    fn delete(&mut self, list: Vec<timers::Timer>) -> Result<(), HostError> {
        self.with_state(|s| s.delete_timers(timer_entries(list)))
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
