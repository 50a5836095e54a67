//! A mocked API server for tests, the kube-rs practice: a `kube::Client`
//! over `tower_test`, and helpers to take each request the client sends,
//! check its method and path, read its JSON body, and answer it as the API
//! server would. Behind the `testing` feature.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{json, Value};
use tower_test::mock;

pub type Handle = mock::Handle<Request<Body>, Response<Body>>;
pub type Responder = mock::SendResponse<Response<Body>>;

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
