//! The WeirJob controller, one reconcile pass at a time, against a mocked
//! API server (every request it sends is recorded and asserted) and a fake
//! JobManager.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use weir_k8s::controller::{reconcile, Context, SavepointProgress, FINALIZER};
use weir_k8s::testing::FakeJobs;
use weir_k8s::WeirJob;

/// (method, path, body) of every request the controller sent.
type Sent = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A mocked API server that records each request and answers it with its
/// own body (what the API server returns for a patch of these fields).
fn api_server(resource: &WeirJob) -> (kube::Client, Sent) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let sent: Sent = Arc::default();
    let record = sent.clone();
    let object = serde_json::to_value(resource).unwrap();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let method = request.method().to_string();
            let path = request.uri().path().to_string();
            let body = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            record
                .lock()
                .unwrap()
                .push((method, path.clone(), body.clone()));
            let answer = if path.contains("/events") {
                body
            } else {
                object.clone()
            };
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
        }
    });
    (kube::Client::new(service, "weir"), sent)
}

fn weirjob(extra_spec: Value, status: Value, generation: i64) -> WeirJob {
    let mut spec = json!({
        "job": {
            "name": "wc",
            "source": {"type": "generator", "count": 100},
            "operators": [{"name": "tokenize", "module": "old.wasm", "sha256": "00"},
                          {"name": "count", "builtin": "count", "keyBy": ["word"]}],
            "sink": {"type": "stdout"}
        },
        "modules": {"tokenize": "oci://r.example/weir/tokenize:2"},
        "parallelism": 3
    });
    for (key, value) in extra_spec.as_object().unwrap() {
        spec[key] = value.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "WeirJob",
        "metadata": {"name": "wc", "namespace": "weir", "generation": generation,
                     "resourceVersion": "7", "uid": "u-1",
                     "finalizers": if status.is_null() { json!([]) } else { json!([FINALIZER]) }},
        "spec": spec,
        "status": status,
    }))
    .unwrap()
}

async fn pass(resource: WeirJob, jobs: &Arc<FakeJobs>) -> Vec<(String, String, Value)> {
    let (client, sent) = api_server(&resource);
    let context = Arc::new(Context::new(client, jobs.clone(), Some("jm-0".into())));
    reconcile(Arc::new(resource), context).await.unwrap();
    let sent = sent.lock().unwrap().clone();
    sent
}

fn status_patch(sent: &[(String, String, Value)]) -> Value {
    sent.iter()
        .find(|(m, p, _)| m == "PATCH" && p.ends_with("/weirjobs/wc/status"))
        .map(|(_, _, body)| body["status"].clone())
        .unwrap_or_else(|| panic!("no status patch in {sent:#?}"))
}

