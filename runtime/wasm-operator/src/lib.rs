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
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_executor::{
    JobError, Operator, OperatorError, PreparedJob, RunDefaults, UserAggregates, UserOperatorSetup,
    UserOperators,
};
use weir_state::{StateLimits, DEFAULT_MAX_VALUE_BYTES};
use weir_types::{JobSpec, ModuleRef};
use weir_wasm_host::{CallError, Capabilities, Module, WasmHost};

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

    /// Reads and compiles every module `spec` names by path. Relative paths
    /// resolve against `base_dir`.
    pub fn load_files(spec: &JobSpec, base_dir: &Path, host: &WasmHost) -> Result<Self, JobError> {
        let mut modules = BTreeMap::new();
        for (index, op) in spec.operators.iter().enumerate() {
            let Some(reference) = &op.module else {
                continue;
            };
            let plan_error = |message: String| JobError::Plan {
                index,
                operator: op.name.clone(),
                message,
            };
            let parsed = ModuleRef::parse(reference).map_err(|e| plan_error(e.to_string()))?;
            let ModuleRef::Path(path) = parsed else {
                return Err(plan_error(format!(
                    "module '{reference}': modules load from files here; {} references are \
                     not supported yet",
                    if matches!(parsed, ModuleRef::Oci(_)) {
                        "oci://"
                    } else {
                        "configmap://"
                    }
                )));
            };
            let path = if Path::new(&path).is_absolute() {
                PathBuf::from(&path)
            } else {
                base_dir.join(&path)
            };
            let module = host
                .load_file(&op.name, &path, op.sha256.as_deref())
                .map_err(|source| JobError::Module {
                    index,
                    operator: op.name.clone(),
                    source: Box::new(source),
                })?;
            modules.insert(index, module);
        }
        Ok(WasmOperators { modules })
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

/// Prepares `spec` to run in this process with its modules read from files
/// (the executor's harness, for tests and benchmarks): a missing or broken
/// module fails before anything opens.
pub fn prepare(
    spec: &JobSpec,
    base_dir: &Path,
    host: &WasmHost,
    defaults: &RunDefaults,
) -> Result<PreparedJob, JobError> {
    let operators = WasmOperators::load_files(spec, base_dir, host)?;
    weir_executor::prepare(spec, base_dir, &operators, defaults)
}
