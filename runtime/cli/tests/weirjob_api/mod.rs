//! Where the WeirJob tests keep their resources: a fake API server in this
//! process (fast, and it can be asked things a real one does not show) or
//! a real kube-apiserver with etcd, the CRD and the RBAC of `k8s/`. The
//! tests are written once against `WeirJobApi` and run on both.

pub mod fake;
pub mod real;

use std::path::Path;

use serde_json::Value;

pub trait WeirJobApi {
    /// What `weir jobmanager --weirjob-controller` connects with: on the
    /// real server, the JobManager's ServiceAccount of `k8s/base`.
    fn jobmanager_kubeconfig(&self) -> &Path;
    /// What `weir taskmanager` connects with (to read `configmap://`
    /// modules): the TaskManager's ServiceAccount.
    fn taskmanager_kubeconfig(&self) -> &Path;
    /// What the user's own `weir push` runs with.
    fn user_kubeconfig(&self) -> &Path;
    /// Creates the WeirJob `name` in namespace `weir`, as `kubectl create`.
    fn create(&self, name: &str, spec: Value);
    /// The WeirJob as stored; `None` once it is gone.
    fn object(&self, name: &str) -> Option<Value>;
    /// The user replaces the spec: the next generation.
    fn edit_spec(&self, name: &str, spec: Value);
    /// `kubectl delete`, not waiting for finalizers.
    fn delete(&self, name: &str);
    /// The reason of every event recorded in the namespace, once per
    /// occurrence.
    fn event_reasons(&self) -> Vec<String>;
}
