//! WASM components as Weir operators. The executor runs sources, sinks,
//! exchanges and its built-ins and asks a [`UserOperators`] for the rest;
//! [`WasmOperators`] answers with components compiled by `weir-wasm-host`:
//!
//! - [`WasmOperator`]: a component of the `operator` world behind the
//!   executor's `Operator` trait (encodings, validation of what it returns,
//!   instance recycling, keyed state and timers);
//! - a window's user aggregate functions (`fn: udf`): components of the
//!   `aggregate-function` world.
//!
//! Keeping them here lets the executor build without wasmtime.

mod aggregate;
mod codec;
mod operator;
mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_executor::{
    JobError, Operator, OperatorError, UserAggregates, UserOperatorSetup, UserOperators,
};
use weir_state::{StateLimits, DEFAULT_MAX_VALUE_BYTES};
use weir_wasm_host::{CallError, Capabilities, Module};

pub use operator::WasmOperator;

use aggregate::WasmAggregates;

/// A failed call into a component, as the executor sees it.
fn guest(error: CallError) -> OperatorError {
    OperatorError::guest(error)
}

/// The compiled modules of a job's operators, by operator index.
#[derive(Default, Clone)]
pub struct WasmOperators {
    modules: BTreeMap<usize, Arc<Module>>,
}

impl WasmOperators {
    pub fn new(modules: BTreeMap<usize, Arc<Module>>) -> Self {
        WasmOperators { modules }
    }
}

impl UserOperators for WasmOperators {
    fn operator(&self, setup: &UserOperatorSetup<'_>) -> Result<Box<dyn Operator>, JobError> {
        let op = setup.operator;
        let module = self
            .modules
            .get(&setup.index)
            .ok_or_else(|| JobError::Plan {
                index: setup.index,
                operator: op.name.clone(),
                message: "has no module".into(),
            })?;
        let capabilities = Capabilities {
            wall_clock: op.capabilities.wall_clock,
        };
        let config =
            serde_json::to_string(&op.config).map_err(|e| JobError::Internal(e.to_string()))?;
        let state_limits = StateLimits {
            max_value_bytes: setup
                .spec
                .operator_limits(op)
                .max_state_value
                .map_or(DEFAULT_MAX_VALUE_BYTES, |b| {
                    usize::try_from(b).unwrap_or(usize::MAX)
                }),
            budgets: setup.state_budgets.to_vec(),
        };
        Ok(Box::new(
            WasmOperator::new(&op.name, module, setup.limits, capabilities, config)?
                .with_state_limits(state_limits),
        ))
    }

    fn user_aggregates(&self, setup: &UserOperatorSetup<'_>) -> Option<Arc<dyn UserAggregates>> {
        let module = self.modules.get(&setup.index)?;
        Some(Arc::new(WasmAggregates {
            module: module.clone(),
            limits: setup.limits,
        }))
    }

    fn module_digest(&self, index: usize) -> Option<String> {
        self.modules.get(&index).map(|m| m.digest().to_string())
    }
}
