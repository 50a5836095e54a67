//! A WASM component behind the [`Operator`] trait: converts Arrow batches to
//! the encoding the guest chose, validates everything it returns, and
//! recycles the instance when its memory nears the limit.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use weir_state::codec::{put_bytes, put_i64, put_u8, Reader};
use weir_state::{KeyedState, SharedKeyedState, StateLimits, TimeDomain};
use weir_wasm_host::{
    Capabilities, InstanceLimits, Module, OpenContext, OperatorInstance, Timer, UserMetric,
};

use weir_executor::{merge_user_metrics, InstanceStats, OpenInfo, Operator, OperatorError};

use crate::codec::GuestCodec;
use crate::guest;
use crate::schema;

/// Share of the headroom above an instance's memory after `open` that it may
/// fill before it is replaced. Some guest runtimes (CPython, for one) grow
/// their heap with every call and never give it back; a fresh instance
/// between two calls costs a millisecond at most, and the contract allows it
/// (an instance may be re-created between calls and is re-opened with the same
/// context), while hitting the limit inside a call would fail the task.
const RECYCLE_NUMERATOR: u64 = 3;
const RECYCLE_DENOMINATOR: u64 = 4;
/// Timers handed to one `on-timer` call.
const TIMERS_PER_CALL: usize = 1024;
/// Rounds of firing one advance of time may take; a guest that registers,
/// round after round, timers that are already due is stopped.
const MAX_TIMER_ROUNDS: usize = 100_000;

pub struct WasmOperator {
    name: String,
    config: String,
    module: Arc<Module>,
    limits: InstanceLimits,
    capabilities: Capabilities,
    instance: OperatorInstance,
    /// How the opened instance's batches are laid out.
    output: Option<GuestCodec>,
    /// What the current instance was opened with; a replacement is opened
    /// with the same.
    context: Option<OpenContext>,
    /// Memory at which the current instance is replaced after a call.
    recycle_at: u64,
    recycles: u64,
    peak_memory: u64,
    /// User metrics of replaced instances: counters carry on from them.
    retired_metrics: BTreeMap<String, UserMetric>,
    /// The subtask's keyed state (keyed input only). It belongs to the
    /// subtask, not to an instance: a replacement instance gets the same.
    keyed_state: Option<SharedKeyedState>,
    state_limits: StateLimits,
    /// The last watermark delivered, for a replacement instance.
    watermark: Option<i64>,
}

impl WasmOperator {
    /// Instantiates `module` for one subtask. `config` is the JSON text the
    /// operator receives at open.
    pub fn new(
        name: &str,
        module: &Arc<Module>,
        limits: InstanceLimits,
        capabilities: Capabilities,
        config: String,
    ) -> Result<Self, OperatorError> {
        let instance = module
            .instantiate(name, limits, capabilities)
            .map_err(guest)?;
        Ok(WasmOperator {
            name: name.to_string(),
            config,
            module: Arc::clone(module),
            limits,
            capabilities,
            instance,
            output: None,
            context: None,
            recycle_at: u64::MAX,
            recycles: 0,
            peak_memory: 0,
            retired_metrics: BTreeMap::new(),
            keyed_state: None,
            state_limits: StateLimits::default(),
            watermark: None,
        })
    }

    /// Limits of the subtask's keyed state.
    pub fn with_state_limits(mut self, limits: StateLimits) -> Self {
        self.state_limits = limits;
        self
    }

