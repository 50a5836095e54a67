//! Native mode on a real API server and controller-manager: `kubectl apply
//! -k k8s/overlays/native` as a user would, then the JobManager's
//! TaskManager pods made from the overlay's own template, as the
//! JobManager's ServiceAccount. The API server's admission checks the pods
//! against the namespace's restricted Pod Security Standard; the garbage
//! collector acts on their owner reference. (No node: the pods are created
//! and stay Pending.)

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use weir_k8s::testing::client_from_kubeconfig;
use weir_k8s::{load_pod_template, PodFailure, TaskManagerPods, TaskManagerPodsConfig};
use weir_testing::{repo_root, KubeControlPlane};

fn config() -> TaskManagerPodsConfig {
    let template = repo_root().join("k8s/overlays/native/taskmanager-pod-template.yaml");
    TaskManagerPodsConfig {
        namespace: "weir".into(),
        owner_deployment: "weir-jobmanager".into(),
        template: load_pod_template(&template).expect("the overlay's pod template"),
        jobmanager_address: "weir-jobmanager:6123".into(),
        slots: 2,
        config_map: Some("weir-conf".into()),
    }
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: not within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The next failure the watch reports for `pod`, within 30 s.
async fn failure_of(
    failures: &mut tokio::sync::mpsc::UnboundedReceiver<PodFailure>,
    pod: &str,
    what: &str,
) -> PodFailure {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let failure = failures.recv().await.expect("the watch goes on");
            if failure.pod == pod {
                return failure;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} reported within 30 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taskmanager_pods_are_admitted_owned_adopted_and_collected() {
    let plane = KubeControlPlane::start_with_controller_manager();
    let overlay = repo_root().join("k8s/overlays/native");
    plane.kubectl(&["apply", "-k", &overlay.display().to_string()]);
    let kubeconfig = plane.service_account_kubeconfig("weir", "weir-jobmanager");
    let client = client_from_kubeconfig(&kubeconfig).await;

    let pods = TaskManagerPods::new(client.clone(), config())
        .await
        .expect("the JobManager reads its Deployment");
    // As the JobManager does: the watch runs from the start, before any pod
    // exists, so it knows every pod it is later told of.
    let mut watch = pods.failures();
    let (failure_sender, mut failures) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(failure) = watch.next().await {
            if failure_sender.send(failure).is_err() {
                break;
            }
        }
    });
    let first = pods
        .create()
        .await
        .expect("a pod the restricted PSS admits");
    let second = pods.create().await.expect("a second pod");
    let mut names: Vec<String> = pods
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    assert_eq!(names, vec![first.clone(), second.clone()]);

    let owner = plane.kubectl(&[
        "-n",
        "weir",
        "get",
        "pod",
        &first,
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(owner, "Deployment/weir-jobmanager");

    // A JobManager that restarts finds its pods and numbers past them.
    let restarted = TaskManagerPods::new(client, config()).await.unwrap();
    let third = restarted
        .create()
        .await
        .expect("a name past the existing pods");
    assert!(third != first && third != second, "{third} reused a name");

    // A pod deleted behind the JobManager's back is reported as a failure.
    plane.kubectl(&["-n", "weir", "delete", "pod", &second, "--wait=false"]);
    let failure = failure_of(&mut failures, &second, "the deletion").await;
    assert!(failure.reason.contains("deleted"), "{failure:?}");
    restarted.delete(&third).await.expect("a delete");
    restarted
        .delete(&third)
        .await
        .expect("a pod already gone is no error");

    // A TaskManager killed for its memory, as the kubelet reports it: the
    // failure names the cause, and the JobManager deletes the pod.
    let oom_killed = r#"{"status": {"phase": "Failed", "containerStatuses": [{
        "name": "taskmanager", "image": "weir:latest", "imageID": "", "ready": false,
        "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}"#;
    plane.kubectl(&[
        "-n",
        "weir",
        "patch",
        "pod",
        &first,
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        oom_killed,
    ]);
    let failure = failure_of(&mut failures, &first, "the OOM kill").await;
    assert_eq!(failure.reason, "OOMKilled (exit 137)");
    restarted
        .delete(&first)
        .await
        .expect("the failed pod deleted");
    let remaining = restarted
        .create()
        .await
        .expect("a pod in the failed one's place");
    let listed: Vec<String> = restarted
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(listed, vec![remaining]);

    // Deleting the JobManager's Deployment deletes its TaskManagers
    // (the garbage collector follows the owner reference).
    plane.kubectl(&["-n", "weir", "delete", "deployment", "weir-jobmanager"]);
    eventually("the TaskManager pods are collected", || {
        plane
            .kubectl(&["-n", "weir", "get", "pods", "-o", "name"])
            .trim()
            .is_empty()
    });
}