fn event_reasons(sent: &[(String, String, Value)]) -> Vec<String> {
    sent.iter()
        .filter(|(m, p, _)| m == "POST" && p.contains("/events"))
        .map(|(_, _, body)| body["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_new_weirjob_gets_a_finalizer_and_its_job_is_submitted() {
    let jobs = Arc::new(FakeJobs::default());
    let sent = pass(weirjob(json!({}), Value::Null, 1), &jobs).await;

    let (method, path, body) = &sent[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        (
            "PATCH",
            "/apis/weir.dev/v1alpha1/namespaces/weir/weirjobs/wc"
        )
    );
    assert_eq!(
        body,
        &json!({"metadata": {"finalizers": [FINALIZER], "resourceVersion": "7"}})
    );

    let submitted = jobs.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    let (job, restore) = &submitted[0];
    assert_eq!(restore, &None);
    let spec: Value = serde_json::to_value(job).unwrap();
    assert_eq!(spec["parallelism"], 3);
    assert_eq!(
        spec["operators"][0]["module"],
        "oci://r.example/weir/tokenize:2"
    );
    assert!(
        spec["operators"][0].get("sha256").is_none(),
        "the old pin must go"
    );

    let status = status_patch(&sent);
    assert_eq!(status["jobId"], "new-1");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["state"], "CREATED");
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(event_reasons(&sent), vec!["Submitted"]);
}

#[tokio::test]
async fn the_status_follows_the_running_job() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", Some((4, "s3://w/c/job-1/chk-4")));
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "CREATED"});
    let sent = pass(weirjob(json!({}), status, 1), &jobs).await;
    let status = status_patch(&sent);
    assert_eq!(status["state"], "RUNNING");
    assert_eq!(
        status["lastCheckpoint"],
        json!({"id": 4, "location": "s3://w/c/job-1/chk-4"})
    );
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(event_reasons(&sent), vec!["Running"]);
    assert!(jobs.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_changed_spec_in_savepoint_mode_stops_with_a_savepoint_then_resumes_from_it() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", None);
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "RUNNING"});
    let spec = json!({"upgradeMode": "savepoint", "savepointDirectory": "s3://w/sp"});
    let sent = pass(weirjob(spec.clone(), status, 2), &jobs).await;
    assert_eq!(
        *jobs.stops.lock().unwrap(),
        vec![("job-1".to_string(), Some("s3://w/sp".to_string()))]
    );
    let status = status_patch(&sent);
    assert_eq!(status["state"], "UPGRADING");
    assert_eq!(
        status["pendingStop"],
        json!({"jobId": "job-1", "requestId": "sp-1"})
    );
    assert!(
        jobs.submitted.lock().unwrap().is_empty(),
        "not before the savepoint"
    );

    // The savepoint completes and the job ends: the new spec starts from it.
    jobs.savepoints.lock().unwrap().insert(
        "sp-1".into(),
        SavepointProgress::Completed("s3://w/sp/savepoint-1".into()),
    );
    jobs.set("job-1", "FINISHED", None);
    let sent = pass(weirjob(spec, status, 2), &jobs).await;
    let submitted = jobs.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].1.as_deref(), Some("s3://w/sp/savepoint-1"));
    let status = status_patch(&sent);
    assert_eq!(status["jobId"], "new-1");
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["lastSavepoint"], "s3://w/sp/savepoint-1");
    // A merge patch keeps what it does not name: the finished stop must be
    // sent as null to go.
    assert_eq!(status.get("pendingStop"), Some(&Value::Null), "{status}");
    assert_eq!(
        event_reasons(&sent),
        vec!["SavepointCompleted", "Submitted"]
    );
}

#[tokio::test]
async fn a_changed_spec_in_last_state_mode_cancels_and_resumes_from_the_latest_checkpoint() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", Some((9, "/c/job-1/chk-9")));
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "RUNNING"});
    let spec = json!({"upgradeMode": "last-state"});
    let sent = pass(weirjob(spec.clone(), status, 2), &jobs).await;
    assert_eq!(*jobs.cancelled.lock().unwrap(), vec!["job-1".to_string()]);
    let status = status_patch(&sent);
    assert_eq!(status["restoreFrom"], "/c/job-1/chk-9");

    jobs.set("job-1", "CANCELED", Some((9, "/c/job-1/chk-9")));
    pass(weirjob(spec, status, 2), &jobs).await;
    let submitted = jobs.submitted.lock().unwrap().clone();
    assert_eq!(submitted[0].1.as_deref(), Some("/c/job-1/chk-9"));
}

#[tokio::test]
async fn a_stateless_upgrade_starts_from_nothing() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", Some((9, "/c/job-1/chk-9")));
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "RUNNING",
                        "lastCheckpoint": {"id": 9, "location": "/c/job-1/chk-9"}});
    let sent = pass(weirjob(json!({}), status, 2), &jobs).await;
    assert_eq!(*jobs.cancelled.lock().unwrap(), vec!["job-1".to_string()]);
    let status = status_patch(&sent);
    jobs.set("job-1", "CANCELED", None);
    pass(weirjob(json!({}), status, 2), &jobs).await;
    assert_eq!(jobs.submitted.lock().unwrap()[0].1, None);
}

#[tokio::test]
async fn a_job_the_jobmanager_lost_resumes_from_the_checkpoint_in_the_status() {
    // The JobManager restarted (or a standby took over): job-1 is unknown.
    let jobs = Arc::new(FakeJobs::default());
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "RUNNING",
                        "lastCheckpoint": {"id": 12, "location": "s3://w/c/job-1/chk-12"}});
    let sent = pass(
        weirjob(json!({"upgradeMode": "last-state"}), status, 1),
        &jobs,
    )
    .await;
    let submitted = jobs.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].1.as_deref(), Some("s3://w/c/job-1/chk-12"));
    assert_eq!(status_patch(&sent)["jobId"], "new-1");
}

