//! The seam between the executor and operators that run user code. The
//! executor runs sources, sinks, exchanges and its built-ins itself; an
//! operator with a `module` (and a window's user aggregate functions) comes
//! from a [`UserOperators`] the caller provides, so the executor builds
//! without knowing which sandbox runs them (`weir-wasm-operator` provides
//! the WASM one).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use weir_state::StateBudget;
use weir_types::{InstanceLimits, JobSpec, OperatorSpec};

use crate::job::JobError;
use crate::operator::{Operator, OperatorError};

/// What a user operator is made for.
pub struct UserOperatorSetup<'a> {
    pub spec: &'a JobSpec,
    /// The operator's index in the job spec.
    pub index: usize,
    pub operator: &'a OperatorSpec,
    /// Limits of its instances: the spec's, or else the runtime's defaults.
    pub limits: InstanceLimits,
    /// Bounds the keyed state of the task's operators shares.
    pub state_budgets: &'a [Arc<StateBudget>],
}

/// Makes the operators of a job that run user code.
pub trait UserOperators: Send + Sync {
    /// An instance of operator `setup.index`, one with a `module`.
    fn operator(&self, setup: &UserOperatorSetup<'_>) -> Result<Box<dyn Operator>, JobError>;

    /// The user aggregate functions of window `setup.index`: its `module`,
    /// if it has one.
    fn user_aggregates(&self, setup: &UserOperatorSetup<'_>) -> Option<Arc<dyn UserAggregates>>;

    /// The digest of operator `index`'s module, for summaries.
    fn module_digest(&self, index: usize) -> Option<String>;
}

/// A job without user code: every operator is a built-in.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUserOperators;

impl UserOperators for NoUserOperators {
    fn operator(&self, setup: &UserOperatorSetup<'_>) -> Result<Box<dyn Operator>, JobError> {
        Err(JobError::Plan {
            index: setup.index,
            operator: setup.operator.name.clone(),
            message: "has no module".into(),
        })
    }

    fn user_aggregates(&self, _setup: &UserOperatorSetup<'_>) -> Option<Arc<dyn UserAggregates>> {
        None
    }

    fn module_digest(&self, _index: usize) -> Option<String> {
        None
    }
}

/// Makes instances of one window's user aggregate functions.
pub trait UserAggregates: Send + Sync {
    /// A fresh instance of aggregate `aggregate` (its name in the config)
    /// of window operator `window`.
    fn instantiate(
        &self,
        window: &str,
        aggregate: &str,
    ) -> Result<Box<dyn UserAggregate>, OperatorError>;
}

/// One instance of a user aggregate function. Its accumulators are opaque
/// bytes, which the window keeps in its panes and its snapshots.
pub trait UserAggregate: Send {
    /// Opens the function with its `config` for rows of `input`; returns
    /// the type of its result.
    fn open(&mut self, config: &str, input: &SchemaRef) -> Result<DataType, OperatorError>;

    /// The accumulator of an empty window.
    fn init(&mut self) -> Result<Vec<u8>, OperatorError>;

    /// Two accumulators as one (sessions that merge).
    fn merge(&mut self, a: Vec<u8>, b: Vec<u8>) -> Result<Vec<u8>, OperatorError>;

    /// Folds row `i` of `input` into `accumulators[targets[i]]`; returns the
    /// accumulators, in order.
    fn accumulate(
        &mut self,
        accumulators: &[Vec<u8>],
        input: &RecordBatch,
        targets: &[u32],
    ) -> Result<Vec<Vec<u8>>, OperatorError>;

    /// The result of each accumulator, in order.
    fn finish(&mut self, accumulators: &[Vec<u8>]) -> Result<ArrayRef, OperatorError>;
}
