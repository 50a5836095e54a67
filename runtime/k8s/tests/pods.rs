//! TaskManager pods against a mocked API server: the exact objects sent, and
//! failures read from list and watch answers.

use std::path::PathBuf;
use std::time::Duration;
use weir_k8s::testing::{expect, respond, respond_bytes, status, Handle};

use futures_util::StreamExt;
use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::Pod;
use kube::client::Body;
use serde_json::{json, Value};
use tokio::time::timeout;
use tower_test::mock;
use weir_k8s::{
    load_pod_template, K8sError, PodFailure, PodSummary, TaskManagerPods, TaskManagerPodsConfig,
};

const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/weir/deployments/jm";
const PODS_PATH: &str = "/api/v1/namespaces/weir/pods?";
const UID: &str = "5d1c3c1e-8a4b-4f0e-9b7c-2f6a1e0d9c11";

fn template() -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"team": "data"}, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "taskmanager",
                    "image": "weir:test",
                    "args": ["taskmanager"],
                    "env": [
                        {"name": "WEIR_SLOTS", "value": "99"},
                        {"name": "RUST_LOG", "value": "info"},
                    ],
                },
                {"name": "log-shipper", "image": "shipper:1"},
            ],
        },
    }))
    .expect("template")
}

fn config() -> TaskManagerPodsConfig {
    TaskManagerPodsConfig {
        namespace: "weir".into(),
        owner_deployment: "jm".into(),
        template: template(),
        jobmanager_address: "jm.weir.svc:6123".into(),
        slots: 4,
        config_map: None,
    }
}

/// Builds `TaskManagerPods`, answering the one Deployment read.
async fn mocked(config: TaskManagerPodsConfig) -> (TaskManagerPods, Handle) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let server = tokio::spawn(async move {
        let (body, r) = expect(&mut handle, Method::GET, DEPLOYMENT_PATH).await;
        assert_eq!(body, Value::Null);
        respond(
            r,
            200,
            &json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "jm", "namespace": "weir", "uid": UID, "resourceVersion": "3"},
                "spec": {"selector": {"matchLabels": {"app": "jm"}}, "template": {}},
            }),
        );
        handle
    });
    let pods = TaskManagerPods::new(client, config).await.expect("new");
    (pods, server.await.expect("server"))
}

fn expected_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "weir",
            "labels": {
                "team": "data",
                "app.kubernetes.io/name": "weir",
                "app.kubernetes.io/component": "taskmanager",
                "weir.dev/jobmanager": "jm",
            },
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "jm",
                "uid": UID,
                "blockOwnerDeletion": true,
                "controller": true,
            }],
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "taskmanager",
                    "image": "weir:test",
                    "args": ["taskmanager"],
                    "env": [
                        {"name": "WEIR_JOBMANAGER", "value": "jm.weir.svc:6123"},
                        {"name": "WEIR_SLOTS", "value": "4"},
                        {"name": "WEIR_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "WEIR_ADVERTISED_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "RUST_LOG", "value": "info"},
                    ],
                },
                {"name": "log-shipper", "image": "shipper:1"},
            ],
        },
    })
}

#[tokio::test]
async fn creates_named_labelled_owned_pods() {
    let (pods, mut handle) = mocked(config()).await;
    let server = tokio::spawn(async move {
        for name in ["jm-taskmanager-1", "jm-taskmanager-2"] {
            let (body, r) = expect(&mut handle, Method::POST, PODS_PATH).await;
            assert_eq!(body, expected_pod(name));
            respond(r, 201, &body);
        }
    });
    assert_eq!(pods.create().await.expect("create"), "jm-taskmanager-1");
    assert_eq!(pods.create().await.expect("create"), "jm-taskmanager-2");
    server.await.expect("server");
}

#[tokio::test]
async fn mounts_the_config_map_when_given() {
    // Exported from a live pod: server-set fields must not be sent back.
    let mut template = template();
    template.metadata.uid = Some("old-uid".into());
    template.metadata.resource_version = Some("77".into());
    template.status = Some(Default::default());
    let config = TaskManagerPodsConfig {
        config_map: Some("weir-conf".into()),
        template,
        ..config()
    };
    let (pods, _handle) = mocked(config).await;
    let pod = serde_json::to_value(pods.pod("jm-taskmanager-9")).expect("JSON");

    let mut expected = expected_pod("jm-taskmanager-9");
    expected["spec"]["volumes"] =
        json!([{"name": "weir-conf", "configMap": {"name": "weir-conf"}}]);
    let tm = &mut expected["spec"]["containers"][0];
    tm["env"].as_array_mut().expect("env").insert(
        4,
        json!({"name": "WEIR_CONFIG", "value": "/etc/weir/weir.yaml"}),
    );
    tm["volumeMounts"] = json!([{"name": "weir-conf", "mountPath": "/etc/weir", "readOnly": true}]);
    assert_eq!(pod, expected);
}

