//! The WeirJob controller end to end, with real processes: a `weir
//! jobmanager --weirjob-controller` and a `weir taskmanager`, against a real
//! API server (etcd and kube-apiserver, the CRD and the RBAC of `k8s/`) and
//! against a fake one in this process, with a real OCI registry the
//! resource's module is pulled from. A WeirJob runs to FINISHED with the
//! word count's output; an endless one is stopped by deleting its resource;
//! a `configmap://` module and an upgrade through a savepoint; a job that
//! outlives its JobManager.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Process;
use weir_testing::{guests, repo_root, OciRegistry};
use weirjob_api::fake::FakeApi;
use weirjob_api::real::RealApi;
use weirjob_api::WeirJobApi;

mod support;
mod weirjob_api;

fn wait_for(what: &str, within: Duration, logs: &[&Process], mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < within,
            "{what} did not happen within {within:?}; logs:\n{}",
            logs.iter()
                .map(|p| p.log())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The processes, then the API server they use (fields drop in order).
struct Cluster {
    dir: tempfile::TempDir,
    rpc: std::net::SocketAddr,
    jobmanager: Process,
    taskmanager: Process,
    api: Box<dyn WeirJobApi>,
}

/// `weir jobmanager --weirjob-controller` on `rpc`, its storage in `dir`.
fn start_jobmanager(
    rpc: std::net::SocketAddr,
    dir: &std::path::Path,
    kubeconfig: &std::path::Path,
) -> Process {
    Process::start_with(
        &[
            "jobmanager",
            "--rpc-address",
            &rpc.to_string(),
            "--rest-address",
            "127.0.0.1:0",
            "--weirjob-controller",
            "--checkpoint-storage",
            dir.join("checkpoints").to_str().unwrap(),
        ],
        &[
            ("KUBECONFIG", kubeconfig.as_os_str()),
            ("KUBERNETES_SERVICE_HOST", "".as_ref()),
        ],
    )
}

impl Cluster {
    /// Kills the JobManager (kill -9) and starts another on the same
    /// address and storage.
    fn restart_jobmanager(&mut self) {
        support::cluster::kill_9(&self.jobmanager);
        let _ = self.jobmanager.child.wait();
        let started = Instant::now();
        while std::net::TcpListener::bind(self.rpc).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} stays taken",
                self.rpc
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.jobmanager =
            start_jobmanager(self.rpc, self.dir.path(), self.api.jobmanager_kubeconfig());
        self.jobmanager
            .wait_for_line("JobManager ready", Duration::from_secs(60));
    }

    fn start(api: Box<dyn WeirJobApi>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let rpc = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let env: [(&str, &std::ffi::OsStr); 2] = [
            ("KUBECONFIG", api.taskmanager_kubeconfig().as_os_str()),
            ("KUBERNETES_SERVICE_HOST", "".as_ref()),
        ];
        let jobmanager = start_jobmanager(rpc, dir.path(), api.jobmanager_kubeconfig());
        let taskmanager = Process::start_with(
            &[
                "taskmanager",
                "--jobmanager",
                &rpc.to_string(),
                "--slots",
                "2",
                "--no-cache",
                "--allowed-path",
                &support::cluster::test_files_root(),
                // The word-count example's input, which the jobs read.
                "--allowed-path",
                weir_testing::repo_root().join("examples").to_str().unwrap(),
            ],
            &env,
        );
        Cluster {
            dir,
            rpc,
            jobmanager,
            taskmanager,
            api,
        }
    }

    fn logs(&self) -> [&Process; 2] {
        [&self.jobmanager, &self.taskmanager]
    }

    fn weir(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("KUBECONFIG", self.api.user_kubeconfig())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "weir {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn jobs(&self) -> Value {
        let listed = self.weir(&[
            "list",
            "--jobmanager",
            &self.rpc.to_string(),
            "--output",
            "json",
        ]);
        serde_json::from_slice(&listed.stdout).unwrap()
    }
}

fn wordcount(module: &str, output: &std::path::Path) -> Value {
    json!({
        "job": {
            "name": "wordcount",
            "source": {"type": "text", "path": repo_root().join("examples/wordcount/input.txt")},
            "operators": [
                {"name": "tokenize", "module": "placeholder.wasm", "config": {"lowercase": true}},
                {"name": "count", "builtin": "count", "keyBy": ["word"], "config": {"emit": "final"}}
            ],
            "sink": {"type": "jsonl", "path": output}
        },
        "modules": {"tokenize": module},
    })
}

/// The sum of the word count's counts: every word of the input, once.
fn counted(output: &std::path::Path) -> usize {
    std::fs::read_to_string(output)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["count"]
                .as_u64()
                .unwrap() as usize
        })
        .sum()
}

