//! The native resource manager against a mocked Kubernetes API server:
//! the pods it creates and deletes for a JobManager core with fake
//! TaskManagers, and how pod failures drop TaskManagers.

use std::sync::Arc;
use std::time::Duration;
use weir_k8s::testing::{expect, respond, Handle};

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use kube::client::Body;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tower_test::mock;
use weir_jobmanager::{Core, NativeConfig, NativeResourceManager};
use weir_k8s::{PodFailure, TaskManagerPods, TaskManagerPodsConfig};
use weir_proto::v1::{JobManagerMessage, RegisterTaskManager};

const PODS_PATH: &str = "/api/v1/namespaces/weir/pods?";

/// Runs forever on three slots (parallelism 3).
const WIDE_JOB: &str = "name: wide\nparallelism: 3\nrestartStrategy: {type: fixed-delay, attempts: 3, delay: 1h}\nsource: {type: generator}\nsink: {type: blackhole}\n";

/// No request comes while the resource manager is idle.
async fn expect_nothing(handle: &mut Handle) {
    if let Ok(Some((request, _))) = timeout(Duration::from_millis(100), handle.next_request()).await
    {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

fn template() -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {},
        "spec": {"containers": [{"name": "taskmanager", "image": "weir:test", "args": ["taskmanager"]}]},
    }))
    .expect("template")
}

fn core() -> Arc<Core> {
    Arc::new(Core::new(
        Duration::from_secs(1),
        Duration::from_secs(60),
        "memory:///checkpoints".into(),
    ))
}

/// A resource manager over `TaskManagerPods` of Deployment `jm` with two
/// slots per pod, answering the one Deployment read.
async fn resource_manager(
    core: Arc<Core>,
    config: NativeConfig,
) -> (NativeResourceManager, Handle) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let server = tokio::spawn(async move {
        let (_, r) = expect(
            &mut handle,
            Method::GET,
            "/apis/apps/v1/namespaces/weir/deployments/jm",
        )
        .await;
        respond(
            r,
            200,
            &json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "jm", "namespace": "weir", "uid": "uid-1"},
                "spec": {"selector": {"matchLabels": {"app": "jm"}}, "template": {}},
            }),
        );
        handle
    });
    let pods = TaskManagerPods::new(
        client,
        TaskManagerPodsConfig {
            namespace: "weir".into(),
            owner_deployment: "jm".into(),
            template: template(),
            jobmanager_address: "jm:6123".into(),
            slots: 2,
            config_map: None,
        },
    )
    .await
    .expect("TaskManagerPods");
    let handle = server.await.expect("server");
    (NativeResourceManager::new(core, pods, config), handle)
}

fn fake_task_manager(
    core: &Core,
    id: &str,
    pod: &str,
    slots: u32,
) -> mpsc::Receiver<Result<JobManagerMessage, tonic::Status>> {
    let (sender, receiver) = mpsc::channel(64);
    core.register(
        RegisterTaskManager {
            task_manager_id: id.into(),
            data_address: format!("{id}:1"),
            slots,
            pod_name: pod.into(),
            ..RegisterTaskManager::default()
        },
        sender,
    );
    receiver
}

fn task_manager_ids(core: &Core) -> Vec<String> {
    core.task_managers().into_iter().map(|tm| tm.id).collect()
}

/// Answers the POSTs of `count` pod creations; returns the names sent.
async fn answer_creates(handle: &mut Handle, count: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..count {
        let (body, r) = expect(handle, Method::POST, PODS_PATH).await;
        let name = body["metadata"]["name"]
            .as_str()
            .expect("a named pod")
            .to_string();
        assert_eq!(body["metadata"]["labels"]["weir.dev/jobmanager"], "jm");
        respond(r, 201, &body);
        names.push(name);
    }
    names
}

