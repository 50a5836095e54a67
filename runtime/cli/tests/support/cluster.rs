//! A cluster of `weir jobmanager` and `weir taskmanager` processes on
//! loopback, as the tests run it, and the keyed job whose committed output
//! tells whether every record is there exactly once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_testing::guests;

use super::{run_weir, Process};

pub struct Cluster {
    pub jobmanager: Process,
    pub rpc: String,
    pub rest: SocketAddr,
    pub taskmanagers: Vec<Process>,
    /// The cluster's checkpoint storage (and job store), its own: no other
    /// test's JobManager takes its jobs over.
    pub storage: tempfile::TempDir,
}

/// Where the tests' jobs keep their files: the TaskManagers allow it.
pub fn test_files_root() -> String {
    std::env::temp_dir().to_string_lossy().into_owned()
}

/// Heartbeats every 200 ms; silent for 2 s means lost.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
pub const WAIT: Duration = Duration::from_secs(60);

/// Starts `weir jobmanager` on `rpc` (`127.0.0.1:0` for any port) with
/// `storage`; returns it with its RPC and REST addresses once it is ready.
fn start_jobmanager(rpc: &str, storage: &Path) -> (Process, String, SocketAddr) {
    let jobmanager = Process::start(&[
        "jobmanager",
        "--rpc-address",
        rpc,
        "--rest-address",
        "127.0.0.1:0",
        "--heartbeat-interval",
        "200ms",
        "--heartbeat-timeout",
        "2s",
        "--checkpoint-storage",
        storage.to_str().unwrap(),
    ]);
    let ready = jobmanager.wait_for_line("JobManager ready", WAIT);
    let rpc = ready
        .split("rpc ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .to_string();
    let rest: SocketAddr = ready.rsplit("http://").next().unwrap().parse().unwrap();
    (jobmanager, rpc, rest)
}

/// Kills a process with SIGKILL, as a crash would.
pub fn kill_9(process: &Process) {
    let status = std::process::Command::new("kill")
        .args(["-9", &process.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -9 {}", process.pid());
}

impl Cluster {
    pub fn start(taskmanagers: usize, slots: u32) -> Cluster {
        let storage = tempfile::tempdir().unwrap();
        let (jobmanager, rpc, rest) = start_jobmanager("127.0.0.1:0", storage.path());
        let mut cluster = Cluster {
            jobmanager,
            rpc: format!("http://{rpc}"),
            rest,
            taskmanagers: Vec::new(),
            storage,
        };
        for _ in 0..taskmanagers {
            cluster.add_taskmanager(slots);
        }
        cluster.wait_for_taskmanagers(taskmanagers);
        cluster
    }

    /// Kills the JobManager (kill -9) and starts another on the same RPC
    /// address and storage, as a supervisor restarting it would.
    pub fn restart_jobmanager(&mut self) {
        kill_9(&self.jobmanager);
        let _ = self.jobmanager.child.wait();
        let rpc = self.rpc.trim_start_matches("http://").to_string();
        // The port may linger a moment after the kill.
        let started = Instant::now();
        loop {
            if std::net::TcpListener::bind(&rpc).is_ok() {
                break;
            }
            assert!(started.elapsed() < WAIT, "{rpc} stays taken");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (jobmanager, _, rest) = start_jobmanager(&rpc, self.storage.path());
        self.jobmanager = jobmanager;
        self.rest = rest;
    }

    pub fn add_taskmanager(&mut self, slots: u32) {
        // TaskManagers are given HOST:PORT, clients http://HOST:PORT: both work.
        let tm = Process::start(&[
            "taskmanager",
            "--jobmanager",
            self.rpc.trim_start_matches("http://"),
            "--slots",
            &slots.to_string(),
            "--no-cache",
            "--allowed-path",
            &test_files_root(),
        ]);
        self.taskmanagers.push(tm);
    }

    pub fn wait_for_taskmanagers(&self, count: usize) {
        wait_until(WAIT, || {
            self.get("/taskmanagers")["taskmanagers"]
                .as_array()
                .map(|a| a.len())
                == Some(count)
        });
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = http(self.rest, "GET", path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub fn job(&self, id: &str) -> Value {
        self.get(&format!("/jobs/{id}"))
    }

    pub fn weir(&self, args: &[&str], dir: &Path) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--jobmanager", &self.rpc]);
        run_weir(&all, dir).expect("the command finishes")
    }

    /// Submits `job.yaml` in `dir`; returns the job id.
    pub fn submit(&self, dir: &Path, job: &str) -> String {
        let out = self.weir(&["submit", job, "--output", "json"], dir);
        assert!(
            out.status.success(),
            "submit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
        reply["jobId"].as_str().unwrap().to_string()
    }

    /// Waits for the job to fail (and only that); returns its details.
    pub fn wait_for_failed(&self, id: &str) -> Value {
        let mut last = Value::Null;
        let started = Instant::now();
        while started.elapsed() < WAIT {
            last = self.job(id);
            match last["state"].as_str().unwrap_or("") {
                "FAILED" => return last,
                "FINISHED" | "CANCELED" => {
                    panic!("job ended {} instead of failing: {last:#}", last["state"])
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        panic!(
            "job not FAILED within {WAIT:?}: {last:#}\njobmanager:\n{}",
            self.jobmanager.log()
        );
    }

    pub fn wait_for_state(&self, id: &str, state: &str) -> Value {
        let mut last = Value::Null;
        let started = Instant::now();
        while started.elapsed() < WAIT {
            last = self.job(id);
            if last["state"] == state {
                return last;
            }
            assert!(
                !(["FAILED", "CANCELED", "FINISHED"]
                    .contains(&last["state"].as_str().unwrap_or(""))),
                "job ended {} while waiting for {state}: {last:#}\njobmanager:\n{}",
                last["state"],
                self.jobmanager.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("job not {state} within {WAIT:?}: {last:#}");
    }
}

pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < timeout,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.1 exchange, enough for the JSON API and /metrics.
pub fn http(address: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with(address, method, path, "")
}

/// An HTTP request with a JSON body (none when empty).
pub fn http_with(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    try_http(address, method, path, body).unwrap_or_else(|| panic!("{method} {path} on {address}"))
}

/// An HTTP request to a server that may be gone: `None` when it is.
pub fn try_http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // axum answers without chunking for these small bodies.
    Some((status, body))
}

/// A keyed job whose state lives in the WASM operator's host-owned keyed
/// state: a running count per generator key, written by the exactly-once
/// file sink, checkpointed every `interval`.
pub fn checkpointed_keyed_job(dir: &Path, records: u64, rate: u64, extra: &str) {
    std::fs::copy(guests().path("keyed-count"), dir.join("keyed_count.wasm")).unwrap();
    std::fs::write(
        dir.join("job.yaml"),
        format!(
            "name: exactly-once\nparallelism: 3\nbatchSize: 200\n\
             source: {{type: generator, count: {records}, rate: {rate}, keys: {KEYS}}}\n\
             operators:\n  - name: count\n    module: keyed_count.wasm\n    keyBy: [key]\n\
             sink: {{type: jsonl, path: out.jsonl}}\n{extra}"
        ),
    )
    .unwrap();
}

pub const KEYS: u64 = 40;

/// Checks the committed output of `checkpointed_keyed_job`: every key's
/// running counts are exactly 1..=n once each, and n is the key's share of
/// the records: a record lost or written twice shows as a gap or a repeat.
pub fn assert_each_record_once(path: &Path, records: u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut counts: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for line in text.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        counts
            .entry(row["key"].as_str().unwrap().to_string())
            .or_default()
            .push(row["count"].as_u64().unwrap());
    }
    assert_eq!(counts.len() as u64, KEYS);
    assert_eq!(
        text.lines().count() as u64,
        records,
        "records in the output"
    );
    for (key, mut seen) in counts {
        seen.sort_unstable();
        let expected: Vec<u64> = (1..=records / KEYS).collect();
        assert!(
            seen == expected,
            "key {key}: {} counts, first differences: {:?}",
            seen.len(),
            seen.iter().zip(&expected).find(|(a, b)| a != b)
        );
    }
}

pub fn completed_checkpoints(cluster: &Cluster, id: &str) -> u64 {
    cluster.get(&format!("/jobs/{id}/checkpoints"))["counts"]["completed"]
        .as_u64()
        .unwrap_or(0)
}
