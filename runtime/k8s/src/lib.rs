//! Weir on Kubernetes: the `WeirJob` resource and its controller, the native
//! resource manager's TaskManager pods, and JobManager leader election.

pub mod controller;
pub mod crd;
pub mod error;
pub mod lease;
pub mod pods;
#[cfg(feature = "testing")]
pub mod testing;
mod unreadable;

pub use crd::{DesiredState, UpgradeMode, WeirJob, WeirJobSpec, WeirJobState, WeirJobStatus};
pub use error::{K8sError, TemplateError};
pub use lease::{Clock, LeaderElector, Leadership, LeaseConfig, SystemClock};
pub use pods::{load_pod_template, PodFailure, PodSummary, TaskManagerPods, TaskManagerPodsConfig};