#[tokio::test]
async fn a_taken_name_skips_past_existing_pods() {
    let (pods, mut handle) = mocked(config()).await;
    let server = tokio::spawn(async move {
        // An earlier JobManager process left pods 1..=3 behind.
        let (_, r) = expect(&mut handle, Method::POST, PODS_PATH).await;
        respond(r, 409, &status(409, "AlreadyExists"));
        let (_, r) = expect(
            &mut handle,
            Method::GET,
            "/api/v1/namespaces/weir/pods?&labelSelector=weir.dev%2Fjobmanager%3Djm",
        )
        .await;
        respond(
            r,
            200,
            &json!({
                "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "50"},
                "items": [
                    {"metadata": {"name": "jm-taskmanager-3"}, "status": {"phase": "Running"}},
                    {"metadata": {"name": "jm-taskmanager-1"}, "status": {"phase": "Running"}},
                ],
            }),
        );
        let (body, r) = expect(&mut handle, Method::POST, PODS_PATH).await;
        assert_eq!(body, expected_pod("jm-taskmanager-4"));
        respond(r, 201, &body);
    });
    assert_eq!(pods.create().await.expect("create"), "jm-taskmanager-4");
    server.await.expect("server");
}

#[tokio::test]
async fn create_errors_name_the_pod() {
    let (pods, mut handle) = mocked(config()).await;
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::POST, PODS_PATH).await;
        respond(r, 403, &status(403, "Forbidden"));
    });
    let err = pods.create().await.expect_err("forbidden");
    assert_eq!(err.status_code(), Some(403));
    assert!(
        err.to_string()
            .starts_with("create Pod weir/jm-taskmanager-1: "),
        "{err}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn delete_sends_delete_and_accepts_a_missing_pod() {
    let (pods, mut handle) = mocked(config()).await;
    let server = tokio::spawn(async move {
        let (body, r) = expect(
            &mut handle,
            Method::DELETE,
            "/api/v1/namespaces/weir/pods/jm-taskmanager-1?",
        )
        .await;
        assert_eq!(body, json!({}));
        let mut pod = expected_pod("jm-taskmanager-1");
        pod["metadata"]["deletionTimestamp"] = json!("2025-06-01T12:00:00Z");
        respond(r, 200, &pod);

        let (_, r) = expect(
            &mut handle,
            Method::DELETE,
            "/api/v1/namespaces/weir/pods/jm-taskmanager-2?",
        )
        .await;
        respond(r, 404, &status(404, "NotFound"));

        let (_, r) = expect(
            &mut handle,
            Method::DELETE,
            "/api/v1/namespaces/weir/pods/jm-taskmanager-3?",
        )
        .await;
        respond(r, 500, &status(500, "InternalError"));
    });
    pods.delete("jm-taskmanager-1").await.expect("delete");
    pods.delete("jm-taskmanager-2")
        .await
        .expect("an already deleted pod is fine");
    let err = pods
        .delete("jm-taskmanager-3")
        .await
        .expect_err("a server error is not");
    assert!(
        err.to_string()
            .starts_with("delete Pod weir/jm-taskmanager-3: "),
        "{err}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn lists_owned_pods_with_phase() {
    let (pods, mut handle) = mocked(config()).await;
    let server = tokio::spawn(async move {
        let (_, r) = expect(
            &mut handle,
            Method::GET,
            "/api/v1/namespaces/weir/pods?&labelSelector=weir.dev%2Fjobmanager%3Djm",
        )
        .await;
        respond(
            r,
            200,
            &json!({
                "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "50"},
                "items": [
                    {"metadata": {"name": "jm-taskmanager-1"}, "status": {"phase": "Running"}},
                    {"metadata": {"name": "jm-taskmanager-2"}, "status": {"phase": "Pending"}},
                    {"metadata": {"name": "jm-taskmanager-3"}},
                ],
            }),
        );
    });
    assert_eq!(
        pods.list().await.expect("list"),
        vec![
            PodSummary {
                name: "jm-taskmanager-1".into(),
                phase: Some("Running".into())
            },
            PodSummary {
                name: "jm-taskmanager-2".into(),
                phase: Some("Pending".into())
            },
            PodSummary {
                name: "jm-taskmanager-3".into(),
                phase: None
            },
        ]
    );
    server.await.expect("server");
}

fn running(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "weir", "resourceVersion": "60"},
        "spec": {"containers": [{"name": "taskmanager", "image": "weir:test"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "taskmanager", "image": "weir:test", "imageID": "", "ready": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2025-06-01T12:00:00Z"}},
        }]},
    })
}