fn expected_words() -> usize {
    std::fs::read_to_string(repo_root().join("examples/wordcount/expected.txt"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap().parse::<usize>().unwrap())
        .sum()
}

fn weirjobs_run_with_registry_modules_and_stop_when_deleted(api: Box<dyn WeirJobApi>) {
    let cluster = Cluster::start(api);
    let (api, dir) = (&cluster.api, &cluster.dir);
    let logs = cluster.logs();
    let registry = OciRegistry::start(false);
    let module = guests().path("wordcount");
    let tag = format!("oci://{}/weir/wordcount:1.0", registry.address);
    cluster.weir(&["push", module.to_str().unwrap(), &tag]);

    // A word count whose tokenizer is the registry's module, by tag.
    let output = dir.path().join("counts.jsonl");
    api.create("wordcount", wordcount(&tag, &output));
    wait_for(
        "the WeirJob finishing",
        Duration::from_secs(60),
        &logs,
        || {
            api.object("wordcount")
                .is_some_and(|o| o["status"]["state"] == "FINISHED")
        },
    );
    let resource = api.object("wordcount").unwrap();
    assert_eq!(
        resource["metadata"]["finalizers"],
        json!(["weir.dev/stop-job"])
    );
    assert_eq!(resource["status"]["observedGeneration"], 1);
    assert_eq!(resource["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(resource["status"]["conditions"][0]["status"], "True");
    assert_eq!(counted(&output), expected_words());
    let reasons = api.event_reasons();
    assert!(
        reasons.contains(&"Submitted".to_string()) && reasons.contains(&"JobFinished".to_string()),
        "{reasons:?}"
    );

    // An endless job: deleting its resource stops it, then the finalizer goes.
    api.create(
        "endless",
        json!({"job": {"name": "endless", "source": {"type": "generator", "rate": 1000},
                        "sink": {"type": "jsonl", "path": dir.path().join("endless.jsonl")}}}),
    );
    wait_for(
        "the endless job running",
        Duration::from_secs(60),
        &logs,
        || {
            api.object("endless")
                .is_some_and(|o| o["status"]["state"] == "RUNNING")
        },
    );
    api.delete("endless");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &logs,
        || api.object("endless").is_none(),
    );
    let jobs = cluster.jobs().to_string();
    assert!(
        jobs.contains("\"name\":\"endless\"") && jobs.contains("CANCELED"),
        "{jobs}"
    );
}

/// `weir push FILE configmap://` stores the module through the API; the
/// TaskManager reads it back through the API for a WeirJob naming it.
/// Then a spec change in savepoint mode: the job stops with a savepoint and
/// the new spec resumes from it, every record committed exactly once.
fn configmap_modules_and_an_upgrade_through_a_savepoint(api: Box<dyn WeirJobApi>) {
    let cluster = Cluster::start(api);
    let (api, dir) = (&cluster.api, &cluster.dir);
    let logs = cluster.logs();
    let module = guests().path("wordcount");
    let pushed = cluster.weir(&[
        "push",
        module.to_str().unwrap(),
        "configmap://",
        "--namespace",
        "weir",
    ]);
    let reference = String::from_utf8(pushed.stdout).unwrap().trim().to_string();
    let digest = weir_types::sha256_digest(&std::fs::read(&module).unwrap());
    assert_eq!(
        reference,
        format!("configmap://weir-module-{}/module.wasm.gz", &digest[7..])
    );
    let output = dir.path().join("counts.jsonl");
    api.create("wordcount", wordcount(&reference, &output));
    wait_for(
        "the WeirJob finishing",
        Duration::from_secs(60),
        &logs,
        || {
            api.object("wordcount")
                .is_some_and(|o| o["status"]["state"] == "FINISHED")
        },
    );
    assert_eq!(counted(&output), expected_words());

    // An endless, checkpointed job in savepoint mode.
    let ids = dir.path().join("ids.jsonl");
    let spec = |rate: u32| {
        json!({
            "job": {"name": "ids", "source": {"type": "generator", "rate": rate},
                    "checkpointing": {"interval": "200ms", "storage": dir.path().join("checkpoints")},
                    "sink": {"type": "jsonl", "path": ids}},
            "upgradeMode": "savepoint",
            "savepointDirectory": dir.path().join("savepoints"),
        })
    };
    api.create("ids", spec(2000));
    wait_for(
        "a checkpoint in the status",
        Duration::from_secs(60),
        &logs,
        || {
            api.object("ids")
                .is_some_and(|o| !o["status"]["lastCheckpoint"].is_null())
        },
    );
    let first = api.object("ids").unwrap()["status"]["jobId"].clone();

    // The user edits the spec (a new rate): generation 2.
    api.edit_spec("ids", spec(3000));
    wait_for(
        "the upgraded job running",
        Duration::from_secs(60),
        &logs,
        || {
            api.object("ids").is_some_and(|o| {
                o["status"]["observedGeneration"] == 2 && o["status"]["state"] == "RUNNING"
            })
        },
    );
    let status = api.object("ids").unwrap()["status"].clone();
    assert_ne!(status["jobId"], first);
    let savepoint = status["lastSavepoint"].as_str().unwrap().to_string();
    assert!(
        savepoint.contains(&dir.path().join("savepoints").display().to_string()),
        "{status}"
    );
    assert!(
        status.get("pendingStop").is_none() && status.get("restoreFrom").is_none(),
        "{status}"
    );
    let reasons = api.event_reasons();
    assert!(
        reasons.contains(&"SavepointCompleted".to_string()),
        "{reasons:?}"
    );
    let jobs = cluster.jobs().to_string();
    assert!(
        jobs.contains("FINISHED"),
        "the first job ended with its savepoint: {jobs}"
    );

    // Let the new job commit past the savepoint, then stop it.
    wait_for(
        "a checkpoint of the new job",
        Duration::from_secs(60),
        &logs,
        || {
            api.object("ids").is_some_and(|o| {
                o["status"]["lastCheckpoint"]["location"]
                    .as_str()
                    .is_some_and(|l| l.contains(status["jobId"].as_str().unwrap_or("-")))
            })
        },
    );
    api.delete("ids");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &logs,
        || api.object("ids").is_none(),
    );
    // Exactly once across the upgrade.
    assert_ids_exactly_once(&ids);
}

/// The generator's ids committed to `path` are 0..n, each once.
fn assert_ids_exactly_once(path: &std::path::Path) -> usize {
    let mut seen: Vec<u64> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let total = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no id twice");
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&(total as u64 - 1)), "no id missing");
    assert!(total > 0);
    total
}

