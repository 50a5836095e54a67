//! A real control plane (etcd and kube-apiserver from
//! `scripts/setup-kube-control-plane.sh`) with the WeirJob CRD of `k8s/crd`
//! and the namespace, ServiceAccounts, Roles and RoleBindings of `k8s/base`
//! applied by kubectl. The JobManager and the TaskManager act as their
//! ServiceAccounts with tokens from the TokenRequest API, so a verb the
//! RBAC lacks fails the test; the user's `weir push` acts as the admin.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use weir_testing::{repo_root, KubeControlPlane, KubectlError};

use super::WeirJobApi;

pub struct RealApi {
    plane: KubeControlPlane,
    jobmanager: PathBuf,
    taskmanager: PathBuf,
}

impl RealApi {
    pub fn start() -> RealApi {
        let plane = KubeControlPlane::start();
        let crd = repo_root().join("k8s/crd/weirjob.yaml");
        plane.kubectl(&["apply", "-f", &crd.display().to_string()]);
        plane.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/weirjobs.weir.dev",
        ]);
        plane.apply(&[
            "k8s/base/namespace.yaml",
            "k8s/base/jobmanager-rbac.yaml",
            "k8s/base/taskmanager-rbac.yaml",
        ]);
        let jobmanager = plane.service_account_kubeconfig("weir", "weir-jobmanager");
        let taskmanager = plane.service_account_kubeconfig("weir", "weir-taskmanager");
        RealApi {
            plane,
            jobmanager,
            taskmanager,
        }
    }

    fn kubectl_json(&self, file_name: &str, verb: &[&str], body: &Value) {
        let file = self.plane.dir.join(file_name);
        std::fs::write(&file, serde_json::to_vec(body).unwrap()).unwrap();
        let mut args = verb.to_vec();
        let path = file.display().to_string();
        args.extend(["-f", path.as_str()]);
        self.plane.kubectl(&args);
    }
}

impl WeirJobApi for RealApi {
    fn jobmanager_kubeconfig(&self) -> &Path {
        &self.jobmanager
    }

    fn taskmanager_kubeconfig(&self) -> &Path {
        &self.taskmanager
    }

    fn user_kubeconfig(&self) -> &Path {
        &self.plane.kubeconfig
    }

    fn create(&self, name: &str, spec: Value) {
        let object = json!({
            "apiVersion": "weir.dev/v1alpha1",
            "kind": "WeirJob",
            "metadata": {"name": name, "namespace": "weir"},
            "spec": spec,
        });
        self.kubectl_json(&format!("{name}.json"), &["create"], &object);
    }

    fn object(&self, name: &str) -> Option<Value> {
        match self
            .plane
            .kubectl_output(&["-n", "weir", "get", "weirjob", name, "-o", "json"])
        {
            Ok(text) => Some(serde_json::from_str(&text).expect("kubectl's JSON")),
            Err(KubectlError::Failed { stderr })
                if stderr.contains("NotFound") || stderr.contains("not found") =>
            {
                None
            }
            Err(error) => panic!("kubectl get weirjob {name}: {error}"),
        }
    }

    fn edit_spec(&self, name: &str, spec: Value) {
        // The whole spec replaced (a JSON patch), as an edited manifest
        // applied again would; the API server counts the generation.
        let patch = json!([{"op": "replace", "path": "/spec", "value": spec}]);
        self.plane.kubectl(&[
            "-n",
            "weir",
            "patch",
            "weirjob",
            name,
            "--type",
            "json",
            "-p",
            &patch.to_string(),
        ]);
    }

    fn delete(&self, name: &str) {
        self.plane
            .kubectl(&["-n", "weir", "delete", "weirjob", name, "--wait=false"]);
    }

    fn event_reasons(&self) -> Vec<String> {
        let listed: Value = serde_json::from_str(&self.plane.kubectl(&[
            "-n",
            "weir",
            "get",
            "events.v1.events.k8s.io",
            "-o",
            "json",
        ]))
        .expect("kubectl's JSON");
        let mut reasons = Vec::new();
        for event in listed["items"].as_array().into_iter().flatten() {
            let reason = event["reason"].as_str().unwrap_or_default();
            // A repeated event is one object with a series count.
            let occurrences = event["series"]["count"].as_u64().unwrap_or(1);
            for _ in 0..occurrences {
                reasons.push(reason.to_string());
            }
        }
        reasons
    }
}
