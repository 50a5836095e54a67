//! The chaos suite: a checkpointed keyed job on real processes while a
//! seeded random schedule kills them: TaskManagers and the JobManager with
//! kill -9 (some right after the job restarted), and processes that die at
//! fault points inside a checkpoint, a restore, a sink's commit or its
//! restore. Standalone, a killed JobManager is started again on its storage;
//! with HA, a standby takes over and a new standby starts. The assertion is
//! on the committed output: every record exactly once, every key's running
//! counts 1..n.
//!
//! The short form runs in `make test`; `WEIR_CHAOS_LONG=1` runs the long
//! form (at least 20 failures per run; `make chaos` runs it with three
//! seeds). `WEIR_CHAOS_SEED=N` replays a run: the seed is printed first.
//!
//! Fault points exist only in a build with the `fault-points` feature; this
//! suite is skipped in any other (see the Makefile's `test-chaos`).

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::cluster::{assert_each_record_once, checkpointed_keyed_job, kill_9, try_http, WAIT};
use support::lease::FakeLeaseServer;
use support::{free_port, Process};

/// xorshift64*: a seeded, replayable schedule without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis() as u64;
        low + Duration::from_millis(self.below(span + 1))
    }
}

/// How large a run is.
struct Size {
    failures: usize,
    records: u64,
    rate: u64,
    deadline: Duration,
}

fn size() -> Size {
    if std::env::var_os("WEIR_CHAOS_LONG").is_some() {
        Size {
            failures: 20,
            records: 2_400_000,
            rate: 30_000,
            deadline: Duration::from_secs(900),
        }
    } else {
        Size {
            failures: 6,
            records: 480_000,
            rate: 30_000,
            deadline: Duration::from_secs(300),
        }
    }
}

