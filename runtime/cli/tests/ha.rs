//! JobManager high availability with real processes: two `weir jobmanager
//! --high-availability kubernetes` elect a leader through a Lease on a fake
//! API server (an in-process HTTP server keeping one Lease, with the API
//! server's optimistic concurrency: a replace with a stale resourceVersion
//! is a 409). The standby answers only its probes; when the leader is
//! killed, it takes over; a leader that stops hands the Lease over.

use std::process::Command;
use std::time::{Duration, Instant};

use support::lease::FakeLeaseServer;
use support::{free_port, Process};

mod support;

struct JobManager {
    process: Process,
    rest: u16,
}

impl JobManager {
    /// A JobManager of the HA pair, on the pair's one checkpoint storage
    /// (next to the kubeconfig), where a new leader finds the jobs.
    fn start(name: &str, kubeconfig: &std::path::Path) -> JobManager {
        let rest = free_port();
        let storage = kubeconfig
            .parent()
            .expect("the kubeconfig is in a directory")
            .join("checkpoints");
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
    let api = FakeLeaseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = support::write_kubeconfig(dir.path(), api.address);

    let a = JobManager::start("jm-a", &kubeconfig);
    a.wait_ready(200, Duration::from_secs(20));
    assert_eq!(api.holder(), "jm-a");

    let b = JobManager::start("jm-b", &kubeconfig);
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
    let c = JobManager::start("jm-c", &kubeconfig);
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
    assert_eq!(
        api.holders(),
        vec!["jm-a", "jm-b", "", "jm-c"],
        "holders in order (\"\" is the released Lease)"
    );
}
