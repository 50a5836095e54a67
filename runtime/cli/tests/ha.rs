//! JobManager high availability with real processes: two `weir jobmanager
//! --high-availability kubernetes` elect a leader through a Lease, on a
//! real API server (kube-apiserver and etcd, acting as the JobManager's
//! ServiceAccount with the RBAC of `k8s/base`) and on a fake one (an
//! in-process HTTP server keeping one Lease, with the API server's
//! optimistic concurrency, that also records every holder). The standby
//! answers only its probes; when the leader is killed, it takes over; a
//! leader that stops hands the Lease over.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lease::FakeLeaseServer;
use support::{free_port, Process};
use weir_testing::KubeControlPlane;

mod support;

/// Where the Lease is kept.
trait Leases {
    /// What the JobManagers connect with.
    fn kubeconfig(&self) -> &Path;
    fn lease(&self) -> Option<Value>;
    /// Every holder the Lease had, in order, where the server records it.
    fn holders(&self) -> Option<Vec<String>>;

    /// Who holds the Lease now ("" when released or never taken).
    fn holder(&self) -> String {
        self.lease().map_or(String::new(), |l| {
            l["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    }
}

struct Fake {
    server: FakeLeaseServer,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fake {
    fn start() -> Fake {
        let server = FakeLeaseServer::start();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = support::write_kubeconfig(dir.path(), server.address);
        Fake {
            server,
            kubeconfig,
            _dir: dir,
        }
    }
}

impl Leases for Fake {
    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    fn lease(&self) -> Option<Value> {
        self.server.lease()
    }

    fn holders(&self) -> Option<Vec<String>> {
        Some(self.server.holders())
    }
}

struct Real {
    plane: KubeControlPlane,
    kubeconfig: PathBuf,
}

impl Real {
    fn start() -> Real {
        let plane = KubeControlPlane::start();
        plane.apply(&["k8s/base/namespace.yaml", "k8s/base/jobmanager-rbac.yaml"]);
        let kubeconfig = plane.service_account_kubeconfig("weir", "weir-jobmanager");
        Real { plane, kubeconfig }
    }
}

impl Leases for Real {
    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    fn lease(&self) -> Option<Value> {
        let text = self
            .plane
            .kubectl_output(&[
                "-n",
                "weir",
                "get",
                "lease",
                "weir-jobmanager-leader",
                "-o",
                "json",
            ])
            .ok()?;
        Some(serde_json::from_str(&text).expect("kubectl's JSON"))
    }

    fn holders(&self) -> Option<Vec<String>> {
        None
    }
}

struct JobManager {
    process: Process,
    rest: u16,
}

impl JobManager {
    /// A JobManager of the HA pair, on the pair's one checkpoint storage,
    /// where a new leader finds the jobs.
    fn start(name: &str, kubeconfig: &Path, storage: &Path) -> JobManager {
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
                "--checkpoint-storage",
                storage.to_str().unwrap(),
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

#[test]
fn a_standby_takes_over_when_the_leader_dies_and_a_stopping_leader_hands_over() {
    takes_over_and_hands_over(&Fake::start());
}

#[test]
fn on_a_real_api_server_a_standby_takes_over_and_a_stopping_leader_hands_over() {
    takes_over_and_hands_over(&Real::start());
}

fn takes_over_and_hands_over(api: &dyn Leases) {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("checkpoints");
    let kubeconfig = api.kubeconfig();

    let a = JobManager::start("jm-a", kubeconfig, &storage);
    a.wait_ready(200, Duration::from_secs(20));
    assert_eq!(api.holder(), "jm-a");

    let b = JobManager::start("jm-b", kubeconfig, &storage);
    let standby = b.wait_ready(503, Duration::from_secs(20));
    assert!(standby.contains("weir-jobmanager-leader"), "{standby}");
    let (healthy, _) = b.probe("/healthz").unwrap();
    assert_eq!(healthy, 200);
    // It stays a standby while the leader renews.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.probe("/readyz").unwrap().0, 503);
    assert_eq!(api.holder(), "jm-a");

    // kill -9 the leader: the Lease expires and the standby takes it.
    let killed = Instant::now();
    drop(a);
    b.wait_ready(200, Duration::from_secs(15));
    let took = killed.elapsed();
    assert_eq!(api.holder(), "jm-b");
    let lease = api.lease().unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    eprintln!(
        "the standby took over {:.1} s after the leader was killed",
        took.as_secs_f64()
    );

    // A third replica stands by; the leader stopping (SIGTERM) releases
    // the Lease, so the third leads without waiting for it to expire.
    let c = JobManager::start("jm-c", kubeconfig, &storage);
    c.wait_ready(503, Duration::from_secs(20));
    let stopped = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &b.process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    c.wait_ready(200, Duration::from_secs(15));
    assert_eq!(api.holder(), "jm-c");
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "a released Lease is taken at once, not after it expires: {:?}",
        stopped.elapsed()
    );
    let lease = api.lease().unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 2, "{lease}");
    if let Some(holders) = api.holders() {
        assert_eq!(
            holders,
            vec!["jm-a", "jm-b", "", "jm-c"],
            "holders in order (\"\" is the released Lease)"
        );
    }
}
