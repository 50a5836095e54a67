//! Native operators, behind the same trait as WASM ones.

mod count;
mod window;

pub use count::Count;
pub use window::Window;

use std::sync::Arc;

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
    match builtin {
        "count" if module.is_some() => Err(OperatorError::InvalidConfig {
            operator: name.to_string(),
            message: "count takes no `module`".into(),
        }),
        "count" => Ok(Box::new(Count::new(name, config)?)),
        "window" => Ok(Box::new(Window::new(name, config, module, limits, paths)?)),
        other => Err(OperatorError::InvalidConfig {
            operator: name.to_string(),
            message: format!("unknown built-in '{other}'"),
        }),
    }
}
