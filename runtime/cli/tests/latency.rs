//! Low latency without checkpoints: a slow stream's records reach the file
//! (and standard output) within the sink's flush interval, not once a
//! 256 KiB buffer fills or the job ends, and REST counts them meanwhile.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster::try_http;
use support::free_port;

/// Lines of `path` now (0 when it does not exist yet).
fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_slow_stream_shows_its_records_while_the_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Five records a second for six seconds.
    std::fs::write(
        dir.path().join("job.yaml"),
        "name: slow\nbatchSize: 1\nsource: {type: generator, count: 30, rate: 5}\n\
         sink: {type: jsonl, path: out.jsonl}\n",
    )
    .unwrap();
    let rest = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "run",
            "job.yaml",
            "--no-cache",
            "--progress",
            "never",
            "--rest-address",
            &format!("127.0.0.1:{rest}"),
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let output = dir.path().join("out.jsonl");
    let mut seen_in_file = None;
    let mut counted_by_rest = None;
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60) {
        if seen_in_file.is_none() && lines(&output) > 0 {
            seen_in_file = Some(started.elapsed());
        }
        if counted_by_rest.is_none() {
            let address = format!("127.0.0.1:{rest}").parse().unwrap();
            let jobs = try_http(address, "GET", "/jobs/overview", "");
            let id = jobs.and_then(|(_, body)| {
                let jobs: serde_json::Value = serde_json::from_str(&body).ok()?;
                jobs["jobs"][0]["jid"].as_str().map(str::to_string)
            });
            if let Some((_, body)) =
                id.and_then(|id| try_http(address, "GET", &format!("/jobs/{id}"), ""))
            {
                let job: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if job["sink-records"].as_u64().unwrap_or(0) > 0 && job["state"] == "RUNNING" {
                    counted_by_rest = Some(started.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(lines(&output), 30);
    let seen = seen_in_file.expect("records showed in the file while the job ran");
    // The job takes six seconds; its first records are in the file within
    // the first two, not at its end.
    assert!(
        seen < Duration::from_secs(3),
        "first record in the file after {seen:?}"
    );
    assert!(
        counted_by_rest.is_some(),
        "REST counted the sink's records while the job ran"
    );
}
