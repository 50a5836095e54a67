//! Weir's shared vocabulary: the job spec and its validation, resource
//! quantities and module references. No IO: callers read files and pass text.

mod module_ref;
mod quantity;
mod spec;

pub use module_ref::{ModuleRef, ModuleRefError};
pub use quantity::{parse_bytes, parse_duration};
pub use spec::*;