/// The other upgrade modes and suspend: a spec edit in last-state mode
/// cancels the job and resumes it from its latest checkpoint; suspending
/// cancels it, resuming starts it again from that checkpoint (every id
/// committed once throughout); a stateless edit starts from nothing.
fn last_state_upgrade_suspend_resume_and_stateless(api: Box<dyn WeirJobApi>) {
    let cluster = Cluster::start(api);
    let (api, dir) = (&cluster.api, &cluster.dir);
    let logs = cluster.logs();
    let ids = dir.path().join("ids.jsonl");
    let spec = |rate: u32, mode: &str, state: &str, sink: &std::path::Path| {
        json!({
            "job": {"name": "ids", "source": {"type": "generator", "rate": rate},
                    "checkpointing": {"interval": "200ms", "storage": dir.path().join("checkpoints")},
                    "sink": {"type": "jsonl", "path": sink}},
            "upgradeMode": mode,
            "state": state,
        })
    };
    let status = |field: &str| api.object("ids").map(|o| o["status"][field].clone());
    // Waits for generation `generation` RUNNING on a new job with a
    // checkpoint of its own (so that what follows has one to resume from).
    let running_with_a_checkpoint = |generation: i64, previous: &Value| {
        wait_for(
            &format!("generation {generation} running with a checkpoint"),
            Duration::from_secs(60),
            &logs,
            || {
                api.object("ids").is_some_and(|o| {
                    let status = &o["status"];
                    let job = status["jobId"].as_str().unwrap_or("-");
                    status["observedGeneration"] == generation
                        && status["state"] == "RUNNING"
                        && status["jobId"] != *previous
                        && status["lastCheckpoint"]["location"]
                            .as_str()
                            .is_some_and(|l| l.contains(job))
                })
            },
        );
        status("jobId").unwrap()
    };

    api.create("ids", spec(2000, "last-state", "running", &ids));
    let first = running_with_a_checkpoint(1, &Value::Null);

    // Last state: cancelled, then resumed from its latest checkpoint.
    api.edit_spec("ids", spec(3000, "last-state", "running", &ids));
    let second = running_with_a_checkpoint(2, &first);
    let jobs = cluster.jobs().to_string();
    assert!(
        jobs.contains(&format!("\"jid\":\"{}\"", first.as_str().unwrap()))
            && jobs.contains("CANCELED"),
        "the first job was cancelled: {jobs}"
    );

    // Suspended: the job stops; nothing runs until it is resumed.
    api.edit_spec("ids", spec(3000, "last-state", "suspended", &ids));
    wait_for("the job suspended", Duration::from_secs(60), &logs, || {
        status("state").is_some_and(|s| s == "SUSPENDED")
    });
    let running: Vec<Value> = cluster
        .jobs()
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["state"] == "RUNNING")
        .cloned()
        .collect();
    assert!(
        running.is_empty(),
        "nothing runs while suspended: {running:?}"
    );
    assert!(api.event_reasons().contains(&"Suspended".to_string()));

    // Resumed from the checkpoint the suspended job left.
    api.edit_spec("ids", spec(3000, "last-state", "running", &ids));
    let third = running_with_a_checkpoint(4, &second);

    // Stateless: a new job from nothing, its ids from 0 again.
    let fresh = dir.path().join("fresh.jsonl");
    api.edit_spec("ids", spec(3000, "stateless", "running", &fresh));
    running_with_a_checkpoint(5, &third);
    api.delete("ids");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &logs,
        || api.object("ids").is_none(),
    );
    let committed = assert_ids_exactly_once(&ids);
    assert!(committed > 0, "{committed}");
    assert_ids_exactly_once(&fresh);
}