#[tokio::test]
async fn creates_pods_for_waiting_jobs_and_drops_a_task_manager_whose_pod_failed() {
    let core = core();
    let (mut rm, mut handle) = resource_manager(core.clone(), NativeConfig::default()).await;
    let job = core.submit(WIDE_JOB, None).expect("submit");

    // Three slots at two per pod: two pods, and no more while they start.
    let server = tokio::spawn(async move {
        let names = answer_creates(&mut handle, 2).await;
        (names, handle)
    });
    rm.reconcile().await;
    let (names, mut handle) = server.await.expect("server");
    assert_eq!(names, ["jm-taskmanager-1", "jm-taskmanager-2"]);
    assert_eq!(rm.pending_pods(), names);
    rm.reconcile().await;
    expect_nothing(&mut handle).await;

    let _first = fake_task_manager(&core, "tm-1", "jm-taskmanager-1", 2);
    let _second = fake_task_manager(&core, "tm-2", "jm-taskmanager-2", 2);
    rm.reconcile().await;
    expect_nothing(&mut handle).await;
    assert!(rm.pending_pods().is_empty(), "both registered");
    assert_eq!(
        core.job(&job).expect("job").job_state(),
        Some(weir_types::JobState::Running)
    );

    rm.pod_failed(PodFailure {
        pod: "jm-taskmanager-1".into(),
        reason: "OOMKilled (exit 137)".into(),
    });
    // Dropped at once: the heartbeat timeout is a minute away.
    assert_eq!(task_manager_ids(&core), ["tm-2"]);
    let details = core.job(&job).expect("job");
    assert_eq!(details.job_state(), Some(weir_types::JobState::Restarting));
    assert!(
        details
            .status_message
            .contains("its pod jm-taskmanager-1 failed: OOMKilled (exit 137)"),
        "{}",
        details.status_message
    );

    // The job waits again for three slots, two are free: one more pod.
    let server = tokio::spawn(async move {
        let names = answer_creates(&mut handle, 1).await;
        (names, handle)
    });
    rm.reconcile().await;
    let (names, _handle) = server.await.expect("server");
    assert_eq!(names, ["jm-taskmanager-3"]);

    // The same failure again (the watch also reports the deletion) is harmless.
    rm.pod_failed(PodFailure {
        pod: "jm-taskmanager-1".into(),
        reason: "pod deleted".into(),
    });
    assert_eq!(task_manager_ids(&core), ["tm-2"]);
}

#[tokio::test]
async fn deletes_the_pods_of_idle_task_managers_once_no_job_waits() {
    let core = core();
    let config = NativeConfig {
        idle_timeout: Duration::from_millis(30),
        ..NativeConfig::default()
    };
    let (mut rm, mut handle) = resource_manager(core.clone(), config).await;
    let _ours = fake_task_manager(&core, "tm-ours", "jm-taskmanager-7", 2);
    // Not a pod of this JobManager's, and no pod at all: never deleted.
    let _other = fake_task_manager(&core, "tm-other", "someone-else", 1);
    let _bare = fake_task_manager(&core, "tm-bare", "", 1);

    // Not idle long enough yet.
    rm.reconcile().await;
    expect_nothing(&mut handle).await;

    // Idle long enough, but a job waits for more slots than there are
    // (5 > 4 free): pods are created, none deleted.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = core
        .submit(&WIDE_JOB.replace("parallelism: 3", "parallelism: 5"), None)
        .expect("submit");
    let server = tokio::spawn(async move {
        let names = answer_creates(&mut handle, 1).await;
        (names, handle)
    });
    rm.reconcile().await;
    let (names, mut handle) = server.await.expect("server");
    assert_eq!(names, ["jm-taskmanager-1"]);
    assert_eq!(task_manager_ids(&core).len(), 3);

    core.cancel(&waiting);
    let server = tokio::spawn(async move {
        let (_, r) = expect(
            &mut handle,
            Method::DELETE,
            "/api/v1/namespaces/weir/pods/jm-taskmanager-7?",
        )
        .await;
        respond(
            r,
            200,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jm-taskmanager-7"}}),
        );
        handle
    });
    rm.reconcile().await;
    let mut handle = server.await.expect("server");
    assert_eq!(task_manager_ids(&core), ["tm-bare", "tm-other"]);
    rm.reconcile().await;
    expect_nothing(&mut handle).await;
}

