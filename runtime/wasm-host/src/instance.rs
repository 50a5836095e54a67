use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::{Store, Trap};
use wasmtime_wasi::{HostWallClock, WasiCtxBuilder};

use crate::bindings::aggregate::exports::weir::operator::aggregate::{
    AggregateContext, AggregateInfo,
};
use crate::bindings::aggregate::AggregateFunction;
use crate::bindings::exports::weir::operator::handler::{OpenContext, OpenResult};
use crate::bindings::weir::operator::timers::Timer;
use crate::bindings::weir::operator::types::OperatorError;
use crate::bindings::Operator;
use crate::engine::{Module, World};
use crate::error::CallError;
use crate::guest_output::{GuestOutput, LogBudget, Stream};
use crate::store::{MemoryLimiter, StoreState};
use weir_types::{InstanceLimits, UserMetric};

/// What an instance may reach beyond Weir's own imports. Everything is denied
/// unless granted: there is never a filesystem, network or environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether the WASI wall clock shows the real time. Without it the guest
    /// reads the Unix epoch; processing time is available through the
    /// `timers` import either way.
    pub wall_clock: bool,
}

/// A wall clock stuck at the Unix epoch, for guests not granted the time.
struct EpochClock;

impl HostWallClock for EpochClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl Module {
    /// Creates one sandboxed operator instance; `operator` names it in logs
    /// and errors.
    pub fn instantiate(
        &self,
        operator: &str,
        limits: InstanceLimits,
        capabilities: Capabilities,
    ) -> Result<OperatorInstance, CallError> {
        match &self.world {
            World::Operator(pre) => self.sandbox(operator, limits, capabilities, |store| {
                pre.instantiate(store)
            }),
            World::Aggregate(_) => Err(CallError::Instantiate {
                operator: operator.to_string(),
                detail: "the module is an aggregate function (world aggregate-function), \
                         not an operator; a window's aggregates take it"
                    .into(),
            }),
        }
    }

    /// Creates one sandboxed instance of an aggregate function; `operator`
    /// (the window's name) names it in logs and errors.
    pub fn instantiate_aggregate(
        &self,
        operator: &str,
        limits: InstanceLimits,
    ) -> Result<AggregateInstance, CallError> {
        match &self.world {
            World::Aggregate(pre) => {
                self.sandbox(operator, limits, Capabilities::default(), |store| {
                    pre.instantiate(store)
                })
            }
            World::Operator(_) => Err(CallError::Instantiate {
                operator: operator.to_string(),
                detail: "the module is an operator (world operator), not an aggregate \
                         function (world aggregate-function)"
                    .into(),
            }),
        }
    }

    fn sandbox<B>(
        &self,
        operator: &str,
        limits: InstanceLimits,
        capabilities: Capabilities,
        instantiate: impl FnOnce(&mut Store<StoreState>) -> wasmtime::Result<B>,
    ) -> Result<Sandbox<B>, CallError> {
        let name: Arc<str> = Arc::from(operator);
        if limits.memory_bytes > self.max_memory {
            return Err(CallError::Instantiate {
                operator: operator.to_string(),
                detail: format!(
                    "its memory limit of {} bytes exceeds the engine's maximum of {} bytes",
                    limits.memory_bytes, self.max_memory
                ),
            });
        }
        let budget = Arc::new(Mutex::new(LogBudget::new(self.log_limits)));
        let stdout = GuestOutput::new(name.clone(), Stream::Stdout, budget.clone());
        let stderr = GuestOutput::new(name.clone(), Stream::Stderr, budget.clone());
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if !capabilities.wall_clock {
            wasi.wall_clock(EpochClock);
        }
        let memory = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        let state = StoreState::new(
            name.clone(),
            wasi.build(),
            MemoryLimiter::new(memory),
            stdout,
            stderr,
            budget,
        );
        let engine = match &self.world {
            World::Operator(pre) => pre.engine(),
            World::Aggregate(pre) => pre.engine(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        let deadline_ticks = deadline_ticks(limits.call_timeout, self.epoch_tick);
        store.set_epoch_deadline(deadline_ticks);
        let bindings = match instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(e) => {
                return Err(classify(&mut store, &name, "instantiate", limits, e));
            }
        };
        Ok(Sandbox {
            store,
            bindings,
            operator: name,
            limits,
            deadline_ticks,
            poisoned: false,
        })
    }
}

fn deadline_ticks(timeout: Duration, tick: Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    // One tick more than the timeout needs: the first tick may come at once.
    u64::try_from(timeout.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// Turns a wasmtime failure into the error a user can act on.
fn classify(
    store: &mut Store<StoreState>,
    operator: &str,
    call: &'static str,
    limits: InstanceLimits,
    error: wasmtime::Error,
) -> CallError {
    let state = store.data_mut();
    state.stdout.flush_partial();
    state.stderr.flush_partial();
    if let Some(requested) = state.limiter.exceeded.take() {
        return CallError::MemoryLimitExceeded {
            operator: operator.to_string(),
            call,
            limit: limits.memory_bytes,
            requested: requested as u64,
        };
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return CallError::DeadlineExceeded {
            operator: operator.to_string(),
            call,
            deadline_ms: u64::try_from(limits.call_timeout.as_millis()).unwrap_or(u64::MAX),
        };
    }
    if call == "instantiate" && error.downcast_ref::<Trap>().is_none() {
        return CallError::Instantiate {
            operator: operator.to_string(),
            detail: format!("{error:#}"),
        };
    }
    // The trap's own message says what happened; wasmtime's context adds a
    // backtrace that is mostly unnamed frames in release guests, so it goes to
    // the debug log instead of the error.
    tracing::debug!(operator, call, "guest trapped: {error:?}");
    let trap = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    CallError::Trap {
        operator: operator.to_string(),
        call,
        trap,
        stderr: state.stderr.tail(),
    }
}

/// One sandboxed operator instance. Not shareable between threads at once;
/// it may move between threads between calls.
/// One sandboxed component instance: its store (limits, deadline, logs,
/// metrics) and its bindings `B`.
pub struct Sandbox<B> {
    store: Store<StoreState>,
    bindings: B,
    operator: Arc<str>,
    limits: InstanceLimits,
    deadline_ticks: u64,
    poisoned: bool,
}

/// An instance of an operator component.
pub type OperatorInstance = Sandbox<Operator>;

/// An instance of an aggregate-function component.
pub type AggregateInstance = Sandbox<AggregateFunction>;

impl<B> Sandbox<B> {
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// Linear memory the instance has grown to, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.store.data().limiter.used() as u64
    }

    /// Metrics the operator reported through the `metrics` import.
    pub fn user_metrics(&self) -> &BTreeMap<String, UserMetric> {
        &self.store.data().metrics
    }

    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&B, &mut Store<StoreState>) -> wasmtime::Result<Result<R, OperatorError>>,
    ) -> Result<R, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned {
                operator: self.operator.to_string(),
                call,
            });
        }
        self.store.set_epoch_deadline(self.deadline_ticks);
        let state = self.store.data_mut();
        state.limiter.exceeded = None;
        state.stderr.clear_tail();
        match f(&self.bindings, &mut self.store) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Operator {
                operator: self.operator.to_string(),
                call,
                kind: error.kind,
                message: error.message,
            }),
            Err(error) => {
                // After a trap the component may hold broken invariants; it is
                // never entered again.
                self.poisoned = true;
                Err(classify(
                    &mut self.store,
                    &self.operator,
                    call,
                    self.limits,
                    error,
                ))
            }
        }
    }
}

