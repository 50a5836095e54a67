//! Native operators, behind the same trait as WASM ones.

mod count;
mod window;

pub use count::Count;
pub use window::Window;

use crate::operator::{Operator, OperatorError};

/// Creates the built-in named `builtin` (validated by the job spec).
pub fn create(
    builtin: &str,
    name: &str,
    config: &serde_json::Value,
) -> Result<Box<dyn Operator>, OperatorError> {
    match builtin {
        "count" => Ok(Box::new(Count::new(name, config)?)),
        "window" => Ok(Box::new(Window::new(name, config)?)),
        other => Err(OperatorError::InvalidConfig {
            operator: name.to_string(),
            message: format!("unknown built-in '{other}'"),
        }),
    }
}