fn seed() -> u64 {
    std::env::var("WEIR_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Fault points a new process may be armed with: (point, probability per
/// time it is reached). A process armed dies there, at most once.
const TASKMANAGER_FAULTS: &[(&str, &str)] = &[
    ("task.snapshot", "0.05"),
    ("tm.restore", "1"),
    ("sink.commit", "0.1"),
    ("sink.restore", "1"),
];
const JOBMANAGER_FAULTS: &[(&str, &str)] = &[
    ("jm.checkpoint.complete", "0.1"),
    ("jm.attempt.reserved", "1"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// One JobManager, started again on its storage when it dies.
    Standalone,
    /// A leader and a standby electing through a Lease.
    HighAvailability,
}

/// The processes of one run and what happened to them.
struct Chaos {
    mode: Mode,
    rng: Rng,
    started: Instant,
    storage: tempfile::TempDir,
    job_dir: PathBuf,
    rpc: String,
    lease: Option<(FakeLeaseServer, PathBuf)>,
    /// JobManagers, the leader first (one standalone).
    jobmanagers: Vec<(Process, u16)>,
    taskmanagers: Vec<Process>,
    /// What was killed when, for the report.
    timeline: Vec<String>,
    failures: usize,
    /// Whether new processes may still be armed with fault points.
    arming: bool,
    names: usize,
}

impl Chaos {
    fn new(mode: Mode, seed: u64, job_dir: &Path) -> Chaos {
        let storage = tempfile::tempdir().unwrap();
        let lease = (mode == Mode::HighAvailability).then(|| {
            let server = FakeLeaseServer::start();
            let kubeconfig = support::write_kubeconfig(storage.path(), server.address);
            (server, kubeconfig)
        });
        Chaos {
            mode,
            rng: Rng(seed | 1),
            started: Instant::now(),
            storage,
            job_dir: job_dir.to_path_buf(),
            rpc: format!("127.0.0.1:{}", free_port()),
            lease,
            jobmanagers: Vec::new(),
            taskmanagers: Vec::new(),
            timeline: Vec::new(),
            failures: 0,
            arming: true,
            names: 0,
        }
    }

    fn at(&self) -> String {
        format!("{:6.1} s", self.started.elapsed().as_secs_f64())
    }

    fn note(&mut self, what: String) {
        let line = format!("{}  {what}", self.at());
        eprintln!("chaos {:?}: {line}", self.mode);
        self.timeline.push(line);
    }

    /// A fault point for a new process, one time in three while arming.
    fn arm(&mut self, faults: &[(&str, &str)]) -> Option<String> {
        if !self.arming || self.rng.below(3) != 0 {
            return None;
        }
        let (point, p) = faults[self.rng.below(faults.len() as u64) as usize];
        Some(format!("{point}={p}"))
    }

    fn env(&mut self, faults: Option<&str>) -> Vec<(String, std::ffi::OsString)> {
        let mut env = vec![(
            "WEIR_FAULT_SEED".to_string(),
            self.rng.next().to_string().into(),
        )];
        if let Some(faults) = faults {
            env.push(("WEIR_FAULT_POINTS".into(), faults.into()));
        }
        if let Some((_, kubeconfig)) = &self.lease {
            env.push(("KUBECONFIG".into(), kubeconfig.clone().into_os_string()));
            env.push(("KUBERNETES_SERVICE_HOST".into(), "".into()));
        }
        env
    }

    fn start_jobmanager(&mut self) {
        let faults = self.arm(JOBMANAGER_FAULTS);
        let env = self.env(faults.as_deref());
        let rest = free_port();
        self.names += 1;
        let name = format!("jm-{}", self.names);
        let mut args = vec![
            "jobmanager".to_string(),
            "--rpc-address".into(),
            self.rpc.clone(),
            "--rest-address".into(),
            format!("127.0.0.1:{rest}"),
            "--heartbeat-interval".into(),
            "200ms".into(),
            "--heartbeat-timeout".into(),
            "2s".into(),
            "--checkpoint-storage".into(),
            self.storage.path().display().to_string(),
        ];
        if self.mode == Mode::HighAvailability {
            args.extend(
                [
                    "--high-availability",
                    "kubernetes",
                    "--pod-name",
                    &name,
                    "--lease-duration",
                    "2s",
                    "--lease-renew-deadline",
                    "1500ms",
                    "--lease-retry-period",
                    "200ms",
                ]
                .map(String::from),
            );
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &std::ffi::OsStr)> = env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_os_str()))
            .collect();
        self.jobmanagers
            .push((Process::start_with(&args, &env), rest));
        if let Some(faults) = faults {
            self.note(format!("{name} (REST :{rest}) starts armed: {faults}"));
        }
    }

    fn start_taskmanager(&mut self) {
        let faults = self.arm(TASKMANAGER_FAULTS);
        let env = self.env(faults.as_deref());
        let env: Vec<(&str, &std::ffi::OsStr)> = env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_os_str()))
            .collect();
        let job_dir = self.job_dir.display().to_string();
        let process = Process::start_with(
            &[
                "taskmanager",
                "--jobmanager",
                &self.rpc,
                "--slots",
                "2",
                "--no-cache",
                "--allowed-path",
                &job_dir,
            ],
            &env,
        );
        if let Some(faults) = faults {
            self.note(format!(
                "a TaskManager (pid {}) starts armed: {faults}",
                process.pid()
            ));
        }
        self.taskmanagers.push(process);
    }

    /// Which JobManager leads now (answers `/readyz` and serves jobs).
    fn leader(&self) -> Option<usize> {
        self.jobmanagers.iter().position(|(_, rest)| {
            let Ok(address) = format!("127.0.0.1:{rest}").parse() else {
                return false;
            };
            let ready = try_http(address, "GET", "/readyz", "").is_some_and(|(s, _)| s == 200);
            ready && try_http(address, "GET", "/jobs", "").is_some_and(|(s, _)| s == 200)
        })
    }

    /// REST of the JobManager that leads now, if one answers.
    fn leader_rest(&self) -> Option<std::net::SocketAddr> {
        let (_, rest) = &self.jobmanagers[self.leader()?];
        format!("127.0.0.1:{rest}").parse().ok()
    }

    fn job(&self, id: &str) -> Option<serde_json::Value> {
        let rest = self.leader_rest()?;
        let (status, body) = try_http(rest, "GET", &format!("/jobs/{id}"), "")?;
        (status == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// Processes that died by themselves (a fault point) are noted and
    /// replaced.
    fn reap(&mut self) {
        let mut died = Vec::new();
        for (i, tm) in self.taskmanagers.iter_mut().enumerate() {
            if let Ok(Some(status)) = tm.child.try_wait() {
                died.push((i, fault_of(&tm.log()), status));
            }
        }
        for (i, fault, status) in died.into_iter().rev() {
            let tm = self.taskmanagers.remove(i);
            self.failures += 1;
            self.note(format!(
                "failure {}: a TaskManager (pid {}) died at {fault} ({status})",
                self.failures,
                tm.pid()
            ));
            self.start_taskmanager();
        }
        let mut died = Vec::new();
        for (i, (jm, _)) in self.jobmanagers.iter_mut().enumerate() {
            if let Ok(Some(status)) = jm.child.try_wait() {
                died.push((i, fault_of(&jm.log()), status));
            }
        }
        for (i, fault, status) in died.into_iter().rev() {
            let (jm, rest) = self.jobmanagers.remove(i);
            self.failures += 1;
            self.note(format!(
                "failure {}: the JobManager on REST :{rest} (pid {}) died at {fault} ({status})",
                self.failures,
                jm.pid()
            ));
            self.start_jobmanager();
        }
    }

    /// One scheduled failure.
    fn strike(&mut self, job_id: &str) {
        match self.rng.below(5) {
            0 | 1 => self.kill_taskmanager("kill -9"),
            2 => {
                // Right after a restart: wait for the job to run again.
                let until = Instant::now() + Duration::from_secs(20);
                while Instant::now() < until {
                    if self.job(job_id).is_some_and(|j| j["state"] == "RUNNING") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    self.reap();
                }
                self.kill_taskmanager("kill -9 right after the job ran again");
            }
            _ => {
                let leader = self.leader().unwrap_or(0);
                let (jm, rest) = self.jobmanagers.remove(leader);
                kill_9(&jm);
                drop(jm);
                self.failures += 1;
                let what = match self.mode {
                    Mode::Standalone => "kill -9 of the JobManager, started again on its storage",
                    Mode::HighAvailability => "kill -9 of the leading JobManager",
                };
                self.note(format!("failure {}: {what} (REST :{rest})", self.failures));
                self.start_jobmanager();
            }
        }
    }

    fn kill_taskmanager(&mut self, how: &str) {
        let i = self.rng.below(self.taskmanagers.len() as u64) as usize;
        let tm = self.taskmanagers.remove(i);
        kill_9(&tm);
        self.failures += 1;
        self.note(format!(
            "failure {}: {how} of a TaskManager (pid {})",
            self.failures,
            tm.pid()
        ));
        drop(tm);
        self.start_taskmanager();
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (jm, rest) in &self.jobmanagers {
            let _ = writeln!(out, "--- JobManager REST :{rest}\n{}", tail(&jm.log()));
        }
        for tm in &self.taskmanagers {
            let _ = writeln!(out, "--- TaskManager pid {}\n{}", tm.pid(), tail(&tm.log()));
        }
        out
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The fault point a process's log says it died at.
fn fault_of(log: &str) -> String {
    log.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("fault point ")
                .map(|rest| rest.split(':').next().unwrap_or(rest).to_string())
        })
        .map_or("no fault point (it exited)".to_string(), |p| {
            format!("fault point {p}")
        })
}

fn run(mode: Mode) {
    if !cfg!(feature = "fault-points") {
        eprintln!(
            "chaos {mode:?}: skipped: this build has no fault points \
             (cargo test --features fault-points; make test does)"
        );
        return;
    }
    let seed = seed();
    let size = size();
    eprintln!(
        "chaos {mode:?}: seed {seed} (WEIR_CHAOS_SEED={seed} replays it), {} failures, {} records",
        size.failures, size.records
    );
    let dir = tempfile::tempdir().unwrap();
    checkpointed_keyed_job(
        dir.path(),
        size.records,
        size.rate,
        "checkpointing: {interval: 200ms}\n\
         restartStrategy: {type: fixed-delay, attempts: 10000, delay: 100ms}\n",
    );
    let mut chaos = Chaos::new(mode, seed, dir.path());
    chaos.start_jobmanager();
    if mode == Mode::HighAvailability {
        chaos.start_jobmanager();
    }
    for _ in 0..3 {
        chaos.start_taskmanager();
    }
    let wait_leader = Instant::now();
    while chaos.leader_rest().is_none() {
        assert!(
            wait_leader.elapsed() < WAIT,
            "no JobManager leads:\n{}",
            chaos.logs()
        );
        chaos.reap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let submitted = support::run_weir(
        &[
            "submit",
            "job.yaml",
            "--output",
            "json",
            "--jobmanager",
            &format!("http://{}", chaos.rpc),
        ],
        dir.path(),
    )
    .expect("weir submit ends");
    assert!(
        submitted.status.success(),
        "seed {seed}: {}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&submitted.stdout).unwrap();
    let job_id = reply["jobId"].as_str().unwrap().to_string();

    let mut next_strike = Instant::now()
        + chaos
            .rng
            .between(Duration::from_secs(2), Duration::from_secs(4));
    let outcome = loop {
        assert!(
            chaos.started.elapsed() < size.deadline,
            "seed {seed}: the job did not finish within {:?}; timeline:\n{}\n{}",
            size.deadline,
            chaos.timeline.join("\n"),
            chaos.logs()
        );
        chaos.reap();
        if chaos.failures >= size.failures {
            chaos.arming = false;
        } else if Instant::now() >= next_strike {
            chaos.strike(&job_id);
            next_strike = Instant::now()
                + chaos
                    .rng
                    .between(Duration::from_millis(1500), Duration::from_millis(3500));
        }
        match chaos.job(&job_id) {
            Some(job) if job["state"] == "FINISHED" && chaos.failures >= size.failures => {
                break job
            }
            Some(job) if job["state"] == "FINISHED" => panic!(
                "seed {seed}: the job finished after {} of {} failures; make it longer",
                chaos.failures, size.failures
            ),
            Some(job) if job["state"] == "FAILED" || job["state"] == "CANCELED" => panic!(
                "seed {seed}: the job ended {}: {job:#}\ntimeline:\n{}\n{}",
                job["state"],
                chaos.timeline.join("\n"),
                chaos.logs()
            ),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let elapsed = chaos.started.elapsed().as_secs_f64();
    assert_each_record_once(&dir.path().join("out.jsonl"), size.records);
    // `attempt` counts deployments across JobManagers; `restarts` only the
    // last JobManager's.
    eprintln!(
        "chaos {mode:?}: seed {seed}: {} failures, the job finished (attempt {}) in {elapsed:.1} s \
         with each of {} records once; timeline:\n{}",
        chaos.failures,
        outcome["attempt"],
        size.records,
        chaos.timeline.join("\n")
    );
}

#[test]
fn standalone_kills_and_restarts_leave_each_record_once() {
    run(Mode::Standalone);
}

#[test]
fn high_availability_failovers_leave_each_record_once() {
    run(Mode::HighAvailability);
}
