//! The host's side of the sandbox, tried the way an attacker on loopback
//! would: a job spec reaching for files outside what the configuration
//! allows, keyed state without end, an endless line, an oversized module,
//! a flood of deeply nested submissions beside a neighbour's job, a guest
//! logging 10 MB messages, a reader that closes the pipe. Each is refused
//! with an error naming the limit, and nothing else suffers.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::cluster::{http, wait_until, Cluster, WAIT};
use support::run_weir;
use weir_testing::guests;

/// `weir run job.yaml` in `dir` with extra flags; the run must fail with
/// exit status 1; returns its standard error.
fn run_fails(dir: &Path, flags: &[&str]) -> String {
    let mut args = vec!["run", "job.yaml", "--no-cache", "--progress", "never"];
    args.extend(flags);
    let out = run_weir(&args, dir).expect("weir run ends");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn write_job(dir: &Path, source: &str, sink: &str, extra: &str) {
    std::fs::write(
        dir.join("job.yaml"),
        format!("name: probe\nsource: {source}\nsink: {sink}\n{extra}"),
    )
    .unwrap();
}

#[test]
fn sources_and_sinks_cannot_leave_the_allowed_paths() {
    let root = tempfile::tempdir().unwrap();
    let job = root.path().join("job");
    std::fs::create_dir(&job).unwrap();
    std::fs::write(root.path().join("secret.txt"), "the secret\n").unwrap();
    std::fs::write(job.join("in.txt"), "a line\n").unwrap();

    // Reading outside the job's directory: by absolute path, by `..`, and
    // through a link.
    for path in [
        "/etc/passwd".to_string(),
        "../secret.txt".to_string(),
        root.path().join("secret.txt").display().to_string(),
    ] {
        write_job(
            &job,
            &format!("{{type: text, path: \"{path}\"}}"),
            "{type: jsonl, path: out.jsonl}",
            "",
        );
        let stderr = run_fails(&job, &[]);
        assert!(
            stderr.contains("source.path") && stderr.contains("is outside the paths allowed"),
            "{path}: {stderr}"
        );
        assert!(
            !job.join("out.jsonl").exists(),
            "{path}: nothing was copied"
        );
    }
    std::os::unix::fs::symlink(root.path(), job.join("up")).unwrap();
    write_job(
        &job,
        "{type: text, path: up/secret.txt}",
        "{type: jsonl, path: out.jsonl}",
        "",
    );
    assert!(run_fails(&job, &[]).contains("is outside the paths allowed"));

    // Writing outside, over the job's own spec, into its checkpoints.
    let sinks = [
        ("../escape.jsonl", "is outside the paths allowed"),
        ("job.yaml", "the job's spec"),
        ("checkpoints/stolen.jsonl", "the checkpoint storage"),
    ];
    for (path, why) in sinks {
        write_job(
            &job,
            "{type: text, path: in.txt}",
            &format!("{{type: jsonl, path: {path}}}"),
            "checkpointing: {interval: 1s, storage: checkpoints}\n",
        );
        let stderr = run_fails(&job, &[]);
        assert!(
            stderr.contains("sink.path") && stderr.contains(why),
            "{path}: {stderr}"
        );
    }
    assert!(!root.path().join("escape.jsonl").exists());
    assert!(std::fs::read_to_string(job.join("job.yaml"))
        .unwrap()
        .starts_with("name: probe"));

    // What `--allowed-path` allows, a job may read.
    write_job(
        &job,
        &format!(
            "{{type: text, path: \"{}\"}}",
            root.path().join("secret.txt").display()
        ),
        "{type: jsonl, path: out.jsonl}",
        "",
    );
    let out = run_weir(
        &[
            "run",
            "job.yaml",
            "--no-cache",
            "--allowed-path",
            root.path().to_str().unwrap(),
        ],
        &job,
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_taskmanager_allows_no_file_unless_configured() {
    let mut cluster = Cluster::start(0, 1);
    // A TaskManager with the default rule: no file at all.
    cluster.taskmanagers.push(support::Process::start(&[
        "taskmanager",
        "--jobmanager",
        cluster.rpc.trim_start_matches("http://"),
        "--no-cache",
    ]));
    cluster.wait_for_taskmanagers(1);
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        "{type: text, path: /etc/passwd}",
        "{type: jsonl, path: out.jsonl}",
        "",
    );
    let id = cluster.submit(dir.path(), "job.yaml");
    let failed = cluster.wait_for_failed(&id);
    let message = failed["status-message"].as_str().unwrap();
    assert!(
        message.contains("/etc/passwd is outside the paths allowed here (none are")
            && message.contains("allowedPaths"),
        "{failed:#}"
    );
    assert_eq!(
        failed["restarts"], 0,
        "a refusal is not retried: {failed:#}"
    );
    assert!(!dir.path().join("out.jsonl").exists());
}

#[test]
fn keyed_state_past_the_job_cap_is_an_error_and_a_cancelled_job_gives_it_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guests().path("keyed-count"), dir.path().join("count.wasm")).unwrap();
    // Every record a new key: the state grows without end.
    write_job(
        dir.path(),
        "{type: generator, keys: 100000000}",
        "{type: blackhole}",
        "operators:\n  - {name: count, module: count.wasm, keyBy: [key]}\n",
    );
    let stderr = run_fails(dir.path(), &["--job-state-size", "4Mi"]);
    assert!(
        stderr.contains("keyed state of job")
            && stderr.contains("over its limit of 4.0 MiB (taskmanager.jobStateSize)"),
        "{stderr}"
    );

    // On a cluster: the TaskManager's figure goes up while the job runs and
    // back to zero once it is cancelled, and the process gives the memory
    // back to the system.
    let cluster = Cluster::start(1, 1);
    write_job(
        dir.path(),
        "{type: generator, keys: 100000000, rate: 200000}",
        "{type: blackhole}",
        "operators:\n  - {name: count, module: count.wasm, keyBy: [key]}\n",
    );
    let id = cluster.submit(dir.path(), "job.yaml");
    let metrics_address = cluster.get("/taskmanagers")["taskmanagers"][0]["metricsAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let state_bytes = || -> f64 {
        let (_, text) = http(metrics_address, "GET", "/metrics");
        text.lines()
            .find(|l| l.starts_with("weir_taskmanager_keyedStateBytes"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(-1.0)
    };
    wait_until(WAIT, || state_bytes() > 50e6);
    let taskmanager = cluster.taskmanagers[0].pid();
    let peak = resident_bytes(taskmanager);
    let held = state_bytes();
    let out = cluster.weir(&["cancel", &id], dir.path());
    assert!(out.status.success());
    cluster.wait_for_state(&id, "CANCELED");
    wait_until(WAIT, || state_bytes() == 0.0);
    wait_until(WAIT, || resident_bytes(taskmanager) < peak - held / 2.0);
}

/// The resident memory of process `pid`, in bytes.
fn resident_bytes(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024.0
}

#[test]
fn a_file_without_line_breaks_is_refused_at_the_line_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), vec![b'x'; 8 << 20]).unwrap();
    write_job(
        dir.path(),
        "{type: text, path: in.txt}",
        "{type: blackhole}",
        "",
    );
    let stderr = run_fails(dir.path(), &[]);
    assert!(
        stderr
            .contains("line 1: longer than the limit of 1048576 bytes (taskmanager.maxLineLength)"),
        "{stderr}"
    );
    let stderr = run_fails(dir.path(), &["--max-line-length", "64Ki"]);
    assert!(stderr.contains("limit of 65536 bytes"), "{stderr}");
}

