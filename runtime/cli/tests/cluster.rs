//! The cluster as a user runs it: `weir jobmanager` and `weir taskmanager`
//! as separate OS processes on loopback, driven by `weir submit`, `list`,
//! `status`, `cancel` and the REST API.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{
    assert_each_record_once, checkpointed_keyed_job, completed_checkpoints, http, http_with,
    wait_until, Cluster, HEARTBEAT_TIMEOUT, WAIT,
};
use support::{run_weir, Process};
use weir_testing::guests;

fn metrics_of(address: &str) -> String {
    let (status, body) = http(address.parse().unwrap(), "GET", "/metrics");
    assert_eq!(status, 200);
    body
}

/// Sum of the samples of `name` whose labels contain `label`.
fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn word_input(lines: usize) -> String {
    let words = [
        "weir", "river", "stream", "Flink", "wasm", "key", "group", "slot", "credit", "batch",
        "arrow", "shuffle", "barrier", "sink", "source",
    ];
    (0..lines)
        .map(|i| {
            (0..(i % 7 + 1))
                .map(|j| words[(i * 31 + j * 7) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_keyed_job_on_three_taskmanager_processes_matches_the_embedded_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.txt"), word_input(6000)).unwrap();
    std::fs::copy(
        guests().path("wordcount"),
        dir.path().join("wordcount.wasm"),
    )
    .unwrap();
    let job = |sink: &str| {
        format!(
            "name: keyed\nparallelism: 3\nbatchSize: 64\n\
             source: {{type: text, path: input.txt}}\n\
             operators:\n  - name: tokenize\n    module: wordcount.wasm\n    config: {{lowercase: true}}\n\
             \x20 - name: count\n    builtin: count\n    keyBy: [word]\n    config: {{emit: final}}\n\
             sink: {{type: jsonl, path: {sink}}}\n"
        )
    };
    std::fs::write(dir.path().join("embedded.yaml"), job("embedded.jsonl")).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), job("cluster.jsonl")).unwrap();

    let embedded = run_weir(&["run", "embedded.yaml", "--progress", "never"], dir.path()).unwrap();
    assert!(
        embedded.status.success(),
        "{}",
        String::from_utf8_lossy(&embedded.stderr)
    );

    let cluster = Cluster::start(3, 1);
    let id = cluster.submit(dir.path(), "cluster.yaml");
    let done = cluster.wait_for_state(&id, "FINISHED");

    let expected = sorted_lines(&dir.path().join("embedded.jsonl"));
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(sorted_lines(&dir.path().join("cluster.jsonl")), expected);

    // The keyed vertex ran on all three processes, so keys crossed the network.
    let count = done["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "count")
        .expect("a count vertex");
    assert_eq!(count["parallelism"], 3);
    let mut hosts: Vec<&str> = count["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    assert_eq!(hosts.len(), 3, "{done:#}");
    assert_eq!(count["metrics"]["write-records"], expected.len() as u64);
    assert_eq!(done["sink-records"], expected.len() as u64);

    // The CLI shows the same job, as tables and as JSON.
    let listed = cluster.weir(&["list", "--output", "json"], dir.path());
    let jobs: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(jobs[0]["jid"], id.as_str());
    assert_eq!(jobs[0]["state"], "FINISHED");
    let status = cluster.weir(&["status", &id], dir.path());
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("FINISHED") && table.contains("count"),
        "{table}"
    );
    let overview = cluster.get("/overview");
    assert_eq!(overview["taskmanagers"], 3);
    assert_eq!(overview["slots-total"], 3);
    assert_eq!(overview["jobs-finished"], 1);

    // Keyed state in a WASM operator on three processes: each subtask's
    // state holds its own keys, and the running counts match the embedded run.
    std::fs::copy(
        guests().path("keyed-count"),
        dir.path().join("keyed_count.wasm"),
    )
    .unwrap();
    let stateful = |sink: &str| {
        format!(
            "name: stateful\nparallelism: 3\nbatchSize: 64\n\
             source: {{type: text, path: input.txt}}\n\
             operators:\n  - name: tokenize\n    module: wordcount.wasm\n\
             \x20 - name: count\n    module: keyed_count.wasm\n    keyBy: [word]\n\
             sink: {{type: jsonl, path: {sink}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("stateful-embedded.yaml"),
        stateful("se.jsonl"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stateful-cluster.yaml"),
        stateful("sc.jsonl"),
    )
    .unwrap();
    let embedded = run_weir(
        &["run", "stateful-embedded.yaml", "--progress", "never"],
        dir.path(),
    )
    .unwrap();
    assert!(
        embedded.status.success(),
        "{}",
        String::from_utf8_lossy(&embedded.stderr)
    );
    let id = cluster.submit(dir.path(), "stateful-cluster.yaml");
    cluster.wait_for_state(&id, "FINISHED");
    let expected = sorted_lines(&dir.path().join("se.jsonl"));
    assert!(expected.len() > 1000, "{}", expected.len());
    assert_eq!(sorted_lines(&dir.path().join("sc.jsonl")), expected);
}

#[test]
fn a_slow_sink_slows_the_sources_and_buffers_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    const RECORDS: u64 = 2_000_000;
    const BATCH: u64 = 1000;
    std::fs::write(
        dir.path().join("job.yaml"),
        format!(
            "name: slow-sink\nparallelism: 2\nbatchSize: {BATCH}\n\
             source: {{type: generator, count: {RECORDS}, keys: 100}}\n\
             sink: {{type: jsonl, path: out.fifo}}\n"
        ),
    )
    .unwrap();
    let cluster = Cluster::start(2, 1);
    // The reader opens the pipe and then reads nothing: the sink blocks.
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::File::open(reader_path).unwrap());
    let id = cluster.submit(dir.path(), "job.yaml");
    let pipe = reader.join().unwrap();

    // Wait until the sources have stopped: the heartbeats' figures stay put.
    let mut last = (u64::MAX, 0);
    let mut unchanged = 0;
    wait_until(WAIT, || {
        let job = cluster.job(&id);
        let now = (
            job["source-records"].as_u64().unwrap(),
            job["sink-records"].as_u64().unwrap(),
        );
        unchanged = if now == last && now.0 > 0 {
            unchanged + 1
        } else {
            0
        };
        last = now;
        std::thread::sleep(Duration::from_millis(300));
        unchanged >= 4
    });
    let (emitted, written) = last;
    // What fits between the sources and the stalled sink: one input gate of
    // 8 batches, per network channel its credits, its forwarder and its
    // coalescing buffer, each task's batch in hand, plus the sink's write
    // buffer (256 KiB) and the pipe (64 KiB) of about 60-byte lines.
    let in_flight_bound = (8 + 2 * (4 + 4 + 2) + 4) * BATCH + 6_000;
    assert!(
        emitted - written <= in_flight_bound,
        "the sources ran ahead of the stalled sink: {emitted} emitted, {written} written"
    );
    assert!(
        emitted < RECORDS / 4,
        "the sources were not slowed: {emitted} emitted"
    );

    eprintln!(
        "stalled sink: {emitted} records emitted, {written} written, {} in between (bound {in_flight_bound})",
        emitted - written
    );
    let taskmanagers = cluster.get("/taskmanagers");
    let mut backpressured = 0.0;
    for tm in taskmanagers["taskmanagers"].as_array().unwrap() {
        let text = metrics_of(tm["metricsAddress"].as_str().unwrap());
        let buffered_max = metric_sum(&text, "weir_taskmanager_dataplane_bufferedBytesMax", "");
        eprintln!("data plane high-water mark: {buffered_max} bytes");
        assert!(
            buffered_max <= (8 << 20) as f64,
            "the data plane held {buffered_max} bytes at once"
        );
        backpressured += metric_sum(
            &text,
            "weir_taskmanager_job_task_backPressuredTimeMsPerSecond",
            "task_name=\"source",
        );
        for name in [
            "numRecordsIn",
            "numRecordsOut",
            "numRecordsInPerSecond",
            "busyTimeMsPerSecond",
        ] {
            assert!(
                text.contains(&format!("weir_taskmanager_job_task_{name}{{")),
                "no {name} in:\n{text}"
            );
        }
    }
    assert!(
        backpressured > 500.0,
        "the stalled sources should report back-pressure, got {backpressured} ms/s"
    );

    // Draining the pipe lets everything through, exactly once.
    let lines = BufReader::new(pipe).lines().count() as u64;
    assert_eq!(lines, RECORDS);
    cluster.wait_for_state(&id, "FINISHED");
}

fn keyed_generator_job(dir: &Path, records: u64, rate: u64) {
    std::fs::write(
        dir.join("job.yaml"),
        format!(
            "name: recover\nparallelism: 3\nbatchSize: 500\n\
             source: {{type: generator, count: {records}, rate: {rate}, keys: 40}}\n\
             operators:\n  - name: count\n    builtin: count\n    keyBy: [key]\n    config: {{emit: final}}\n\
             sink: {{type: jsonl, path: out.jsonl}}\n\
             restartStrategy: {{type: fixed-delay, attempts: 3, delay: 200ms}}\n"
        ),
    )
    .unwrap();
}

fn counted(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

#[test]
fn a_killed_taskmanager_is_noticed_and_the_job_restarts_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    const RECORDS: u64 = 300_000;
    keyed_generator_job(dir.path(), RECORDS, 60_000);
    let mut cluster = Cluster::start(3, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    wait_until(WAIT, || {
        cluster.job(&id)["source-records"].as_u64().unwrap_or(0) > 20_000
    });

    let victim = cluster.taskmanagers.remove(1);
    let pid = victim.pid().to_string();
    let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    let killed_at = Instant::now();
    drop(victim);
    cluster.wait_for_taskmanagers(2);
    assert!(
        killed_at.elapsed() <= HEARTBEAT_TIMEOUT + Duration::from_secs(1),
        "the JobManager took {:?} to notice",
        killed_at.elapsed()
    );

    let done = cluster.wait_for_state(&id, "FINISHED");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "{done:#}");
    // Without checkpoints the restart starts over; the sink file is rewritten.
    assert_eq!(counted(&dir.path().join("out.jsonl")), RECORDS);
    let metrics = http(cluster.rest, "GET", "/metrics").1;
    assert!(
        metrics.contains(&format!("weir_jobmanager_job_numRestarts{{job_id=\"{id}\"")),
        "{metrics}"
    );
}

#[test]
fn a_frozen_taskmanager_is_lost_after_the_heartbeat_timeout() {
    let cluster = Cluster::start(2, 1);
    let frozen = &cluster.taskmanagers[0];
    let pid = frozen.pid().to_string();
    // Stopped, the process keeps its connection open: only the missing
    // heartbeats can tell.
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let stopped_at = Instant::now();
    cluster.wait_for_taskmanagers(1);
    let noticed = stopped_at.elapsed();
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    assert!(
        noticed >= HEARTBEAT_TIMEOUT - Duration::from_millis(300),
        "lost after {noticed:?}, before the timeout"
    );
    cluster
        .jobmanager
        .wait_for_line("no heartbeat for 2.0 s", WAIT);
    // Awake again, it learns it was dropped and registers anew.
    cluster.wait_for_taskmanagers(2);
}

#[test]
fn a_job_needing_more_slots_waits_then_runs_when_a_taskmanager_joins() {
    let dir = tempfile::tempdir().unwrap();
    keyed_generator_job(dir.path(), 30_000, 1_000_000);
    let mut cluster = Cluster::start(1, 1);
    let id = cluster.submit(dir.path(), "job.yaml");
    let waiting = cluster.wait_for_state(&id, "CREATED");
    wait_until(WAIT, || {
        cluster.job(&id)["status-message"] == "waiting for 3 task slots, 1 available"
    });
    let status = cluster.weir(&["status", &id], dir.path());
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("waiting for 3 task slots, 1 available"),
        "{table}\n{waiting:#}"
    );

    cluster.add_taskmanager(2);
    cluster.wait_for_state(&id, "FINISHED");
    assert_eq!(counted(&dir.path().join("out.jsonl")), 30_000);
}

#[test]
fn submitting_to_a_jobmanager_that_is_down_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    keyed_generator_job(dir.path(), 10, 10);
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let out = run_weir(
        &["submit", "job.yaml", "--jobmanager", &address],
        dir.path(),
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the JobManager at {address}"))
            && stderr.contains("Connection refused")
            && stderr.contains("is `weir jobmanager` running there?"),
        "{stderr}"
    );
}

#[test]
fn a_taskmanager_with_a_wrong_address_retries_with_backoff_and_says_why() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let tm = Process::start(&[
        "taskmanager",
        "--jobmanager",
        &format!("http://{address}"),
        "--no-cache",
    ]);
    tm.wait_for_line("retrying in 0.8 s", WAIT);
    for delay in ["0.2 s", "0.4 s", "0.8 s"] {
        assert_eq!(
            tm.count_lines(&format!("retrying in {delay}")),
            1,
            "{}",
            tm.log()
        );
    }
    assert!(
        tm.log().contains("cannot register with the JobManager")
            && tm.log().contains("Connection refused"),
        "{}",
        tm.log()
    );
    // Once a JobManager is there, the TaskManager registers with it.
    let storage = tempfile::tempdir().unwrap();
    let jobmanager = Process::start(&[
        "jobmanager",
        "--rpc-address",
        &address,
        "--rest-address",
        "127.0.0.1:0",
        "--checkpoint-storage",
        storage.path().to_str().unwrap(),
    ]);
    let ready = jobmanager.wait_for_line("JobManager ready", WAIT);
    let rest: SocketAddr = ready.rsplit("http://").next().unwrap().parse().unwrap();
    wait_until(WAIT, || {
        let (_, body) = http(rest, "GET", "/taskmanagers");
        body.contains("slotsNumber")
    });
}

#[test]
fn rest_cancels_a_running_job_and_reports_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.yaml"),
        "name: endless\nsource: {type: generator, rate: 1000}\nsink: {type: blackhole}\n",
    )
    .unwrap();
    let cluster = Cluster::start(1, 1);
    let id = cluster.submit(dir.path(), "job.yaml");
    cluster.wait_for_state(&id, "RUNNING");
    let jobs = cluster.get("/jobs");
    assert_eq!(jobs["jobs"][0]["id"], id.as_str());
    assert_eq!(jobs["jobs"][0]["status"], "RUNNING");
    let job = cluster.job(&id);
    for field in [
        "jid",
        "name",
        "state",
        "start-time",
        "end-time",
        "duration",
        "vertices",
    ] {
        assert!(job.get(field).is_some(), "no {field} in {job:#}");
    }
    assert_eq!(job["end-time"], -1);

    let (status, body) = http(cluster.rest, "PATCH", &format!("/jobs/{id}?mode=stop"));
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(cluster.rest, "PATCH", &format!("/jobs/{id}?mode=cancel"));
    assert_eq!(status, 202);
    cluster.wait_for_state(&id, "CANCELED");
    wait_until(WAIT, || cluster.get("/overview")["slots-available"] == 1);

    let (status, body) = http(cluster.rest, "GET", "/jobs/0123456789abcdef");
    assert_eq!(status, 404);
    assert!(body.contains("there is no job 0123456789abcdef"), "{body}");
    let out = cluster.weir(&["cancel", "0123456789abcdef"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no job"));

    // `weir cancel` says what the job was, by name.
    let again = cluster.submit(dir.path(), "job.yaml");
    cluster.wait_for_state(&again, "RUNNING");
    let out = cluster.weir(&["cancel", &again, "--output", "json"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["previousState"], "RUNNING", "{said}");
    cluster.wait_for_state(&again, "CANCELED");
}

#[test]
fn weir_run_with_three_taskmanagers_shuffles_over_loopback_with_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.txt"), word_input(3000)).unwrap();
    std::fs::copy(
        guests().path("wordcount"),
        dir.path().join("wordcount.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.yaml"),
        "name: shuffled\nparallelism: 3\nbatchSize: 50\nsource: {type: text, path: input.txt}\n\
         operators:\n  - name: tokenize\n    module: wordcount.wasm\n\
         \x20 - name: count\n    builtin: count\n    keyBy: [word]\n    config: {emit: final}\n\
         sink: {type: stdout, format: text}\n",
    )
    .unwrap();
    let one = run_weir(&["run", "job.yaml", "--progress", "never"], dir.path()).unwrap();
    let three = run_weir(
        &[
            "run",
            "job.yaml",
            "--progress",
            "never",
            "--taskmanagers",
            "3",
        ],
        dir.path(),
    )
    .unwrap();
    assert!(
        three.status.success(),
        "{}",
        String::from_utf8_lossy(&three.stderr)
    );
    let sorted = |bytes: &[u8]| {
        let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    assert!(!one.stdout.is_empty());
    assert_eq!(sorted(&three.stdout), sorted(&one.stdout));
}

#[test]
fn watermarks_cross_the_network_in_order_with_their_batches() {
    // The golden case, with the keyed vertex's second subtask on another
    // TaskManager: its watermarks and counts arrive over loopback gRPC.
    let case = weir_testing::repo_root().join("tests/golden/event-time-keyed");
    let dir = tempfile::tempdir().unwrap();
    for file in ["job.yaml", "events.jsonl"] {
        std::fs::copy(case.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir(dir.path().join("modules")).unwrap();
    std::fs::copy(
        guests().path("event-time-probe"),
        dir.path().join("modules/event_time_probe.wasm"),
    )
    .unwrap();
    let out = run_weir(
        &[
            "run",
            "job.yaml",
            "--progress",
            "never",
            "--taskmanagers",
            "2",
        ],
        dir.path(),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    got.sort();
    let expected: Vec<String> = std::fs::read_to_string(case.join("expected.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_killed_taskmanager_leaves_each_record_once_in_the_committed_output() {
    let dir = tempfile::tempdir().unwrap();
    const RECORDS: u64 = 160_000;
    checkpointed_keyed_job(
        dir.path(),
        RECORDS,
        40_000,
        "checkpointing: {interval: 300ms, storage: checkpoints}\n\
         restartStrategy: {type: fixed-delay, attempts: 3, delay: 200ms}\n",
    );
    let mut cluster = Cluster::start(3, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    wait_until(WAIT, || {
        completed_checkpoints(&cluster, &id) >= 2
            && cluster.job(&id)["source-records"].as_u64().unwrap_or(0) > RECORDS / 3
    });
    let committed_before = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    assert!(
        committed_before > 0,
        "checkpoints completed but nothing was committed"
    );

    let victim = cluster.taskmanagers.remove(2);
    let pid = victim.pid().to_string();
    assert!(Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    drop(victim);

    let done = cluster.wait_for_state(&id, "FINISHED");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "{done:#}");
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    assert!(
        stats["counts"]["restored"].as_u64().unwrap() >= 1,
        "{stats:#}"
    );
    assert!(
        stats["latest"]["restored"]["external_path"]
            .as_str()
            .unwrap()
            .contains("/chk-"),
        "{stats:#}"
    );
    assert_each_record_once(&dir.path().join("out.jsonl"), RECORDS);
    // The staging directory is gone once the job finished.
    assert!(!dir.path().join(".out.jsonl.pending").exists());
    let metrics = http(cluster.rest, "GET", "/metrics").1;
    for name in [
        "numberOfCompletedCheckpoints",
        "numberOfFailedCheckpoints",
        "lastCheckpointDuration",
        "lastCheckpointSize",
    ] {
        assert!(
            metrics.contains(&format!("weir_jobmanager_job_{name}{{job_id=\"{id}\"")),
            "{name} missing:\n{metrics}"
        );
    }
}

#[test]
fn stop_with_savepoint_then_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    const RECORDS: u64 = 80_000;
    // No periodic checkpoints: a savepoint alone must carry the job over.
    checkpointed_keyed_job(dir.path(), RECORDS, 30_000, "");
    let cluster = Cluster::start(2, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    wait_until(WAIT, || {
        cluster.job(&id)["source-records"].as_u64().unwrap_or(0) > RECORDS / 4
    });
    // A savepoint from the command line: the job goes on.
    let taken = cluster.weir(
        &["savepoint", &id, "cli-savepoints", "--output", "json"],
        dir.path(),
    );
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let taken: Value = serde_json::from_slice(&taken.stdout).unwrap();
    let cli_savepoint = taken["location"].as_str().unwrap();
    let name = cli_savepoint.rsplit('/').next().unwrap();
    assert!(
        dir.path()
            .join("cli-savepoints")
            .join(name)
            .join("_metadata")
            .is_file(),
        "{cli_savepoint}"
    );
    assert_eq!(cluster.job(&id)["state"], "RUNNING");

    // A savepoint through REST, as Flink's clients ask for one.
    let target = dir.path().join("rest-savepoints");
    let (status, body) = http_with(
        cluster.rest,
        "POST",
        &format!("/jobs/{id}/savepoints"),
        &serde_json::json!({ "target-directory": target, "cancel-job": false }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let request: Value = serde_json::from_str(&body).unwrap();
    let request = request["request-id"].as_str().unwrap().to_string();
    let mut answer = Value::Null;
    wait_until(WAIT, || {
        answer = cluster.get(&format!("/jobs/{id}/savepoints/{request}"));
        answer["status"]["id"] == "COMPLETED"
    });
    let rest_savepoint = answer["operation"]["location"].as_str().unwrap_or_default();
    assert!(
        rest_savepoint.contains("/rest-savepoints/savepoint-"),
        "{answer:#}"
    );
    let on_disk = target.join(rest_savepoint.rsplit('/').next().unwrap());
    assert!(on_disk.join("_metadata").is_file(), "{}", on_disk.display());
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    assert_eq!(
        stats["latest"]["savepoint"]["external_path"], rest_savepoint,
        "{stats:#}"
    );
    assert_eq!(
        http(cluster.rest, "POST", "/jobs/no-such-job/savepoints").0,
        404
    );

    let stopped = cluster.weir(
        &["stop", &id, "--savepoint", "savepoints", "--output", "json"],
        dir.path(),
    );
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let reply: Value = serde_json::from_slice(&stopped.stdout).unwrap();
    let savepoint = reply["location"].as_str().unwrap().to_string();
    assert!(savepoint.contains("/savepoints/savepoint-"), "{savepoint}");
    let ended = cluster.wait_for_state(&id, "FINISHED");
    assert!(
        ended["status-message"]
            .as_str()
            .unwrap()
            .starts_with("stopped with savepoint"),
        "{ended:#}"
    );
    let partial = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    assert!(
        partial > 0 && partial < RECORDS,
        "{partial} records before the stop"
    );

    let resumed = cluster.weir(
        &[
            "submit",
            "job.yaml",
            "--from-savepoint",
            &savepoint,
            "--wait",
        ],
        dir.path(),
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_each_record_once(&dir.path().join("out.jsonl"), RECORDS);

    // A savepoint of another job graph is refused with what differs.
    let other = std::fs::read_to_string(dir.path().join("job.yaml"))
        .unwrap()
        .replace("parallelism: 3", "parallelism: 2");
    std::fs::write(dir.path().join("other.yaml"), other).unwrap();
    let refused = cluster.weir(
        &["submit", "other.yaml", "--from-savepoint", &savepoint],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("count x3") && stderr.contains("count x2"),
        "{stderr}"
    );
}

#[test]
fn a_damaged_or_missing_checkpoint_is_named_and_an_older_one_restored() {
    let dir = tempfile::tempdir().unwrap();
    const RECORDS: u64 = 120_000;
    checkpointed_keyed_job(
        dir.path(),
        RECORDS,
        30_000,
        "checkpointing: {interval: 200ms, retained: 3, storage: checkpoints}\n\
         restartStrategy: {type: fixed-delay, attempts: 5, delay: 1s}\n",
    );
    let mut cluster = Cluster::start(3, 2);
    let id = cluster.submit(dir.path(), "job.yaml");
    wait_until(WAIT, || completed_checkpoints(&cluster, &id) >= 4);
    let victim = cluster.taskmanagers.remove(0);
    assert!(Command::new("kill")
        .args(["-9", &victim.pid().to_string()])
        .status()
        .unwrap()
        .success());
    drop(victim);
    cluster.wait_for_state(&id, "RESTARTING");

    // The newest retained checkpoint gets a damaged snapshot, the one
    // before loses one: the restart must fall back to the third.
    let storage = dir.path().join("checkpoints").join(&id);
    let mut retained: Vec<(u64, PathBuf)> = std::fs::read_dir(&storage)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("_metadata").is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((name.strip_prefix("chk-")?.parse().ok()?, e.path()))
        })
        .collect();
    retained.sort();
    // Deleting the checkpoints no longer retained may still be under way.
    assert!(retained.len() >= 3, "{retained:?}");
    let n = retained.len();
    let (newest, newest_dir) = retained[n - 1].clone();
    let (middle, middle_dir) = retained[n - 2].clone();
    let (oldest, _) = retained[n - 3].clone();
    let damaged = newest_dir.join("task-1-0");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::remove_file(middle_dir.join("task-0-1")).unwrap();

    let done = cluster.wait_for_state(&id, "FINISHED");
    assert!(done["restarts"].as_u64().unwrap() >= 3, "{done:#}");
    let log = cluster.jobmanager.log();
    assert!(
        log.contains(&format!("cannot restore checkpoint {newest}"))
            && log.contains("it is damaged")
            && log.contains(&format!("falls back to checkpoint {middle}")),
        "{log}"
    );
    assert!(
        log.contains(&format!("cannot restore checkpoint {middle}"))
            && log.contains("task-0-1 does not exist")
            && log.contains(&format!("falls back to checkpoint {oldest}")),
        "{log}"
    );
    assert_each_record_once(&dir.path().join("out.jsonl"), RECORDS);
}

#[test]
fn checkpoints_on_an_s3_store_carry_a_job_through_a_crash() {
    let s3 = weir_testing::S3Server::start("weir");
    let dir = tempfile::tempdir().unwrap();
    const RECORDS: u64 = 60_000;
    checkpointed_keyed_job(
        dir.path(),
        RECORDS,
        20_000,
        "checkpointing: {interval: 200ms, storage: \"s3://weir/checkpoints\"}\n",
    );
    let rest = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let weir = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command
            .current_dir(dir.path())
            .envs(s3.env())
            .env("WEIR_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    };
    let mut first = weir()
        .args(["run", "job.yaml", "--progress", "never", "--rest-address"])
        .arg(rest.to_string())
        .spawn()
        .unwrap();
    let mut location = String::new();
    wait_until(WAIT, || {
        if TcpStream::connect(rest).is_err() {
            return false;
        }
        let (status, body) = http(rest, "GET", "/jobs/overview");
        if status != 200 {
            return false;
        }
        let jobs: Value = serde_json::from_str(&body).unwrap();
        let Some(id) = jobs["jobs"][0]["jid"].as_str() else {
            return false;
        };
        let (_, body) = http(rest, "GET", &format!("/jobs/{id}/checkpoints"));
        let stats: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        location = stats["latest"]["completed"]["external_path"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        stats["counts"]["completed"].as_u64().unwrap_or(0) >= 2
    });
    assert!(Command::new("kill")
        .args(["-9", &first.id().to_string()])
        .status()
        .unwrap()
        .success());
    first.wait().unwrap();
    assert!(location.starts_with("s3://weir/checkpoints/"), "{location}");

    let resumed = weir()
        .args([
            "run",
            "job.yaml",
            "--progress",
            "never",
            "--from-savepoint",
            &location,
        ])
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_each_record_once(&dir.path().join("out.jsonl"), RECORDS);
}

#[test]
fn probes_say_a_taskmanager_is_ready_only_while_registered() {
    let mut cluster = Cluster::start(1, 1);
    assert_eq!(http(cluster.rest, "GET", "/healthz").0, 200);
    assert_eq!(http(cluster.rest, "GET", "/readyz").0, 200);
    let tms = cluster.get("/taskmanagers");
    let metrics: SocketAddr = tms["taskmanagers"][0]["metricsAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("{tms:#}"))
        .parse()
        .unwrap();
    assert_eq!(http(metrics, "GET", "/healthz").0, 200);
    assert_eq!(http(metrics, "GET", "/readyz").0, 200);

    // Without its JobManager the TaskManager is alive but not ready.
    let jobmanager = std::mem::replace(&mut cluster.jobmanager, Process::start(&["--version"]));
    drop(jobmanager);
    wait_until(WAIT, || http(metrics, "GET", "/readyz").0 == 503);
    let (_, body) = http(metrics, "GET", "/readyz");
    assert!(
        body.contains("not registered with the JobManager"),
        "{body}"
    );
    assert_eq!(http(metrics, "GET", "/healthz").0, 200);
}

#[test]
fn a_taskmanager_reads_its_settings_from_weir_yaml_and_flags_win() {
    let mut cluster = Cluster::start(0, 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.yaml"),
        format!(
            "taskmanager:\n  jobmanager: {}\n  slots: 3\n  noCache: true\n",
            cluster.rpc
        ),
    )
    .unwrap();
    let config = dir.path().join("weir.yaml");
    let config = config.to_str().unwrap();
    cluster
        .taskmanagers
        .push(Process::start(&["taskmanager", "--config", config]));
    cluster.wait_for_taskmanagers(1);
    let tms = cluster.get("/taskmanagers");
    assert_eq!(tms["taskmanagers"][0]["slotsNumber"], 3, "{tms:#}");
    // A flag on the command line beats the file.
    cluster.taskmanagers.push(Process::start(&[
        "taskmanager",
        "--config",
        config,
        "--slots",
        "2",
    ]));
    cluster.wait_for_taskmanagers(2);
    let slots: Vec<u64> = cluster.get("/taskmanagers")["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tm| tm["slotsNumber"].as_u64().unwrap())
        .collect();
    assert!(slots.contains(&2) && slots.contains(&3), "{slots:?}");

    std::fs::write(dir.path().join("bad.yaml"), "taskmanager:\n  slot: 3\n").unwrap();
    let out = run_weir(&["taskmanager", "--config", "bad.yaml"], dir.path()).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.yaml: taskmanager.slot is not a setting") && stderr.contains("slots"),
        "{stderr}"
    );
}
