//! A mocked API server for tests, the kube-rs practice: a `kube::Client`
//! over `tower_test`, and helpers to take each request the client sends,
//! check its method and path, read its JSON body, and answer it as the API
//! server would. Behind the `testing` feature.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{json, Value};
use tower_test::mock;
use weir_types::JobSpec;

use crate::controller::{BoxFuture, ControlError, JobControl, JobView, SavepointProgress};
use crate::crd::CheckpointReference;

pub type Handle = mock::Handle<Request<Body>, Response<Body>>;
pub type Responder = mock::SendResponse<Response<Body>>;

/// A client of a real API server, from a kubeconfig file (the tests'
/// control plane writes one per identity).
pub async fn client_from_kubeconfig(path: &std::path::Path) -> kube::Client {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let kubeconfig = Kubeconfig::read_from(path).expect("a kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a client config");
    kube::Client::try_from(config).expect("a client")
}

/// A client whose requests arrive at the returned handle.
pub fn client(namespace: &str) -> (kube::Client, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, namespace.to_string()), handle)
}

/// Receives the next request, checks method and path (with its query), and
/// returns its JSON body (Null when empty) and the way to answer it.
pub async fn expect(handle: &mut Handle, method: Method, path: &str) -> (Value, Responder) {
    let (request, responder) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("a request within 5s")
        .expect("client still connected");
    assert_eq!(request.method(), method, "method of {}", request.uri());
    assert_eq!(request.uri().to_string(), path);
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON request body")
    };
    (body, responder)
}

pub fn respond_bytes(responder: Responder, status: u16, body: Vec<u8>) {
    let response = Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("response");
    responder.send_response(response);
}

pub fn respond(responder: Responder, status: u16, body: &Value) {
    respond_bytes(responder, status, serde_json::to_vec(body).expect("JSON"));
}

/// The API server's error object.
pub fn status(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": format!("{reason} for the test"), "reason": reason, "code": code,
    })
}

/// A JobManager for the controller's tests: submissions, cancels and
/// stops are recorded; job states are what the test sets.
#[derive(Default)]
pub struct FakeJobs {
    pub jobs: Mutex<HashMap<String, JobView>>,
    pub submitted: Mutex<Vec<(JobSpec, Option<String>)>>,
    pub cancelled: Mutex<Vec<String>>,
    pub stops: Mutex<Vec<(String, Option<String>)>>,
    pub savepoints: Mutex<HashMap<String, SavepointProgress>>,
}

impl FakeJobs {
    pub fn set(&self, id: &str, state: &str, checkpoint: Option<(u64, &str)>) {
        self.jobs.lock().unwrap().insert(
            id.into(),
            JobView {
                state: state.parse().expect("a job state"),
                message: String::new(),
                restarts: 0,
                last_checkpoint: checkpoint.map(|(id, location)| CheckpointReference {
                    id,
                    location: location.into(),
                    completed_ms: None,
                }),
            },
        );
    }
}

impl JobControl for FakeJobs {
    fn submit(
        &self,
        spec: JobSpec,
        restore_from: Option<String>,
    ) -> BoxFuture<'_, Result<String, ControlError>> {
        Box::pin(async move {
            let mut submitted = self.submitted.lock().unwrap();
            submitted.push((spec, restore_from));
            let id = format!("new-{}", submitted.len());
            drop(submitted);
            self.set(&id, "CREATED", None);
            Ok(id)
        })
    }
    fn pin_modules(&self, spec: JobSpec) -> BoxFuture<'_, Result<JobSpec, ControlError>> {
        Box::pin(async move { Ok(spec) })
    }
    fn job(&self, job_id: &str) -> Option<JobView> {
        self.jobs.lock().unwrap().get(job_id).cloned()
    }
    fn cancel(&self, job_id: &str) {
        self.cancelled.lock().unwrap().push(job_id.into());
    }
    fn stop_with_savepoint(
        &self,
        job_id: &str,
        directory: Option<String>,
    ) -> Result<String, ControlError> {
        self.stops.lock().unwrap().push((job_id.into(), directory));
        self.savepoints
            .lock()
            .unwrap()
            .insert("sp-1".into(), SavepointProgress::InProgress);
        Ok("sp-1".into())
    }
    fn savepoint(&self, _job_id: &str, request_id: &str) -> Option<SavepointProgress> {
        self.savepoints.lock().unwrap().get(request_id).cloned()
    }
}
