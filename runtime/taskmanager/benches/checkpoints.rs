//! Keyed windowed count (generator → hash by key → tumbling window with
//! count and avg → blackhole, parallelism 2) with and without checkpoints,
//! and how long a checkpoint takes as the state grows. A JobManager and a
//! TaskManager with two slots run in this process, as under `weir run`;
//! checkpoints go to a local directory.
//!
//! `cargo bench -p weir-taskmanager --bench checkpoints` (or `make bench`);
//! WEIR_BENCH_RECORDS sets the record count (default 20,000,000).
//! Prints figures; asserts nothing about speed.

use std::net::SocketAddr;
use std::time::Duration;

use weir_jobmanager::JobManagerConfig;
use weir_proto::v1::JobDetails;
use weir_taskmanager::TaskManagerConfig;

fn run(spec: &str, storage: &str) -> JobDetails {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let details = runtime.block_on(async {
        let jobmanager = weir_jobmanager::start(JobManagerConfig {
            rpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rest_bind: None,
            heartbeat_interval: Duration::from_millis(500),
            heartbeat_timeout: Duration::from_secs(30),
            checkpoint_storage: storage.to_string(),
            cluster_id: None,
            ..JobManagerConfig::default()
        })
        .await
        .expect("the JobManager starts");
        let config = TaskManagerConfig::new(format!("http://{}", jobmanager.rpc_address), 2);
        let _tm = weir_taskmanager::start(config)
            .await
            .expect("a TaskManager starts");
        let id = jobmanager
            .core
            .submit(spec, None)
            .expect("the job is accepted");
        let done = jobmanager.core.wait(&id).await.expect("the job exists");
        assert_eq!(
            done.job_state(),
            Some(weir_types::JobState::Finished),
            "{}",
            done.status_message
        );
        done
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    details
}

fn windowed(records: u64, keys: u64, checkpointing: &str) -> String {
    format!(
        "name: windowed-count\nparallelism: 2\n\
         source: {{type: generator, count: {records}, keys: {keys}}}\n\
         eventTime: {{column: ts}}\n\
         operators:\n  - name: per-key\n    builtin: window\n    keyBy: [key]\n\
         \x20   config: {{type: tumbling, size: 100000s, aggregates: [{{fn: count}}, {{fn: avg, column: value}}]}}\n\
         sink: {{type: blackhole}}\n{checkpointing}"
    )
}

fn seconds(details: &JobDetails) -> f64 {
    ((details.end_time_ms - details.start_time_ms) as f64 / 1e3).max(1e-9)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200_000 } else { 20_000_000 });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage = format!("file://{}", dir.path().display());
    println!(
        "weir checkpoint benchmark: generator -> hash(key) -> tumbling window (count, avg) -> \
         blackhole, parallelism 2, {records} records, windows longer than the run"
    );
    // Long enough for a few checkpoints 2 s apart.
    let long = records * 3;
    let plain = run(&windowed(long, 10_000, ""), &storage);
    let checkpointed = run(
        &windowed(long, 10_000, "checkpointing: {interval: 2s}\n"),
        &storage,
    );
    for (label, details) in [
        ("without checkpoints       ", &plain),
        ("checkpoints every 2 s     ", &checkpointed),
    ] {
        let stats = details.checkpoints.clone().unwrap_or_default();
        println!(
            "  {label} {:>6.2}M records/s ({:.2}M per core), {} checkpoints",
            long as f64 / seconds(details) / 1e6,
            long as f64 / seconds(details) / 2e6,
            stats.completed
        );
    }
    println!("  checkpoint duration by state size (checkpoints every 1 s):");
    for keys in [10_000u64, 100_000, 1_000_000] {
        let details = run(
            &windowed(
                records.max(keys * 4),
                keys,
                "checkpointing: {interval: 1s}\n",
            ),
            &storage,
        );
        let stats = details.checkpoints.unwrap_or_default();
        let completed: Vec<_> = stats
            .history
            .iter()
            .filter(|c| c.status == "COMPLETED")
            .collect();
        match completed.iter().max_by_key(|c| c.state_size_bytes) {
            Some(largest) => {
                let mean = completed.iter().map(|c| c.duration_ms).sum::<u64>() as f64
                    / completed.len() as f64;
                println!(
                    "    {keys:>9} keys: largest {:>7.1} MB in {:>5} ms; mean {:>6.0} ms over {} checkpoints",
                    largest.state_size_bytes as f64 / 1e6,
                    largest.duration_ms,
                    mean,
                    completed.len()
                );
            }
            None => println!("    {keys:>9} keys: the job ended before a checkpoint completed"),
        }
    }
}