    /// Bytes the subtask's keyed state holds.
    pub fn state_bytes(&self) -> u64 {
        self.keyed_state
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).size_bytes())
            .unwrap_or(0)
    }

    fn recycle_threshold(&self) -> u64 {
        let baseline = self.instance.memory_bytes();
        let headroom = self.limits.memory_bytes.saturating_sub(baseline);
        baseline + headroom / RECYCLE_DENOMINATOR * RECYCLE_NUMERATOR
    }

    /// Called after every successful call but `close`, once its output has
    /// been taken: replaces the instance if it grew past its threshold, so no
    /// record is lost or seen twice.
    fn after_call(&mut self) -> Result<(), OperatorError> {
        let used = self.instance.memory_bytes();
        self.peak_memory = self.peak_memory.max(used);
        if used < self.recycle_at {
            return Ok(());
        }
        let Some(context) = self.context.clone() else {
            return Ok(());
        };
        let fresh = self
            .module
            .instantiate(&self.name, self.limits, self.capabilities)
            .map_err(guest)?;
        let retired = std::mem::replace(&mut self.instance, fresh);
        if let Some(state) = &self.keyed_state {
            self.instance.attach_keyed_state(state.clone());
        }
        self.instance.set_current_watermark(self.watermark);
        merge_user_metrics(&mut self.retired_metrics, owned(retired.user_metrics()));
        drop(retired);
        let opened = self.instance.open(&context).map_err(guest)?;
        let same = self.output.as_ref().is_some_and(|output| {
            output.encoding() == opened.encoding
                && schema::from_contract(&opened.output_schema)
                    .is_ok_and(|schema| &schema == output.schema())
        });
        if !same {
            return Err(self.malformed(
                "open",
                "a re-created instance opened with another output schema or encoding than the first"
                    .into(),
            ));
        }
        self.recycles += 1;
        self.recycle_at = self.recycle_threshold();
        tracing::info!(
            operator = %self.name,
            used_mib = used >> 20,
            limit_mib = self.limits.memory_bytes >> 20,
            recycles = self.recycles,
            "replaced an operator instance whose memory neared its limit"
        );
        Ok(())
    }

    /// Fires, in (timestamp, key) order, the timers of `domain` due at
    /// `time`, including those the operator registers while they fire.
    fn fire_timers(
        &mut self,
        domain: TimeDomain,
        time: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let Some(state) = self.keyed_state.clone() else {
            return Ok(());
        };
        let host_domain = match domain {
            TimeDomain::EventTime => weir_wasm_host::TimeDomain::EventTime,
            TimeDomain::ProcessingTime => weir_wasm_host::TimeDomain::ProcessingTime,
        };
        for _ in 0..MAX_TIMER_ROUNDS {
            let due = state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take_due_timers(domain, time, TIMERS_PER_CALL);
            if due.is_empty() {
                return Ok(());
            }
            let fired: Vec<Timer> = due
                .into_iter()
                .map(|(key, timestamp)| Timer {
                    key,
                    timestamp,
                    domain: host_domain,
                })
                .collect();
            let produced = self.instance.on_timer(&fired).map_err(guest)?;
            self.decode_all("on-timer", produced, out)?;
            self.after_call()?;
        }
        Err(OperatorError::Failed {
            operator: self.name.clone(),
            message: format!(
                "it keeps registering timers that are already due ({MAX_TIMER_ROUNDS} rounds of \
                 firing at {time})"
            ),
        })
    }

    fn malformed(&self, call: &'static str, detail: String) -> OperatorError {
        OperatorError::Malformed {
            operator: self.name.clone(),
            call,
            detail,
        }
    }

    fn decode_all(
        &mut self,
        call: &'static str,
        batches: Vec<Vec<u8>>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let Some(output) = self.output.as_mut() else {
            return Err(self.malformed(call, "the operator was not opened".into()));
        };
        for bytes in batches {
            match output.decode(bytes) {
                Ok(batch) if batch.num_rows() == 0 => {}
                Ok(batch) => out.push(batch),
                Err(e) => return Err(self.malformed(call, e.to_string())),
            }
        }
        Ok(())
    }
}

