//! Native operators, behind the same trait as WASM ones.

mod count;
mod window;

pub use count::Count;
pub use window::Window;

use std::sync::Arc;

use weir_types::BuiltinConfig;
use weir_wasm_host::{InstanceLimits, Module};

use crate::operator::{Operator, OperatorError};
use crate::paths::PathPolicy;

/// Creates the built-in named `builtin` (validated by the job spec).
/// `module`: the operator's component, which only a window takes (its user
/// aggregate function), with its instances' `limits`.
pub fn create(
    builtin: &str,
    name: &str,
    config: &serde_json::Value,
    module: Option<Arc<Module>>,
    limits: InstanceLimits,
    paths: &PathPolicy,
) -> Result<Box<dyn Operator>, OperatorError> {
    let parsed = BuiltinConfig::parse(builtin, config, module.is_some()).map_err(|e| {
        OperatorError::InvalidConfig {
            operator: name.to_string(),
            message: e.to_string(),
        }
    })?;
    match parsed {
        BuiltinConfig::Count(config) => Ok(Box::new(Count::new(name, config))),
        BuiltinConfig::Window(config) => {
            Ok(Box::new(Window::new(name, config, module, limits, paths)?))
        }
    }
}