/// A WeirJob's job outlives the JobManager: a JobManager killed and started
/// again on its storage resumes it (the same job, not a resubmission), and
/// the controller follows it on.
fn a_weirjob_s_job_survives_its_jobmanager(api: Box<dyn WeirJobApi>) {
    let mut cluster = Cluster::start(api);
    let output = cluster.dir.path().join("counts.jsonl");
    cluster.api.create(
        "endless",
        json!({"job": {"name": "endless", "parallelism": 1,
                        "source": {"type": "generator", "rate": 2000, "keys": 10},
                        "operators": [{"name": "count", "builtin": "count", "keyBy": ["key"],
                                       "config": {"emit": "running"}}],
                        "sink": {"type": "jsonl", "path": output},
                        "checkpointing": {"interval": "200ms"}}}),
    );
    let running = |cluster: &Cluster| {
        cluster
            .api
            .object("endless")
            .is_some_and(|o| o["status"]["state"] == "RUNNING")
    };
    wait_for(
        "the job running",
        Duration::from_secs(60),
        &cluster.logs(),
        || {
            running(&cluster)
                && cluster
                    .api
                    .object("endless")
                    .is_some_and(|o| o["status"]["lastCheckpoint"].is_object())
        },
    );
    let job_id = cluster.api.object("endless").unwrap()["status"]["jobId"].clone();

    cluster.restart_jobmanager();
    wait_for(
        "the job running again",
        Duration::from_secs(60),
        &cluster.logs(),
        || {
            cluster.jobs().as_array().is_some_and(|jobs| {
                jobs.iter()
                    .any(|j| j["jid"] == job_id && j["state"] == "RUNNING")
            })
        },
    );
    let resource = cluster.api.object("endless").unwrap();
    assert_eq!(resource["status"]["jobId"], job_id, "{resource:#}");
    let submitted = cluster
        .api
        .event_reasons()
        .iter()
        .filter(|r| *r == "Submitted")
        .count();
    assert_eq!(submitted, 1, "resumed, not submitted again");

    cluster.api.delete("endless");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &cluster.logs(),
        || cluster.api.object("endless").is_none(),
    );
}

mod on_a_fake_api_server {
    use super::*;

    #[test]
    fn weirjobs_run_with_registry_modules_and_stop_when_deleted() {
        super::weirjobs_run_with_registry_modules_and_stop_when_deleted(Box::new(FakeApi::start()));
    }

    #[test]
    fn configmap_modules_and_an_upgrade_through_a_savepoint() {
        super::configmap_modules_and_an_upgrade_through_a_savepoint(Box::new(FakeApi::start()));
    }

    #[test]
    fn a_weirjob_s_job_survives_its_jobmanager() {
        super::a_weirjob_s_job_survives_its_jobmanager(Box::new(FakeApi::start()));
    }

    #[test]
    fn last_state_upgrade_suspend_resume_and_stateless() {
        super::last_state_upgrade_suspend_resume_and_stateless(Box::new(FakeApi::start()));
    }
}

/// The same on kube-apiserver, with the RBAC of `k8s/base`.
mod on_a_real_api_server {
    use super::*;

    #[test]
    fn weirjobs_run_with_registry_modules_and_stop_when_deleted() {
        super::weirjobs_run_with_registry_modules_and_stop_when_deleted(Box::new(RealApi::start()));
    }

    #[test]
    fn configmap_modules_and_an_upgrade_through_a_savepoint() {
        super::configmap_modules_and_an_upgrade_through_a_savepoint(Box::new(RealApi::start()));
    }

    #[test]
    fn a_weirjob_s_job_survives_its_jobmanager() {
        super::a_weirjob_s_job_survives_its_jobmanager(Box::new(RealApi::start()));
    }

    #[test]
    fn last_state_upgrade_suspend_resume_and_stateless() {
        super::last_state_upgrade_suspend_resume_and_stateless(Box::new(RealApi::start()));
    }
}
