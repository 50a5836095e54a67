//! Native operators, behind the same trait as WASM ones.

mod count;
mod window;

pub use count::Count;
pub use window::Window;

use std::sync::Arc;

use weir_types::BuiltinConfig;

use crate::operator::{Operator, OperatorError};
use crate::paths::PathPolicy;
use crate::user::UserAggregates;

/// Creates the built-in named `builtin` (validated by the job spec).
/// `user_aggregates`: the operator's module, which only a window takes (its
/// user aggregate functions).
pub fn create(
    builtin: &str,
    name: &str,
    config: &serde_json::Value,
    user_aggregates: Option<Arc<dyn UserAggregates>>,
    paths: &PathPolicy,
) -> Result<Box<dyn Operator>, OperatorError> {
    let parsed = BuiltinConfig::parse(builtin, config, user_aggregates.is_some()).map_err(|e| {
        OperatorError::InvalidConfig {
            operator: name.to_string(),
            message: e.to_string(),
        }
    })?;
    match parsed {
        BuiltinConfig::Count(config) => Ok(Box::new(Count::new(name, config))),
        BuiltinConfig::Window(config) => {
            Ok(Box::new(Window::new(name, config, user_aggregates, paths)?))
        }
    }
}