impl Sandbox<AggregateFunction> {
    pub fn open(&mut self, context: &AggregateContext) -> Result<AggregateInfo, CallError> {
        self.call("open", |b, s| {
            b.weir_operator_aggregate().call_open(s, context)
        })
    }

    pub fn init(&mut self) -> Result<Vec<u8>, CallError> {
        self.call("init", |b, s| b.weir_operator_aggregate().call_init(s))
    }

    // The generated bindings take `&Vec<u8>` for a batch.
    #[allow(clippy::ptr_arg)]
    pub fn accumulate(
        &mut self,
        accumulators: &[Vec<u8>],
        input: &Vec<u8>,
        targets: &[u32],
    ) -> Result<Vec<Vec<u8>>, CallError> {
        self.call("accumulate", |b, s| {
            b.weir_operator_aggregate()
                .call_accumulate(s, accumulators, input, targets)
        })
    }

    pub fn merge(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Vec<u8>>, CallError> {
        self.call("merge", |b, s| {
            b.weir_operator_aggregate().call_merge(s, pairs)
        })
    }

    pub fn finish(&mut self, accumulators: &[Vec<u8>]) -> Result<Vec<u8>, CallError> {
        self.call("finish", |b, s| {
            b.weir_operator_aggregate().call_finish(s, accumulators)
        })
    }
}

impl Sandbox<Operator> {
    /// Gives the instance its subtask's keyed state, before `open`. An
    /// instance without it answers every state call `unavailable`.
    pub fn attach_keyed_state(&mut self, state: weir_state::SharedKeyedState) {
        self.store.data_mut().keyed_state = Some(state);
    }

    pub fn open(&mut self, context: &OpenContext) -> Result<OpenResult, CallError> {
        self.call("open", |b, s| {
            b.weir_operator_handler().call_open(s, context)
        })
    }

    // The generated bindings take `&Vec<u8>`; batches are built as vectors,
    // so this costs no copy.
    #[allow(clippy::ptr_arg)]
    pub fn process(&mut self, batch: &Vec<u8>) -> Result<Vec<Vec<u8>>, CallError> {
        self.call("process", |b, s| {
            b.weir_operator_handler().call_process(s, batch)
        })
    }

    /// What `current-watermark` answers until the next `on_watermark`: a
    /// replacement instance carries on from its predecessor's.
    pub fn set_current_watermark(&mut self, watermark: Option<i64>) {
        self.store.data_mut().watermark = watermark;
    }

    pub fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Vec<u8>>, CallError> {
        self.store.data_mut().watermark = Some(watermark);
        self.call("on-watermark", |b, s| {
            b.weir_operator_handler().call_on_watermark(s, watermark)
        })
    }

    pub fn on_timer(&mut self, fired: &[Timer]) -> Result<Vec<Vec<u8>>, CallError> {
        self.call("on-timer", |b, s| {
            b.weir_operator_handler().call_on_timer(s, fired)
        })
    }

    pub fn close(&mut self) -> Result<Vec<Vec<u8>>, CallError> {
        self.call("close", |b, s| b.weir_operator_handler().call_close(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_covers_the_whole_timeout() {
        assert_eq!(
            deadline_ticks(Duration::from_millis(100), Duration::from_millis(10)),
            11
        );
        assert_eq!(
            deadline_ticks(Duration::from_millis(5), Duration::from_millis(10)),
            2
        );
        assert_eq!(deadline_ticks(Duration::ZERO, Duration::from_millis(10)), 1);
    }
}
