//! JobManager high availability with real processes: two `weir jobmanager
//! --high-availability kubernetes` elect a leader through a Lease on a fake
//! API server (an in-process HTTP server keeping one Lease, with the API
//! server's optimistic concurrency: a replace with a stale resourceVersion
//! is a 409). The standby answers only its probes; when the leader is
//! killed, it takes over; a leader that stops hands the Lease over.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{api_status, Process};

mod support;

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

fn api_server() -> (SocketAddr, Shared) {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct JobManager {
    process: Process,
    rest: u16,
}

impl JobManager {
    fn start(name: &str, kubeconfig: &std::path::Path) -> JobManager {
        let rest = free_port();
        let process = Process::start_with(
            &[
                "jobmanager",
                "--rpc-address",
                "127.0.0.1:0",
                "--rest-address",
                &format!("127.0.0.1:{rest}"),
                "--high-availability",
                "kubernetes",
                "--pod-name",
                name,
                "--lease-duration",
                "2s",
                "--lease-renew-deadline",
                "1500ms",
                "--lease-retry-period",
                "200ms",
            ],
            &[
                ("KUBECONFIG", kubeconfig.as_os_str()),
                ("KUBERNETES_SERVICE_HOST", "".as_ref()),
            ],
        );
        JobManager { process, rest }
    }

    fn probe(&self, path: &str) -> Option<(u16, String)> {
        weir_testing::http_request(&format!("127.0.0.1:{}", self.rest), "GET", path)
    }

    fn wait_ready(&self, code: u16, within: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some((got, body)) = self.probe("/readyz") {
                if got == code {
                    return body;
                }
            }
            assert!(
                started.elapsed() < within,
                "/readyz on port {} did not answer {code} within {within:?}; log:\n{}",
                self.rest,
                self.process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn holder(shared: &Shared) -> String {
    shared
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

#[test]
fn a_standby_takes_over_when_the_leader_dies_and_a_stopping_leader_hands_over() {
    let (api, shared) = api_server();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = support::write_kubeconfig(dir.path(), api);

    let a = JobManager::start("jm-a", &kubeconfig);
    a.wait_ready(200, Duration::from_secs(20));
    assert_eq!(holder(&shared), "jm-a");

    let b = JobManager::start("jm-b", &kubeconfig);
    let standby = b.wait_ready(503, Duration::from_secs(20));
    assert!(standby.contains("weir-jobmanager-leader"), "{standby}");
    let (healthy, _) = b.probe("/healthz").unwrap();
    assert_eq!(healthy, 200);
    // It stays a standby while the leader renews.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.probe("/readyz").unwrap().0, 503);
    assert_eq!(holder(&shared), "jm-a");

    // kill -9 the leader: the Lease expires and the standby takes it.
    let killed = Instant::now();
    drop(a);
    b.wait_ready(200, Duration::from_secs(15));
    let took = killed.elapsed();
    assert_eq!(holder(&shared), "jm-b");
    let lease = shared.lock().unwrap().lease.clone().unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    eprintln!(
        "the standby took over {:.1} s after the leader was killed",
        took.as_secs_f64()
    );

    // A third replica stands by; the leader stopping (SIGTERM) releases
    // the Lease, so the third leads without waiting for it to expire.
    let c = JobManager::start("jm-c", &kubeconfig);
    c.wait_ready(503, Duration::from_secs(20));
    let stopped = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &b.process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    c.wait_ready(200, Duration::from_secs(15));
    assert_eq!(holder(&shared), "jm-c");
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "a released Lease is taken at once, not after it expires: {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        shared.lock().unwrap().holders,
        vec!["jm-a", "jm-b", "", "jm-c"],
        "holders in order (\"\" is the released Lease)"
    );
}
