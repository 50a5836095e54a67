//! The WeirJob resource on a real API server (etcd and kube-apiserver from
//! `scripts/setup-kube-control-plane.sh`): the schema generated from the job
//! spec's types is one the API server accepts, it takes the example
//! resource, and it refuses what the controller could not read: integers
//! beyond their Rust types, misspelt fields, unknown source types. What
//! the schema cannot say (which fields a source type needs) fails the one
//! resource, in its status, while the controller goes on with the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Api;
use weir_k8s::controller::Context;
use weir_k8s::testing::{client_from_kubeconfig, FakeJobs};
use weir_k8s::WeirJob;
use weir_testing::{repo_root, KubeControlPlane, KubectlError};
use weir_types::SourceSpec;

fn plane_with_crd() -> KubeControlPlane {
    let plane = KubeControlPlane::start();
    let crd = repo_root().join("k8s/crd/weirjob.yaml");
    plane.kubectl(&["apply", "-f", &crd.display().to_string()]);
    plane.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/weirjobs.weir.dev",
    ]);
    // The namespace and the JobManager's ServiceAccount, Role and
    // RoleBinding as deployed: the controller below acts with them.
    plane.apply(&["k8s/base/namespace.yaml", "k8s/base/jobmanager-rbac.yaml"]);
    plane
}

/// The example resource with `edit` applied to its text, as `kubectl
/// create` (strict field validation, as kubectl does by default) answers.
fn create_example(
    plane: &KubeControlPlane,
    edit: impl Fn(String) -> String,
) -> Result<String, KubectlError> {
    let example = std::fs::read_to_string(repo_root().join("k8s/examples/wordcount.weirjob.yaml"))
        .expect("the example WeirJob");
    let file = plane.dir.join("weirjob.yaml");
    std::fs::write(&file, edit(example)).expect("the edited example");
    plane.kubectl_output(&["create", "-f", &file.display().to_string()])
}

/// A client acting as the JobManager's ServiceAccount (RBAC as deployed).
async fn jobmanager_client(plane: &KubeControlPlane) -> kube::Client {
    client_from_kubeconfig(&plane.service_account_kubeconfig("weir", "weir-jobmanager")).await
}

#[tokio::test]
async fn the_api_server_takes_the_example_and_the_controller_reads_it_typed() {
    let plane = plane_with_crd();
    create_example(&plane, |text| text).expect("the example is accepted");
    let api: Api<WeirJob> = Api::namespaced(jobmanager_client(&plane).await, "weir");
    let stored = api
        .get("wordcount")
        .await
        .expect("the stored WeirJob reads typed");
    assert_eq!(stored.spec.parallelism, Some(2));
    assert_eq!(stored.spec.job.operators.len(), 2);
    assert!(
        matches!(&stored.spec.job.source, SourceSpec::Text(text) if text.path == "/etc/weir-examples/input.txt"),
        "{:?}",
        stored.spec.job.source
    );
    // The operator's own config is kept whole, not pruned.
    assert_eq!(stored.spec.job.operators[0].config["lowercase"], true);
    let spec = weir_k8s::controller::job_spec(&stored).expect("a valid job");
    assert_eq!(spec.parallelism, 2);
}

#[test]
fn the_api_server_refuses_what_the_controller_could_not_read() {
    let plane = plane_with_crd();
    let refused = |edit: &dyn Fn(String) -> String, expected: &[&str]| {
        let error = create_example(&plane, edit)
            .expect_err("refused")
            .to_string();
        for part in expected {
            assert!(error.contains(part), "{part:?} not in: {error}");
        }
    };
    // Beyond a u32 (the defect a schema without bounds let through).
    refused(
        &|text| text.replace("  parallelism: 2", "  parallelism: 4294967296"),
        &["spec.parallelism", "4294967295"],
    );
    refused(
        &|text| text.replace("    parallelism: 1", "    parallelism: 0"),
        &["spec.job.parallelism", "greater than or equal to 1"],
    );
    refused(
        &|text| {
            text.replace(
                "        builtin: count",
                "        builtin: count\n        bogus: 1",
            )
        },
        &["bogus"],
    );
    refused(
        &|text| {
            text.replace(
                "    parallelism: 1",
                "    parallelism: 1\n    paralelism: 3",
            )
        },
        &["paralelism"],
    );
    refused(
        &|text| text.replace("type: text", "type: kafka"),
        &["spec.job.source.type", "\"text\""],
    );
}

#[tokio::test]
async fn a_weirjob_the_types_cannot_read_fails_alone() {
    let plane = plane_with_crd();
    // Shaped as the schema says, but a jsonl source without its schema.
    create_example(&plane, |text| {
        text.replace("name: wordcount\n  namespace", "name: broken\n  namespace")
            .replace("type: text", "type: jsonl")
    })
    .expect("the schema cannot tell a jsonl source needs a schema");
    create_example(&plane, |text| text).expect("the example is accepted");

    let client = jobmanager_client(&plane).await;
    let jobs = Arc::new(FakeJobs::default());
    let mut context = Context::new(client.clone(), jobs.clone(), None);
    context.poll = Duration::from_millis(200);
    let controller = tokio::spawn(weir_k8s::controller::run(Arc::new(context), "weir"));

    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client,
        "weir",
        &kube::api::ApiResource::erase::<WeirJob>(&()),
    );
    let started = Instant::now();
    let (error, submitted) = loop {
        let broken = raw.get("broken").await.expect("the broken WeirJob");
        let error = broken.data["status"]["error"].as_str().map(str::to_string);
        let submitted: Vec<String> = jobs
            .submitted
            .lock()
            .unwrap()
            .iter()
            .map(|(spec, _)| spec.name.clone())
            .collect();
        if error.is_some() && !submitted.is_empty() {
            break (error.unwrap_or_default(), submitted);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after 60 s: broken's error {error:?}, submitted {submitted:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    controller.abort();
    assert_eq!(submitted, vec!["wordcount".to_string()]);
    assert!(
        error.contains("spec.job") && error.contains("source: missing field `schema`"),
        "{error}"
    );
}
