//! Why a deployment could not start its tasks, and whether a restart can
//! help: each failed task reports the message and the kind.

use weir_executor::PathError;
use weir_types::{Classify, FailureKind, LockedJobWireError};

use crate::modules::ModuleError;
use crate::network_outbox::BadDataAddress;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeployError {
    #[error("the deployed job is invalid: {0}")]
    Spec(#[from] LockedJobWireError),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("lost the JobManager while deploying")]
    LostJobManager,
    #[error("operators[{index}] '{operator}': {source}")]
    Module {
        index: usize,
        operator: String,
        #[source]
        source: ModuleError,
    },
    #[error(transparent)]
    DataAddress(#[from] BadDataAddress),
    #[error("attempt {older} of the job is still stopping on this TaskManager after {seconds} s")]
    OlderAttemptStopping { older: u32, seconds: u64 },
    /// The JobManager's deployment contradicts itself: a bug of Weir's.
    #[error("the JobManager placed vertex {vertex} subtask {subtask} here but did not deploy it")]
    ConsumerNotDeployed { vertex: u32, subtask: u32 },
    #[error("cannot start a task thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl Classify for DeployError {
    fn failure_kind(&self) -> FailureKind {
        match self {
            DeployError::Spec(_) | DeployError::Path(_) | DeployError::DataAddress(_) => {
                FailureKind::Configuration
            }
            DeployError::Module { source, .. } => source.failure_kind(),
            DeployError::ConsumerNotDeployed { .. } => FailureKind::Internal,
            DeployError::LostJobManager
            | DeployError::OlderAttemptStopping { .. }
            | DeployError::Thread(_) => FailureKind::Transient,
        }
    }
}

/// A task's snapshot that cannot be restored from.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error(transparent)]
    Storage(#[from] weir_checkpoint::StorageError),
    #[error("{location} has {actual} bytes where the checkpoint's metadata says {expected}")]
    Length {
        location: String,
        actual: u64,
        expected: u64,
    },
    #[error("{location} has digest {actual} where the checkpoint's metadata says {expected}: it is damaged")]
    Digest {
        location: String,
        actual: String,
        expected: String,
    },
}
