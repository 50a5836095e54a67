//! The native resource manager's Kubernetes side: TaskManager Pods.
//!
//! In native mode the JobManager asks for TaskManagers itself instead of a
//! fixed Deployment providing them. It reads its own Deployment once (for the
//! uid that makes it the pods' owner, so deleting the Deployment garbage-
//! collects them), then creates, lists, deletes and watches Pods labelled
//! `weir.dev/jobmanager={deployment}`. The watch turns pod failures (phase
//! Failed, a killed or crashed container, a deleted pod) into
//! [`PodFailure`]s, so the JobManager drops a lost TaskManager at once rather
//! than waiting for its heartbeat to time out.

use std::collections::{BTreeMap, HashSet};
use std::future::ready;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::stream::{self, Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tracing::{debug, info, warn};

use crate::error::{K8sError, TemplateError};

/// The container in the template that runs `weir taskmanager`.
pub const TASKMANAGER_CONTAINER: &str = "taskmanager";
/// Label with the JobManager's Deployment name; selects the pods it owns.
pub const JOBMANAGER_LABEL: &str = "weir.dev/jobmanager";
const NAME_LABEL: &str = "app.kubernetes.io/name";
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Where the mounted `weir-conf` ConfigMap puts `weir.yaml`, as the
/// configuration docs promise.
const CONFIG_VOLUME: &str = "weir-conf";
const CONFIG_DIR: &str = "/etc/weir";
const CONFIG_FILE: &str = "/etc/weir/weir.yaml";

/// How TaskManager pods are made.
#[derive(Clone, Debug)]
pub struct TaskManagerPodsConfig {
    pub namespace: String,
    /// The JobManager's Deployment; it owns the pods.
    pub owner_deployment: String,
    /// A Pod with a container named `taskmanager`.
    pub template: Pod,
    /// `host:port` the TaskManagers register with.
    pub jobmanager_address: String,
    /// Task slots per TaskManager.
    pub slots: u32,
    /// A ConfigMap holding `weir.yaml`, mounted at `/etc/weir`.
    pub config_map: Option<String>,
}

/// A TaskManager pod as the API server reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`; `None`
    /// before the API server has set a status.
    pub phase: Option<String>,
}

/// A TaskManager pod that is gone or going.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodFailure {
    pub pod: String,
    /// E.g. "OOMKilled (exit 137)", "pod deleted", "Evicted: ...".
    pub reason: String,
}