impl Operator for WasmOperator {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&mut self, input: SchemaRef, info: &OpenInfo) -> Result<SchemaRef, OperatorError> {
        let input_schema = schema::to_contract(&input).map_err(|e| OperatorError::Failed {
            operator: self.name.clone(),
            message: e.to_string(),
        })?;
        let context = OpenContext {
            operator_name: self.name.clone(),
            config: self.config.clone(),
            input_schema,
            key_fields: info.key_fields.clone(),
            subtask_index: info.subtask_index,
            parallelism: info.parallelism,
            attempt: info.attempt,
        };
        if !info.key_fields.is_empty() {
            let state = self
                .keyed_state
                .get_or_insert_with(|| {
                    KeyedState::in_memory(
                        info.subtask_index,
                        info.parallelism,
                        info.max_parallelism,
                        self.state_limits.clone(),
                    )
                    .shared()
                })
                .clone();
            self.instance.attach_keyed_state(state);
        }
        let opened = self.instance.open(&context).map_err(guest)?;
        self.context = Some(context);
        self.recycle_at = self.recycle_threshold();
        let output = schema::from_contract(&opened.output_schema)
            .map_err(|e| self.malformed("open", e.to_string()))?;
        let codec = GuestCodec::new(opened.encoding, output.clone())
            .map_err(|e| self.malformed("open", e.to_string()))?;
        self.output = Some(codec);
        Ok(output)
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let bytes = match &self.output {
            Some(output) => output.encode(&batch),
            None => return Err(self.malformed("process", "the operator was not opened".into())),
        }
        .map_err(|message| OperatorError::Failed {
            operator: self.name.clone(),
            message: format!("cannot encode its input: {message}"),
        })?;
        let produced = self.instance.process(&bytes).map_err(guest)?;
        self.decode_all("process", produced, out)?;
        self.after_call()
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.watermark = Some(watermark);
        // Timers see the new watermark, and fire before the operator hears it.
        self.instance.set_current_watermark(Some(watermark));
        self.fire_timers(TimeDomain::EventTime, watermark, out)?;
        let produced = self.instance.on_watermark(watermark).map_err(guest)?;
        self.decode_all("on-watermark", produced, out)?;
        self.after_call()
    }

    fn on_processing_time(
        &mut self,
        now: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.fire_timers(TimeDomain::ProcessingTime, now, out)
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Vec<u8>, OperatorError> {
        let mut out = Vec::new();
        match self.watermark {
            Some(w) => {
                put_u8(&mut out, 1);
                put_i64(&mut out, w);
            }
            None => put_u8(&mut out, 0),
        }
        match &self.keyed_state {
            Some(state) => {
                put_u8(&mut out, 1);
                let snapshot = state.lock().unwrap_or_else(|p| p.into_inner()).snapshot();
                put_bytes(&mut out, &snapshot);
            }
            None => put_u8(&mut out, 0),
        }
        Ok(out)
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), OperatorError> {
        let failed = |message: String| OperatorError::Failed {
            operator: self.name.clone(),
            message,
        };
        let mut r = Reader::new(state);
        let parsed = (|| -> Result<_, weir_state::StateError> {
            let watermark = match r.u8()? {
                0 => None,
                _ => Some(r.i64()?),
            };
            let keyed = match r.u8()? {
                0 => None,
                _ => Some(r.slice()?),
            };
            r.finish()?;
            Ok((watermark, keyed))
        })();
        let (watermark, keyed) =
            parsed.map_err(|e| failed(format!("cannot restore its state: {e}")))?;
        match (keyed, &self.keyed_state) {
            (Some(snapshot), Some(state)) => state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .restore(snapshot)
                .map_err(|e| failed(format!("cannot restore its keyed state: {e}")))?,
            (Some(_), None) => {
                return Err(failed(
                    "the checkpoint holds keyed state for it, but its input is not keyed now"
                        .into(),
                ))
            }
            (None, _) => {}
        }
        self.watermark = watermark;
        self.instance.set_current_watermark(watermark);
        Ok(())
    }

    fn close(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        let produced = self.instance.close().map_err(guest)?;
        self.peak_memory = self.peak_memory.max(self.instance.memory_bytes());
        self.decode_all("close", produced, out)
    }

    fn user_metrics(&self) -> Vec<(String, UserMetric)> {
        let mut all = self.retired_metrics.clone();
        merge_user_metrics(&mut all, owned(self.instance.user_metrics()));
        all.into_iter().collect()
    }

    fn instance_stats(&self) -> InstanceStats {
        InstanceStats {
            recycles: self.recycles,
            peak_memory_bytes: self.peak_memory.max(self.instance.memory_bytes()),
        }
    }
}

fn owned(
    metrics: &BTreeMap<String, UserMetric>,
) -> impl Iterator<Item = (String, UserMetric)> + '_ {
    metrics.iter().map(|(name, value)| (name.clone(), *value))
}
