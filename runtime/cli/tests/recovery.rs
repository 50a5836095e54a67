//! What survives what, with real processes: a JobManager killed and started
//! again on its storage resumes its jobs; a job that cannot recover says
//! why and fails instead of restarting for ever; why a job restarted is in
//! its status, its exception history (REST and `weir status`).

mod support;

use serde_json::Value;
use support::cluster::{
    assert_each_record_once, checkpointed_keyed_job, completed_checkpoints, kill_9, wait_until,
    Cluster, WAIT,
};

/// `weir list --output json` against the cluster.
fn listed(cluster: &Cluster, dir: &std::path::Path) -> Vec<Value> {
    let out = cluster.weir(&["list", "--output", "json"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_jobmanager_killed_and_started_again_on_its_storage_resumes_the_job_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    const RECORDS: u64 = 120_000;
    checkpointed_keyed_job(
        dir.path(),
        RECORDS,
        30_000,
        "checkpointing: {interval: 300ms, storage: checkpoints}\n\
         restartStrategy: {type: fixed-delay, attempts: 10, delay: 200ms}\n",
    );
    let mut cluster = Cluster::start(2, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    wait_until(WAIT, || {
        completed_checkpoints(&cluster, &id) >= 2
            && cluster.job(&id)["source-records"].as_u64().unwrap_or(0) > RECORDS / 4
    });

    cluster.restart_jobmanager();
    // The new JobManager knows the job at once, from its storage.
    let jobs = listed(&cluster, dir.path());
    let job = jobs
        .iter()
        .find(|j| j["jid"] == id.as_str())
        .unwrap_or_else(|| panic!("the restarted JobManager lists no job {id}: {jobs:#?}"));
    assert_ne!(job["state"], "FAILED", "{job:#}");
    cluster.wait_for_state(&id, "RUNNING");
    let done = cluster.wait_for_state(&id, "FINISHED");
    assert!(done["attempt"].as_u64().unwrap() >= 1, "{done:#}");
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    assert!(
        stats["counts"]["restored"].as_u64().unwrap() >= 1,
        "it resumed from a checkpoint, not from the beginning: {stats:#}"
    );
    assert_each_record_once(&dir.path().join("out.jsonl"), RECORDS);
    // A finished job leaves nothing in the job store.
    let records = cluster.storage.path().join("ha/default/jobs");
    wait_until(WAIT, || {
        std::fs::read_dir(&records).map_or(true, |d| d.count() == 0)
    });
}

#[test]
fn a_truncated_output_fails_the_job_with_its_reason_instead_of_restarting_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    checkpointed_keyed_job(
        dir.path(),
        1_000_000,
        5_000,
        "checkpointing: {interval: 200ms, storage: checkpoints}\n\
         restartStrategy: {type: fixed-delay, attempts: 100, delay: 2s}\n",
    );
    // Three slots stay when one TaskManager dies.
    let mut cluster = Cluster::start(3, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    let output = dir.path().join("out.jsonl");
    wait_until(WAIT, || {
        std::fs::metadata(&output).is_ok_and(|m| m.len() > 0)
            && completed_checkpoints(&cluster, &id) >= 2
    });
    // A TaskManager dies; while the job waits to restart (nothing writes
    // the output then), someone truncates what it committed.
    let victim = cluster.taskmanagers.remove(0);
    kill_9(&victim);
    drop(victim);
    wait_until(WAIT, || {
        let job = cluster.job(&id);
        job["state"] == "RESTARTING"
            && job["vertices"]
                .as_array()
                .is_some_and(|v| v.iter().all(|v| v["status"] != "RUNNING"))
    });
    std::fs::write(&output, "").unwrap();

    let failed = cluster.wait_for_failed(&id);
    let message = failed["status-message"].as_str().unwrap();
    assert!(
        message.contains("changed or truncated") && message.contains("no restart can cure"),
        "{failed:#}"
    );
    assert!(
        failed["restarts"].as_u64().unwrap() <= 1,
        "it failed at the first restore, it did not loop: {failed:#}"
    );
    let exceptions = cluster.get(&format!("/jobs/{id}/exceptions"));
    let entries = exceptions["exceptionHistory"]["entries"]
        .as_array()
        .unwrap();
    assert!(entries.len() >= 2, "{exceptions:#}");
    assert_eq!(entries[0]["exceptionName"], "TaskFailure", "{exceptions:#}");
    assert_eq!(entries[0]["taskName"], "sink (1/1)", "{exceptions:#}");
    assert!(entries[0]["stacktrace"]
        .as_str()
        .unwrap()
        .contains("changed or truncated"));
    assert!(entries[0]["timestamp"].as_i64().unwrap() > 0);
    let lost = entries
        .iter()
        .find(|e| e["exceptionName"] == "TaskManagerLost")
        .unwrap_or_else(|| panic!("no TaskManagerLost entry: {exceptions:#}"));
    assert!(
        lost["taskManagerId"].is_string() && lost["endpoint"].is_string(),
        "{lost:#}"
    );

    let status = cluster.weir(&["status", &id], dir.path());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("failures, newest first")
            && text.contains("TaskFailure in sink (1/1)")
            && text.contains("TaskManagerLost"),
        "{text}"
    );
}

#[test]
fn while_a_restart_waits_for_slots_its_cause_stays_in_the_status() {
    let dir = tempfile::tempdir().unwrap();
    checkpointed_keyed_job(
        dir.path(),
        1_000_000,
        2_000,
        "restartStrategy: {type: fixed-delay, attempts: 5, delay: 100ms}\n",
    );
    std::fs::write(
        dir.path().join("job.yaml"),
        std::fs::read_to_string(dir.path().join("job.yaml"))
            .unwrap()
            .replace("parallelism: 3", "parallelism: 2"),
    )
    .unwrap();
    let mut cluster = Cluster::start(1, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    cluster.wait_for_state(&id, "RUNNING");
    let victim = cluster.taskmanagers.remove(0);
    kill_9(&victim);
    drop(victim);
    let mut last = Value::Null;
    wait_until(WAIT, || {
        last = cluster.job(&id);
        last["status-message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for 2 task slots"))
    });
    let message = last["status-message"].as_str().unwrap();
    assert!(
        message.contains("(restart 1 after: TaskManager") && message.contains("was lost"),
        "{last:#}"
    );
    // A TaskManager coming back lets it run again.
    cluster.add_taskmanager(2);
    cluster.wait_for_state(&id, "RUNNING");
    let exceptions = cluster.get(&format!("/jobs/{id}/exceptions"));
    assert_eq!(
        exceptions["exceptionHistory"]["entries"][0]["exceptionName"], "TaskManagerLost",
        "{exceptions:#}"
    );
}
