//! The `WeirJob` custom resource: a job spec with its module references,
//! parallelism and upgrade mode, reconciled by the JobManager's controller.
//! The CRD's YAML (`k8s/crd/weirjob.yaml`) is generated from these types;
//! a test fails while the committed copy differs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weir_types::{JobSpec, JobState};

/// A streaming job run by Weir, kept running as its spec says.
// Each printer column repeats `type_`, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "weir.dev",
    version = "v1alpha1",
    kind = "WeirJob",
    namespaced,
    status = "WeirJobStatus",
    shortname = "wj",
    category = "weir",
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "the job's state"
    ),
    printcolumn(
        name = "Job",
        type_ = "string",
        json_path = ".status.jobId",
        description = "the JobManager's id of the job"
    ),
    printcolumn(
        name = "Checkpoint",
        type_ = "integer",
        json_path = ".status.lastCheckpoint.id",
        description = "the latest completed checkpoint"
    ),
    printcolumn(name = "Restarts", type_ = "integer", json_path = ".status.restarts"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct WeirJobSpec {
    /// The job spec, as in a `job.yaml` file (name, parallelism, source,
    /// operators, sink, checkpointing...); the name defaults to the
    /// resource's. The API server checks its shape; the JobManager checks
    /// the rest and reports what is wrong in the status.
    pub job: JobSpec,
    /// Module references by operator name (`oci://REGISTRY/REPOSITORY:TAG`,
    /// `oci://...@sha256:...` or `configmap://NAME/KEY`); they replace the
    /// `module` of the operators they name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modules: BTreeMap<String, String>,
    /// Replaces the job's default parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub parallelism: Option<u32>,
    /// How a change of this spec reaches the running job.
    #[serde(default)]
    pub upgrade_mode: UpgradeMode,
    /// `running`, or `suspended` to stop the job (with a savepoint unless the
    /// upgrade mode is `stateless`) and keep the resource.
    #[serde(default)]
    pub state: DesiredState,
    /// Where upgrade and suspend savepoints go; the JobManager's checkpoint
    /// storage's `savepoints/` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_directory: Option<String>,
    /// A savepoint (or retained checkpoint) the first run starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_savepoint_path: Option<String>,
}

/// As in Flink's Kubernetes operator.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    /// Cancel the job and start the new spec from no state.
    #[default]
    Stateless,
    /// Stop the job with a savepoint and start the new spec from it.
    Savepoint,
    /// Cancel the job and start the new spec from its latest checkpoint,
    /// without waiting for a savepoint.
    LastState,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DesiredState {
    #[default]
    Running,
    Suspended,
}

/// Where a WeirJob stands: the state of its job (Flink's names), or the
/// controller's own step while it stops the job for an upgrade or a
/// suspend.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WeirJobState {
    Created,
    Running,
    Restarting,
    Cancelling,
    Canceled,
    Failed,
    Finished,
    /// Stopping the job with a savepoint to start the new spec from it.
    Upgrading,
    /// Stopping the job with a savepoint because `spec.state: suspended`.
    Suspending,
    Suspended,
}

impl From<JobState> for WeirJobState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Created => WeirJobState::Created,
            JobState::Running => WeirJobState::Running,
            JobState::Restarting => WeirJobState::Restarting,
            JobState::Cancelling => WeirJobState::Cancelling,
            JobState::Canceled => WeirJobState::Canceled,
            JobState::Failed => WeirJobState::Failed,
            JobState::Finished => WeirJobState::Finished,
        }
    }
}

impl WeirJobState {
    /// As a condition's reason and an event's: `Running`, `Suspended`.
    pub fn reason(self) -> &'static str {
        match self {
            WeirJobState::Created => "Created",
            WeirJobState::Running => "Running",
            WeirJobState::Restarting => "Restarting",
            WeirJobState::Cancelling => "Cancelling",
            WeirJobState::Canceled => "Canceled",
            WeirJobState::Failed => "Failed",
            WeirJobState::Finished => "Finished",
            WeirJobState::Upgrading => "Upgrading",
            WeirJobState::Suspending => "Suspending",
            WeirJobState::Suspended => "Suspended",
        }
    }
}

/// What the controller last saw of the job.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeirJobStatus {
    /// The job's state (CREATED, RUNNING, RESTARTING, FINISHED, FAILED,
    /// CANCELED...), or SUSPENDED, or UPGRADING while a new spec is rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<WeirJobState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The generation of the spec the running job was started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<CheckpointReference>,
    /// The latest savepoint taken for an upgrade or a suspend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<String>,
    /// Restarts of the current job after failures.
    #[serde(default)]
    pub restarts: u32,
    /// Why the job is not running as asked, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `Ready`: the job runs (or finished, or is suspended) as the current
    /// spec asks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// A stop with savepoint under way, for an upgrade or a suspend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_stop: Option<PendingStop>,
    /// Where the next run starts from, once the job has been stopped for
    /// an upgrade or a suspend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingStop {
    pub job_id: String,
    /// The JobManager's id of the savepoint request.
    pub request_id: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointReference {
    pub id: u64,
    pub location: String,
    /// Completion time, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_ms: Option<i64>,
}

/// The CRD as YAML, as committed in `k8s/crd/weirjob.yaml`.
pub fn crd_yaml() -> String {
    let header = "# Generated from runtime/k8s/src/crd.rs by `weir crd`; do not edit.\n";
    // The CRD's serialisation cannot fail: it is plain data.
    let body = serde_yaml_ng::to_string(&crd_document()).unwrap_or_default();
    format!("{header}{body}")
}

/// The CRD as a document, its integers bounded by their Rust types.
pub fn crd_document() -> serde_json::Value {
    use kube::CustomResourceExt;
    let mut crd = serde_json::to_value(WeirJob::crd()).unwrap_or_default();
    bound_integers(&mut crd);
    crd
}

/// An API server ignores the `format` schemars writes for unsigned and
/// narrow integers (`uint32`...) and would store a `parallelism` of 2^32,
/// which the controller then cannot read. Each such integer gets the
/// `minimum` and `maximum` of its type, so the API server refuses it.
fn bound_integers(node: &mut serde_json::Value) {
    use serde_json::Value;
    match node {
        Value::Object(map) => {
            let bounds = match map.get("format").and_then(Value::as_str) {
                Some("int8") => Some((i64::from(i8::MIN), i64::from(i8::MAX))),
                Some("uint8") => Some((0, i64::from(u8::MAX))),
                Some("int16") => Some((i64::from(i16::MIN), i64::from(i16::MAX))),
                Some("uint16") => Some((0, i64::from(u16::MAX))),
                Some("int32") => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
                Some("uint32") => Some((0, i64::from(u32::MAX))),
                // Wider than the API server's own integers (int64): bounded
                // below only.
                Some("uint64" | "uint") => Some((0, i64::MAX)),
                _ => None,
            };
            if let Some((low, high)) = bounds {
                let minimum = map.get("minimum").and_then(Value::as_f64);
                if minimum.is_none_or(|m| m < low as f64) {
                    map.insert("minimum".into(), Value::from(low));
                }
                let maximum = map.get("maximum").and_then(Value::as_f64);
                if high < i64::MAX && maximum.is_none_or(|m| m > high as f64) {
                    map.insert("maximum".into(), Value::from(high));
                }
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}