#[test]
fn oversized_and_endless_modules_are_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("big.wasm");
    std::fs::write(&module, vec![0u8; (64 << 20) + 1]).unwrap();
    write_job(
        dir.path(),
        "{type: generator, count: 1}",
        "{type: blackhole}",
        "operators:\n  - {name: big, module: big.wasm}\n",
    );
    let stderr = run_fails(dir.path(), &[]);
    assert!(
        stderr.contains("more than the limit of 64.0 MiB (maxModuleSize)"),
        "{stderr}"
    );
    write_job(
        dir.path(),
        "{type: generator, count: 1}",
        "{type: blackhole}",
        "operators:\n  - {name: endless, module: /dev/zero}\n",
    );
    let stderr = run_fails(dir.path(), &[]);
    assert!(
        stderr.contains("/dev/zero is not a regular file"),
        "{stderr}"
    );

    // A JobManager with a lower limit refuses the upload, whatever the
    // client checked.
    let storage = tempfile::tempdir().unwrap();
    let jobmanager = support::Process::start(&[
        "jobmanager",
        "--rpc-address",
        "127.0.0.1:0",
        "--rest-address",
        "127.0.0.1:0",
        "--checkpoint-storage",
        storage.path().to_str().unwrap(),
        "--max-module-size",
        "1Mi",
    ]);
    let ready = jobmanager.wait_for_line("JobManager ready", WAIT);
    let rpc = ready
        .split("rpc ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    std::fs::copy(guests().path("wordcount"), dir.path().join("op.wasm")).unwrap();
    let mut padded = std::fs::read(dir.path().join("op.wasm")).unwrap();
    // A custom section pads the component past the limit and keeps it valid.
    padded.extend_from_slice(&[0, 0x85, 0x80, 0x80, 0x01, 1, b'x']);
    padded.resize(padded.len() + (2 << 20) - 1, 0);
    std::fs::write(dir.path().join("op.wasm"), &padded).unwrap();
    write_job(
        dir.path(),
        "{type: generator, count: 1}",
        "{type: blackhole}",
        "operators:\n  - {name: op, module: op.wasm}\n",
    );
    let out = run_weir(
        &[
            "submit",
            "job.yaml",
            "--jobmanager",
            &format!("http://{rpc}"),
        ],
        dir.path(),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("larger than the JobManager's limit of 1.0 MiB (maxModuleSize)"),
        "{stderr}"
    );
}

