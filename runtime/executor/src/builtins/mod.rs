//! Native operators, behind the same trait as WASM ones.

mod count;
mod window;

pub use count::Count;
pub use window::Window;

use std::sync::Arc;

use weir_types::BuiltinConfig;

use crate::operator::{Operator, OperatorError};
use crate::user::UserAggregates;

/// Reads the configuration of the built-in named `builtin` (validated with
/// the job spec already; the module that arrived decides `has_module`).
pub fn parse_config(
    builtin: &str,
    name: &str,
    config: &serde_json::Value,
    has_module: bool,
) -> Result<BuiltinConfig, OperatorError> {
    BuiltinConfig::parse(builtin, config, has_module).map_err(|e| OperatorError::InvalidConfig {
        operator: name.to_string(),
        message: e.to_string(),
    })
}

/// Creates a built-in from its configuration. `user_aggregates`: the
/// operator's module, which only a window takes (its user aggregate
/// functions).
pub fn create(
    name: &str,
    config: BuiltinConfig,
    user_aggregates: Option<Arc<dyn UserAggregates>>,
) -> Result<Box<dyn Operator>, OperatorError> {
    match config {
        BuiltinConfig::Count(config) => Ok(Box::new(Count::new(name, config))),
        BuiltinConfig::Window(config) => Ok(Box::new(Window::new(name, config, user_aggregates)?)),
    }
}