#[tokio::test]
async fn failures_reports_oom_kills_and_deleted_pods() {
    let (pods, mut handle) = mocked(config()).await;
    let mut failures = pods.failures();
    let server = tokio::spawn(async move {
        let (_, r) = expect(
            &mut handle,
            Method::GET,
            "/api/v1/namespaces/weir/pods?&labelSelector=weir.dev%2Fjobmanager%3Djm&limit=500",
        )
        .await;
        respond(
            r,
            200,
            &json!({
                "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "100"},
                "items": [running("jm-taskmanager-1"), running("jm-taskmanager-2")],
            }),
        );
        let (_, r) = expect(
            &mut handle,
            Method::GET,
            "/api/v1/namespaces/weir/pods?&watch=true&timeoutSeconds=290&labelSelector=weir.dev%2Fjobmanager%3Djm&allowWatchBookmarks=true&resourceVersion=100",
        )
        .await;
        let mut oom = running("jm-taskmanager-1");
        oom["metadata"]["resourceVersion"] = json!("101");
        oom["status"]["containerStatuses"][0]["ready"] = json!(false);
        oom["status"]["containerStatuses"][0]["state"] = json!({
            "terminated": {"exitCode": 137, "reason": "OOMKilled"},
        });
        let mut gone = running("jm-taskmanager-2");
        gone["metadata"]["resourceVersion"] = json!("102");
        let events = [
            json!({"type": "MODIFIED", "object": oom}),
            // Another status update of the same dead pod is not news.
            json!({"type": "MODIFIED", "object": oom}),
            json!({"type": "DELETED", "object": gone}),
        ];
        let mut lines = Vec::new();
        for event in events {
            serde_json::to_writer(&mut lines, &event).expect("JSON");
            lines.push(b'\n');
        }
        respond_bytes(r, 200, lines);
        // Keep the server up (the watcher will watch again) until the test ends.
        handle
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = timeout(Duration::from_secs(5), failures.next())
            .await
            .expect("a failure within 5s")
            .expect("the stream does not end");
        seen.push(next);
    }
    assert_eq!(
        seen,
        vec![
            PodFailure {
                pod: "jm-taskmanager-1".into(),
                reason: "OOMKilled (exit 137)".into()
            },
            PodFailure {
                pod: "jm-taskmanager-2".into(),
                reason: "pod deleted".into()
            },
        ]
    );
    let _handle = server.await.expect("server");
}

#[tokio::test]
async fn new_needs_a_deployment_with_a_uid() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, DEPLOYMENT_PATH).await;
        respond(
            r,
            200,
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "jm"}}),
        );
    });
    let err = TaskManagerPods::new(client, config())
        .await
        .err()
        .expect("no uid");
    assert_eq!(err.to_string(), "Deployment weir/jm has no metadata.uid");
    server.await.expect("server");
}

#[tokio::test]
async fn new_reports_a_missing_deployment() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, DEPLOYMENT_PATH).await;
        respond(r, 404, &status(404, "NotFound"));
    });
    let err = TaskManagerPods::new(client, config())
        .await
        .err()
        .expect("no deployment");
    assert_eq!(err.status_code(), Some(404));
    assert!(
        err.to_string().starts_with("get Deployment weir/jm: "),
        "{err}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn new_rejects_a_template_without_the_taskmanager_container() {
    let (service, _handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let mut config = config();
    if let Some(spec) = config.template.spec.as_mut() {
        spec.containers.retain(|c| c.name != "taskmanager");
    }
    let err = TaskManagerPods::new(client, config)
        .await
        .err()
        .expect("no taskmanager container");
    assert!(matches!(err, K8sError::TemplateInvalid { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(r#"no container named "taskmanager" (containers: ["log-shipper"])"#),
        "{err}"
    );
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("weir-k8s-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn loads_a_pod_template() {
    let file = TempFile::new(
        "ok.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    team: data\nspec:\n  containers:\n    - name: taskmanager\n      image: weir:test\n",
    );
    let pod = load_pod_template(&file.0).expect("template");
    let spec = pod.spec.expect("spec");
    assert_eq!(spec.containers[0].name, "taskmanager");
    assert_eq!(spec.containers[0].image.as_deref(), Some("weir:test"));
    assert_eq!(
        pod.metadata
            .labels
            .expect("labels")
            .get("team")
            .map(String::as_str),
        Some("data")
    );
}

#[test]
fn template_errors_name_the_file_and_the_problem() {
    let cases = [
        (
            "no-tm.yaml",
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: main\n      image: x\n",
            r#"no container named "taskmanager" (containers: ["main"])"#,
        ),
        (
            "deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nspec: {}\n",
            r#"kind is "Deployment", expected "Pod""#,
        ),
        ("no-kind.yaml", "spec: {}\n", "no kind"),
        ("no-spec.yaml", "apiVersion: v1\nkind: Pod\n", "has no spec"),
        ("bad.yaml", "kind: Pod\nspec: [\n", "not YAML"),
        (
            "bad-field.yaml",
            "apiVersion: v1\nkind: Pod\nspec:\n  containers: 3\n",
            "not a valid Pod",
        ),
    ];
    for (name, text, problem) in cases {
        let file = TempFile::new(name, text);
        let err = load_pod_template(&file.0).expect_err(name);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("pod template {}: ", file.0.display())),
            "{message}"
        );
        assert!(message.contains(problem), "{name}: {message}");
    }

    let missing = std::env::temp_dir().join("weir-k8s-does-not-exist.yaml");
    let err = load_pod_template(&missing).expect_err("missing file");
    assert!(matches!(err, K8sError::TemplateRead { .. }), "{err:?}");
    assert!(
        err.to_string().contains("weir-k8s-does-not-exist.yaml"),
        "{err}"
    );
}
