//! A fake Kubernetes API server that keeps one Lease, with the API
//! server's optimistic concurrency (a replace with a stale resourceVersion
//! is a 409): enough for JobManagers to elect a leader in the tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::api_status;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/weir/leases";

#[derive(Default)]
struct Leases {
    lease: Option<Value>,
    version: u64,
    /// Every holder the Lease had, in order.
    holders: Vec<String>,
}

type Shared = Arc<Mutex<Leases>>;

fn store(leases: &mut Leases, mut lease: Value) -> Value {
    leases.version += 1;
    lease["metadata"]["resourceVersion"] = json!(leases.version.to_string());
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if leases.holders.last() != Some(&holder) {
        leases.holders.push(holder);
    }
    leases.lease = Some(lease.clone());
    lease
}

async fn read(State(shared): State<Shared>, Path(_): Path<String>) -> Response {
    match &shared.lock().unwrap().lease {
        Some(lease) => Json(lease.clone()).into_response(),
        None => api_status(404, "NotFound"),
    }
}

async fn create(State(shared): State<Shared>, Json(lease): Json<Value>) -> Response {
    let mut leases = shared.lock().unwrap();
    if leases.lease.is_some() {
        return api_status(409, "AlreadyExists");
    }
    (StatusCode::CREATED, Json(store(&mut leases, lease))).into_response()
}

async fn replace(
    State(shared): State<Shared>,
    Path(_): Path<String>,
    Json(lease): Json<Value>,
) -> Response {
    let mut leases = shared.lock().unwrap();
    let current = leases
        .lease
        .as_ref()
        .map(|l| l["metadata"]["resourceVersion"].clone());
    if current != Some(lease["metadata"]["resourceVersion"].clone()) {
        return api_status(409, "Conflict");
    }
    Json(store(&mut leases, lease)).into_response()
}

fn serve() -> (SocketAddr, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route(LEASES, post(create))
        .route(&format!("{LEASES}/{{name}}"), get(read).put(replace))
        .with_state(shared.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (address, shared)
}

/// The running server: its address, and what it holds.
pub struct FakeLeaseServer {
    pub address: SocketAddr,
    shared: Shared,
}

impl FakeLeaseServer {
    pub fn start() -> FakeLeaseServer {
        let (address, shared) = serve();
        FakeLeaseServer { address, shared }
    }

    /// Who holds the Lease now ("" when released or never taken).
    pub fn holder(&self) -> String {
        self.shared
            .lock()
            .unwrap()
            .lease
            .as_ref()
            .map_or(String::new(), |l| {
                l["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    }

    pub fn lease(&self) -> Option<Value> {
        self.shared.lock().unwrap().lease.clone()
    }

    /// Every holder the Lease had, in order.
    pub fn holders(&self) -> Vec<String> {
        self.shared.lock().unwrap().holders.clone()
    }
}
