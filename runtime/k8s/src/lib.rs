//! Weir on Kubernetes: the `WeirJob` resource and its controller, the native
//! resource manager's TaskManager pods, and JobManager leader election.

pub mod crd;

pub use crd::{DesiredState, UpgradeMode, WeirJob, WeirJobSpec, WeirJobStatus};