/// Reads a Pod manifest (YAML, `kind: Pod`) to use as the TaskManager template.
pub fn load_pod_template(path: &Path) -> Result<Pod, K8sError> {
    let text = std::fs::read_to_string(path).map_err(|source| K8sError::TemplateRead {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_error = |reason: String| K8sError::TemplateParse {
        path: path.to_path_buf(),
        reason,
    };
    // Through a generic value first, so a wrong or missing kind is reported
    // as such instead of as a puzzling field error from the Pod schema.
    let value: serde_json::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| parse_error(format!("not YAML: {e}")))?;
    match value.get("kind").and_then(serde_json::Value::as_str) {
        Some("Pod") => {}
        Some(other) => return Err(parse_error(format!("kind is {other:?}, expected \"Pod\""))),
        None => return Err(parse_error("no kind (expected \"kind: Pod\")".into())),
    }
    let pod: Pod =
        serde_json::from_value(value).map_err(|e| parse_error(format!("not a valid Pod: {e}")))?;
    check_template(&pod).map_err(|reason| K8sError::TemplateInvalid {
        origin: path.display().to_string(),
        reason,
    })?;
    Ok(pod)
}

fn check_template(pod: &Pod) -> Result<(), TemplateError> {
    let Some(spec) = &pod.spec else {
        return Err(TemplateError::NoSpec);
    };
    if !spec
        .containers
        .iter()
        .any(|c| c.name == TASKMANAGER_CONTAINER)
    {
        return Err(TemplateError::NoTaskManagerContainer {
            containers: spec.containers.iter().map(|c| c.name.clone()).collect(),
        });
    }
    Ok(())
}

/// Creates, lists, deletes and watches one JobManager's TaskManager pods.
pub struct TaskManagerPods {
    api: Api<Pod>,
    config: TaskManagerPodsConfig,
    owner_uid: String,
    next_index: AtomicU64,
}

impl TaskManagerPods {
    /// Reads the owner Deployment once for its uid, and checks the template.
    pub async fn new(
        client: kube::Client,
        config: TaskManagerPodsConfig,
    ) -> Result<Self, K8sError> {
        check_template(&config.template).map_err(|reason| K8sError::TemplateInvalid {
            origin: format!("for the TaskManagers of {}", config.owner_deployment),
            reason,
        })?;
        // Label values are limited to 63 characters; a longer name would make
        // every create fail.
        if config.owner_deployment.len() > 63 {
            return Err(K8sError::InvalidConfig {
                what: "owner deployment name".into(),
                reason: format!(
                    "{:?} is longer than the 63 characters a label value allows",
                    config.owner_deployment
                ),
            });
        }
        let deployment_ref = format!(
            "Deployment {}/{}",
            config.namespace, config.owner_deployment
        );
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &config.namespace);
        let deployment = deployments
            .get(&config.owner_deployment)
            .await
            .map_err(|e| K8sError::api(format!("get {deployment_ref}"), e))?;
        let owner_uid = deployment
            .metadata
            .uid
            .filter(|uid| !uid.is_empty())
            .ok_or(K8sError::MissingField {
                object: deployment_ref,
                field: "metadata.uid",
            })?;
        Ok(TaskManagerPods {
            api: Api::namespaced(client, &config.namespace),
            config,
            owner_uid,
            next_index: AtomicU64::new(1),
        })
    }

    pub fn config(&self) -> &TaskManagerPodsConfig {
        &self.config
    }

    fn name_prefix(&self) -> String {
        format!(
            "{}-{}-",
            self.config.owner_deployment, TASKMANAGER_CONTAINER
        )
    }

    /// Whether `pod` is named as this JobManager's pods are, i.e. one it
    /// (or an earlier process of it) created and may delete.
    pub fn owns(&self, pod: &str) -> bool {
        pod.strip_prefix(&self.name_prefix())
            .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
    }

    fn selector(&self) -> String {
        format!("{JOBMANAGER_LABEL}={}", self.config.owner_deployment)
    }

    fn pod_ref(&self, name: &str) -> String {
        format!("Pod {}/{}", self.config.namespace, name)
    }

    /// The Pod `create` would send for `name`: the template, named, labelled
    /// and owned by the Deployment, with the TaskManager's settings in the
    /// `taskmanager` container's environment.
    pub fn pod(&self, name: &str) -> Pod {
        let mut pod = self.config.template.clone();
        let owner = &self.config.owner_deployment;

        // A template exported from a live pod carries server-set fields that
        // would make the create fail or misreport the new pod.
        pod.status = None;
        let meta = &mut pod.metadata;
        meta.uid = None;
        meta.resource_version = None;
        meta.creation_timestamp = None;
        meta.deletion_timestamp = None;
        meta.managed_fields = None;
        meta.name = Some(name.to_owned());
        meta.generate_name = None;
        meta.namespace = Some(self.config.namespace.clone());
        let labels = meta.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(NAME_LABEL.into(), "weir".into());
        labels.insert(COMPONENT_LABEL.into(), TASKMANAGER_CONTAINER.into());
        labels.insert(JOBMANAGER_LABEL.into(), owner.clone());
        meta.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: owner.clone(),
            uid: self.owner_uid.clone(),
            block_owner_deletion: Some(true),
            controller: Some(true),
        }]);

        let spec = pod.spec.get_or_insert_with(Default::default);
        // The JobManager replaces a failed TaskManager with a new pod; an
        // in-place restart would come back with state the JobManager has
        // already written off.
        spec.restart_policy = Some("Never".into());

        if let Some(config_map) = &self.config.config_map {
            let volumes = spec.volumes.get_or_insert_with(Vec::new);
            volumes.retain(|v| v.name != CONFIG_VOLUME);
            volumes.push(Volume {
                name: CONFIG_VOLUME.into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: config_map.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }

        if let Some(container) = spec
            .containers
            .iter_mut()
            .find(|c| c.name == TASKMANAGER_CONTAINER)
        {
            self.configure_container(container);
        }
        pod
    }

    fn configure_container(&self, container: &mut Container) {
        let mut ours = vec![
            EnvVar {
                name: "WEIR_JOBMANAGER".into(),
                value: Some(self.config.jobmanager_address.clone()),
                ..Default::default()
            },
            EnvVar {
                name: "WEIR_SLOTS".into(),
                value: Some(self.config.slots.to_string()),
                ..Default::default()
            },
            EnvVar {
                name: "WEIR_POD_NAME".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: "metadata.name".into(),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            // Pod names do not resolve in DNS; other TaskManagers reach this
            // one's data plane at its pod IP.
            EnvVar {
                name: "WEIR_ADVERTISED_HOST".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: "status.podIP".into(),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        if self.config.config_map.is_some() {
            ours.push(EnvVar {
                name: "WEIR_CONFIG".into(),
                value: Some(CONFIG_FILE.into()),
                ..Default::default()
            });
            let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
            mounts.retain(|m| m.name != CONFIG_VOLUME);
            mounts.push(VolumeMount {
                name: CONFIG_VOLUME.into(),
                mount_path: CONFIG_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
        }
        // Ours go first: Kubernetes expands `$(VAR)` only from earlier
        // entries, so template variables may then build on e.g. the pod name.
        let mut theirs = container.env.take().unwrap_or_default();
        theirs.retain(|e| !ours.iter().any(|o| o.name == e.name));
        ours.append(&mut theirs);
        container.env = Some(ours);
    }

    /// Creates a TaskManager pod and returns its name. Names count up; if one
    /// is taken (pods of an earlier JobManager process outlive it, being
    /// owned by the Deployment), numbering skips past the existing pods.
    pub async fn create(&self) -> Result<String, K8sError> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            let index = self.next_index.fetch_add(1, Ordering::Relaxed);
            let name = format!("{}{index}", self.name_prefix());
            match self
                .api
                .create(&PostParams::default(), &self.pod(&name))
                .await
            {
                Ok(_) => {
                    info!(pod = %name, namespace = %self.config.namespace, "created TaskManager pod");
                    return Ok(name);
                }
                Err(kube::Error::Api(status))
                    if status.is_already_exists() && attempt < ATTEMPTS =>
                {
                    debug!(pod = %name, "TaskManager pod name taken; skipping past existing pods");
                    self.skip_past_existing().await?;
                    attempt += 1;
                }
                Err(e) => return Err(K8sError::api(format!("create {}", self.pod_ref(&name)), e)),
            }
        }
    }

    async fn skip_past_existing(&self) -> Result<(), K8sError> {
        let prefix = self.name_prefix();
        let highest = self
            .list()
            .await?
            .iter()
            .filter_map(|p| p.name.strip_prefix(&prefix)?.parse::<u64>().ok())
            .max();
        if let Some(highest) = highest {
            self.next_index
                .fetch_max(highest.saturating_add(1), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Deletes a TaskManager pod; one that is already gone is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), K8sError> {
        match self.api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                info!(pod = %name, namespace = %self.config.namespace, "deleted TaskManager pod");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(e) => Err(K8sError::api(format!("delete {}", self.pod_ref(name)), e)),
        }
    }

    /// The TaskManager pods this JobManager owns.
    pub async fn list(&self) -> Result<Vec<PodSummary>, K8sError> {
        let selector = self.selector();
        let pods = self
            .api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                K8sError::api(
                    format!("list Pods in {} with {selector}", self.config.namespace),
                    e,
                )
            })?;
        Ok(pods
            .items
            .into_iter()
            .filter_map(|pod| {
                Some(PodSummary {
                    name: pod.metadata.name?,
                    phase: pod.status.and_then(|s| s.phase),
                })
            })
            .collect())
    }

    /// TaskManager pods that failed or disappeared, each reported once. Watch
    /// errors are logged and the watch resumes with backoff, so the stream
    /// only ends when dropped. Pods deleted through [`Self::delete`] are
    /// reported too; dropping a TaskManager twice must be harmless.
    pub fn failures(&self) -> impl Stream<Item = PodFailure> + Send + Unpin + 'static {
        let selector = self.selector();
        let namespace = self.config.namespace.clone();
        let config = watcher::Config::default().labels(&selector);
        let mut tracker = FailureTracker::default();
        watcher::watcher(self.api.clone(), config)
            .default_backoff()
            .filter_map(move |event| {
                ready(match event {
                    Ok(event) => Some(event),
                    Err(e) => {
                        warn!(namespace = %namespace, selector = %selector, error = %e, "TaskManager pod watch failed; retrying");
                        None
                    }
                })
            })
            .flat_map(move |event| stream::iter(tracker.observe(event)))
            .boxed()
    }
}

/// Turns watch events into failures, once per pod, including pods that
/// vanished while the watch was down (absent from a re-list).
#[derive(Default)]
struct FailureTracker {
    known: HashSet<String>,
    reported: HashSet<String>,
    relisted: Option<HashSet<String>>,
}

impl FailureTracker {
    fn observe(&mut self, event: Event<Pod>) -> Vec<PodFailure> {
        match event {
            Event::Init => {
                self.relisted = Some(HashSet::new());
                Vec::new()
            }
            Event::InitApply(pod) => {
                if let (Some(relisted), Some(name)) = (&mut self.relisted, &pod.metadata.name) {
                    relisted.insert(name.clone());
                }
                self.applied(&pod)
            }
            Event::InitDone => {
                let relisted = self.relisted.take().unwrap_or_default();
                let mut gone: Vec<String> = self.known.difference(&relisted).cloned().collect();
                gone.sort();
                gone.into_iter()
                    .filter_map(|name| self.deleted(name))
                    .collect()
            }
            Event::Apply(pod) => self.applied(&pod),
            Event::Delete(pod) => pod
                .metadata
                .name
                .and_then(|name| self.deleted(name))
                .into_iter()
                .collect(),
        }
    }

    fn applied(&mut self, pod: &Pod) -> Vec<PodFailure> {
        let Some(name) = &pod.metadata.name else {
            return Vec::new();
        };
        self.known.insert(name.clone());
        match failure_reason(pod) {
            Some(reason) if self.reported.insert(name.clone()) => vec![PodFailure {
                pod: name.clone(),
                reason,
            }],
            _ => Vec::new(),
        }
    }

    fn deleted(&mut self, name: String) -> Option<PodFailure> {
        self.known.remove(&name);
        if self.reported.remove(&name) {
            return None;
        }
        Some(PodFailure {
            pod: name,
            reason: "pod deleted".into(),
        })
    }
}

/// Why a pod no longer runs a TaskManager, if it does not.
fn failure_reason(pod: &Pod) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Some("pod deleted".into());
    }
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref();

    // Evictions and the like carry their cause on the pod itself.
    if phase == Some("Failed") {
        if let Some(reason) = status.reason.as_deref().filter(|r| !r.is_empty()) {
            return Some(match status.message.as_deref().filter(|m| !m.is_empty()) {
                Some(message) => format!("{reason}: {message}"),
                None => reason.to_owned(),
            });
        }
    }

    for container in status.container_statuses.iter().flatten() {
        let Some(terminated) = container.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            continue;
        };
        let reason = terminated.reason.as_deref().unwrap_or("Error");
        if terminated.exit_code == 0 && reason != "OOMKilled" {
            continue;
        }
        let described = format!("{reason} (exit {})", terminated.exit_code);
        return Some(if container.name == TASKMANAGER_CONTAINER {
            described
        } else {
            format!("container {}: {described}", container.name)
        });
    }

    match phase {
        Some("Failed") => Some(match status.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("pod failed: {message}"),
            None => "pod failed".into(),
        }),
        Some("Succeeded") => Some("pod succeeded: the TaskManager exited".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("test pod JSON")
    }

    #[test]
    fn reasons() {
        let oom = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "taskmanager", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
            }]}
        }));
        assert_eq!(
            failure_reason(&oom).as_deref(),
            Some("OOMKilled (exit 137)")
        );

        let sidecar = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "log", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 2}}
            }]}
        }));
        assert_eq!(
            failure_reason(&sidecar).as_deref(),
            Some("container log: Error (exit 2)")
        );

        let evicted = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
        }));
        assert_eq!(
            failure_reason(&evicted).as_deref(),
            Some("Evicted: The node was low on resource: memory.")
        );

        let running = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "taskmanager", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {}}
            }]}
        }));
        assert_eq!(failure_reason(&running), None);
        assert_eq!(
            failure_reason(&pod(serde_json::json!({"metadata": {"name": "a"}}))),
            None
        );
    }

    #[test]
    fn tracker_reports_each_pod_once_and_pods_missing_from_a_relist() {
        let running = |name: &str| {
            pod(serde_json::json!({"metadata": {"name": name}, "status": {"phase": "Running"}}))
        };
        let failed = |name: &str| {
            pod(serde_json::json!({"metadata": {"name": name}, "status": {"phase": "Failed"}}))
        };
        let mut t = FailureTracker::default();
        let mut seen = Vec::new();
        for event in [
            Event::Init,
            Event::InitApply(running("a")),
            Event::InitApply(running("b")),
            Event::InitApply(running("c")),
            Event::InitDone,
            Event::Apply(failed("a")),
            Event::Apply(failed("a")),
            Event::Delete(failed("a")),
            // The watch restarts; b vanished meanwhile.
            Event::Init,
            Event::InitApply(running("c")),
            Event::InitDone,
        ] {
            seen.extend(t.observe(event));
        }
        assert_eq!(
            seen,
            vec![
                PodFailure {
                    pod: "a".into(),
                    reason: "pod failed".into()
                },
                PodFailure {
                    pod: "b".into(),
                    reason: "pod deleted".into()
                },
            ]
        );
    }
}