/// A spec `depth` levels deep and `size` bytes large.
fn nested_spec(depth: usize, size: usize) -> String {
    let mut spec = format!(
        "name: deep\nsource: {{type: generator, count: 1}}\nsink: {{type: blackhole}}\n\
         operators:\n  - name: c\n    builtin: count\n    keyBy: [key]\n    config: {{x: {}1{}}}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    while spec.len() < size {
        spec.push_str("# padding\n");
    }
    spec
}

#[test]
fn a_flood_of_nested_submissions_leaves_a_neighbour_running() {
    let cluster = Cluster::start(1, 2);
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        "{type: generator, rate: 1000}",
        "{type: blackhole}",
        "",
    );
    let neighbour = cluster.submit(dir.path(), "job.yaml");
    cluster.wait_for_state(&neighbour, "RUNNING");

    // Straight to the JobManager's API, past the client's own checks.
    let rpc = cluster.rpc.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answers: Vec<String> = runtime.block_on(async move {
        let mut calls = Vec::new();
        for i in 0..24 {
            let rpc = rpc.clone();
            calls.push(tokio::spawn(async move {
                let spec = if i % 2 == 0 {
                    nested_spec(500_000, 0)
                } else {
                    nested_spec(20, 8 << 20)
                };
                let mut client = weir_proto::v1::job_service_client::JobServiceClient::connect(rpc)
                    .await
                    .unwrap()
                    .max_encoding_message_size(64 << 20);
                match client
                    .submit_job(weir_proto::v1::SubmitJobRequest {
                        spec_yaml: spec,
                        from_savepoint: String::new(),
                    })
                    .await
                {
                    Ok(reply) => format!("accepted {}", reply.into_inner().job_id),
                    Err(status) => status.message().to_string(),
                }
            }));
        }
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        answers
    });
    for answer in &answers {
        assert!(
            answer.contains("(maxJobSpecDepth)")
                || answer.contains("(maxJobSpecSize)")
                || answer.contains("(maxConcurrentSubmissions)"),
            "every submission is refused naming its limit: {answer}"
        );
    }
    assert!(
        answers.iter().any(|a| a.contains("(maxJobSpecDepth)")),
        "{answers:?}"
    );
    let job = cluster.job(&neighbour);
    assert_eq!(job["state"], "RUNNING", "{job:#}");
    assert_eq!(job["restarts"], 0, "the neighbour never restarted: {job:#}");
    assert_eq!(
        cluster.get("/taskmanagers")["taskmanagers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_guest_logging_10_mb_messages_writes_a_bounded_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        guests().path("misbehave"),
        dir.path().join("misbehave.wasm"),
    )
    .unwrap();
    write_job(
        dir.path(),
        "{type: generator, count: 60, rate: 20}",
        "{type: blackhole}",
        "batchSize: 1\noperators:\n  - {name: flood, module: misbehave.wasm, config: {mode: log-flood}}\n",
    );
    let started = Instant::now();
    let out = run_weir(
        &["run", "job.yaml", "--no-cache", "--progress", "never"],
        dir.path(),
    )
    .expect("weir run ends");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr[..4096.min(out.stderr.len())])
    );
    // The guest wrote 60 x 100 MB; the log holds at most the budget's burst
    // and rate: 128 KiB + 64 KiB per second, plus the lines' framing.
    let budget = (128.0 + 64.0 * seconds) * 1024.0 + 200_000.0;
    assert!(
        (out.stderr.len() as f64) < budget,
        "{} bytes of log in {seconds:.1} s",
        out.stderr.len()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summaries = stderr.matches("guest output over its budget").count();
    assert!(
        summaries >= 1 && summaries as f64 <= seconds / 10.0 + 2.0,
        "one summary per 10 s, not one per line: {summaries} in {seconds:.1} s"
    );
}

#[test]
fn a_reader_that_closes_the_pipe_ends_the_output_quietly() {
    let cluster = Cluster::start(0, 1);
    for args in [
        vec!["crd"],
        vec!["list", "--jobmanager", cluster.rpc.as_str()],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -0`: the reader is gone before anything is written.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success() && !stderr.contains("panicked"),
            "weir {args:?}: {status}: {stderr}"
        );
    }
}