#[tokio::test]
async fn deletes_a_pod_that_never_registers() {
    let core = core();
    let config = NativeConfig {
        registration_timeout: Duration::from_millis(30),
        ..NativeConfig::default()
    };
    let (mut rm, mut handle) = resource_manager(core.clone(), config).await;
    core.submit(&WIDE_JOB.replace("parallelism: 3", "parallelism: 1"), None)
        .expect("submit");
    let server = tokio::spawn(async move {
        let names = answer_creates(&mut handle, 1).await;
        (names, handle)
    });
    rm.reconcile().await;
    let (names, mut handle) = server.await.expect("server");
    assert_eq!(names, ["jm-taskmanager-1"]);

    tokio::time::sleep(Duration::from_millis(50)).await;
    let server = tokio::spawn(async move {
        let (_, r) = expect(
            &mut handle,
            Method::DELETE,
            "/api/v1/namespaces/weir/pods/jm-taskmanager-1?",
        )
        .await;
        respond(
            r,
            200,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jm-taskmanager-1"}}),
        );
        handle
    });
    rm.reconcile().await;
    let _handle = server.await.expect("server");
    assert!(rm.pending_pods().is_empty());
}

/// The running loop: a pod failure from the watch drops the TaskManager.
#[tokio::test]
async fn a_failure_from_the_pod_watch_drops_the_task_manager() {
    let core = core();
    let (rm, mut handle) = resource_manager(core.clone(), NativeConfig::default()).await;
    let _tm = fake_task_manager(&core, "tm-1", "jm-taskmanager-1", 2);
    let failed = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "jm-taskmanager-1", "namespace": "weir", "resourceVersion": "11"},
        "spec": {"containers": [{"name": "taskmanager", "image": "weir:test"}]},
        "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."},
    });
    let server = tokio::spawn(async move {
        // The watch lists first, then watches; no job needs pods, so these
        // are the only requests.
        let (request, r) = timeout(Duration::from_secs(5), handle.next_request())
            .await
            .expect("a request within 5s")
            .expect("client still connected");
        assert_eq!(request.method(), Method::GET);
        assert!(
            request
                .uri()
                .to_string()
                .contains("labelSelector=weir.dev%2Fjobmanager%3Djm"),
            "{}",
            request.uri()
        );
        respond(
            r,
            200,
            &json!({
                "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "10"},
                "items": [],
            }),
        );
        let (request, r) = timeout(Duration::from_secs(5), handle.next_request())
            .await
            .expect("a request within 5s")
            .expect("client still connected");
        assert!(
            request.uri().to_string().contains("watch=true"),
            "{}",
            request.uri()
        );
        let mut line =
            serde_json::to_vec(&json!({"type": "ADDED", "object": failed})).expect("JSON");
        line.push(b'\n');
        let response = Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(line))
            .expect("response");
        r.send_response(response);
        handle
    });
    let running = rm.spawn();
    let dropped = timeout(Duration::from_secs(5), async {
        while !core.task_managers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    running.abort();
    assert!(dropped.is_ok(), "the TaskManager was not dropped");
    let _handle = server.await.expect("server");
}

#[tokio::test]
async fn a_pod_that_fails_before_registering_is_replaced_after_a_backoff() {
    let core = core();
    let (mut rm, mut handle) = resource_manager(core.clone(), NativeConfig::default()).await;
    core.submit(&WIDE_JOB.replace("parallelism: 3", "parallelism: 1"), None)
        .expect("submit");
    let server = tokio::spawn(async move {
        let names = answer_creates(&mut handle, 1).await;
        (names, handle)
    });
    rm.reconcile().await;
    let (names, mut handle) = server.await.expect("server");
    assert_eq!(names, ["jm-taskmanager-1"]);

    rm.pod_failed(PodFailure {
        pod: "jm-taskmanager-1".into(),
        reason: "Error (exit 1)".into(),
    });
    assert!(rm.pending_pods().is_empty());
    // Not at once: a pod that cannot start would be replaced in a loop.
    rm.reconcile().await;
    expect_nothing(&mut handle).await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let server = tokio::spawn(async move {
        let names = answer_creates(&mut handle, 1).await;
        (names, handle)
    });
    rm.reconcile().await;
    let (names, _handle) = server.await.expect("server");
    assert_eq!(names, ["jm-taskmanager-2"]);
}