#[tokio::test]
async fn a_job_that_finished_is_not_started_again() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "FINISHED", None);
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "FINISHED"});
    pass(weirjob(json!({}), status, 1), &jobs).await;
    assert!(jobs.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn suspend_stops_the_job_and_resume_starts_it_again() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", Some((3, "/c/chk-3")));
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "RUNNING"});
    let suspended = json!({"state": "suspended", "upgradeMode": "last-state"});
    let sent = pass(weirjob(suspended.clone(), status, 2), &jobs).await;
    assert_eq!(*jobs.cancelled.lock().unwrap(), vec!["job-1".to_string()]);
    let status = status_patch(&sent);
    assert_eq!(status["state"], "SUSPENDING");

    jobs.set("job-1", "CANCELED", Some((3, "/c/chk-3")));
    let sent = pass(weirjob(suspended, status, 2), &jobs).await;
    let status = status_patch(&sent);
    assert_eq!(status["state"], "SUSPENDED");
    assert_eq!(event_reasons(&sent), vec!["Suspended"]);
    assert!(jobs.submitted.lock().unwrap().is_empty());

    let sent = pass(
        weirjob(json!({"upgradeMode": "last-state"}), status, 3),
        &jobs,
    )
    .await;
    let submitted = jobs.submitted.lock().unwrap().clone();
    assert_eq!(submitted[0].1.as_deref(), Some("/c/chk-3"));
    assert_eq!(status_patch(&sent)["observedGeneration"], 3);
}

#[tokio::test]
async fn deleting_the_resource_stops_the_job_then_releases_the_finalizer() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", None);
    let status = json!({"jobId": "job-1", "observedGeneration": 1, "state": "RUNNING"});
    let mut resource = weirjob(json!({}), status.clone(), 1);
    resource.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    let sent = pass(resource.clone(), &jobs).await;
    assert_eq!(*jobs.cancelled.lock().unwrap(), vec!["job-1".to_string()]);
    assert!(
        !sent
            .iter()
            .any(|(m, p, _)| m == "PATCH" && p.ends_with("/weirjobs/wc")),
        "the finalizer stays while the job runs"
    );

    jobs.set("job-1", "CANCELED", None);
    let sent = pass(resource, &jobs).await;
    let (_, _, body) = sent
        .iter()
        .find(|(m, p, _)| m == "PATCH" && p.ends_with("/weirjobs/wc"))
        .expect("the finalizer is released");
    assert_eq!(
        body,
        &json!({"metadata": {"finalizers": [], "resourceVersion": "7"}})
    );
}

#[tokio::test]
async fn a_spec_that_cannot_be_submitted_is_reported_in_the_status() {
    let jobs = Arc::new(FakeJobs::default());
    let spec = json!({"modules": {"nosuch": "oci://r.example/x:1"}});
    let sent = pass(weirjob(spec, Value::Null, 1), &jobs).await;
    assert!(jobs.submitted.lock().unwrap().is_empty());
    let status = status_patch(&sent);
    assert_eq!(status["state"], "FAILED");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("spec.modules.nosuch"),
        "{status}"
    );
    assert_eq!(event_reasons(&sent), vec!["SubmitFailed"]);
}

/// The object a pass sees comes from the watch cache, which can still lack
/// the status the previous pass wrote. A pass on such a stale object must
/// not submit the job a second time (two jobs would write the same output).
#[tokio::test]
async fn a_pass_on_a_stale_object_does_not_submit_the_job_again() {
    let jobs = Arc::new(FakeJobs::default());
    jobs.set("job-1", "RUNNING", None);
    // What the API server holds: the previous pass's submission.
    let fresh = weirjob(
        json!({}),
        json!({"jobId": "job-1", "observedGeneration": 1, "state": "CREATED"}),
        1,
    );
    // What the cache hands this pass: the object before that status.
    let mut stale = fresh.clone();
    stale.status = None;
    let (client, sent) = api_server(&fresh);
    let context = Arc::new(Context::new(client, jobs.clone(), Some("jm-0".into())));
    reconcile(Arc::new(stale), context).await.unwrap();
    assert!(
        jobs.submitted.lock().unwrap().is_empty(),
        "submitted again: {:?}",
        jobs.submitted.lock().unwrap()
    );
    let sent = sent.lock().unwrap().clone();
    assert!(
        !sent
            .iter()
            .any(|(m, p, _)| m == "PATCH" && p.ends_with("/status")),
        "a stale pass wrote a status: {sent:#?}"
    );
}
