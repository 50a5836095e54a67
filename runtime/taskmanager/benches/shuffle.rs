//! The same keyed pipeline (generator → hash by key → count → blackhole,
//! parallelism 3) with its shuffle in memory (one TaskManager: the embedded
//! default) and over loopback gRPC (three TaskManagers: the data plane's
//! Arrow Flight frames, credits and all). A JobManager and the TaskManagers
//! run in this process; the network path is the real one.
//!
//! `cargo bench -p weir-taskmanager --bench shuffle` (or `make bench`); set
//! WEIR_BENCH_RECORDS to change the record count (default 3,000,000).
//! Prints figures; asserts nothing about speed.

use std::net::SocketAddr;
use std::time::Duration;

use weir_jobmanager::JobManagerConfig;
use weir_taskmanager::TaskManagerConfig;

const RUNS: usize = 3;

struct Run {
    seconds: f64,
    shuffled_bytes: u64,
    frames: u64,
}

fn run(records: u64, taskmanagers: u32) -> Run {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        let jobmanager = weir_jobmanager::start(JobManagerConfig {
            rpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rest_bind: None,
            heartbeat_interval: Duration::from_millis(500),
            heartbeat_timeout: Duration::from_secs(30),
            checkpoint_storage: "memory:///checkpoints".into(),
            cluster_id: None,
            ..JobManagerConfig::default()
        })
        .await
        .expect("the JobManager starts");
        let mut handles = Vec::new();
        for _ in 0..taskmanagers {
            let slots = 3u32.div_ceil(taskmanagers);
            let config =
                TaskManagerConfig::new(format!("http://{}", jobmanager.rpc_address), slots);
            handles.push(
                weir_taskmanager::start(config)
                    .await
                    .expect("a TaskManager starts"),
            );
        }
        let spec = format!(
            "name: shuffle\nparallelism: 3\nbatchSize: 1024\n\
             source: {{type: generator, count: {records}, keys: 10000}}\n\
             operators:\n  - name: count\n    builtin: count\n    keyBy: [key]\n    config: {{emit: final}}\n\
             sink: {{type: blackhole}}\n"
        );
        let id = jobmanager.core.submit(&spec, None).expect("the job is accepted");
        let done = jobmanager.core.wait(&id).await.expect("the job exists");
        assert_eq!(done.job_state(), Some(weir_types::JobState::Finished), "{}", done.status_message);
        assert_eq!(done.source_records, records);
        Run {
            seconds: (done.end_time_ms - done.start_time_ms) as f64 / 1e3,
            shuffled_bytes: handles.iter().map(|h| h.data_plane.sent_bytes()).sum(),
            frames: handles.iter().map(|h| h.data_plane.sent_frames()).sum(),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 30_000 } else { 3_000_000 });
    println!(
        "weir shuffle benchmark: generator -> hash(key) -> count -> blackhole, parallelism 3, \
         {records} records, best of {RUNS}"
    );
    for (label, taskmanagers) in [
        ("1 TaskManager, shuffle in memory ", 1),
        ("3 TaskManagers, loopback gRPC    ", 3),
    ] {
        let best = (0..RUNS)
            .map(|_| run(records, taskmanagers))
            .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .expect("at least one run");
        let per_second = records as f64 / best.seconds.max(1e-9);
        let network = if best.shuffled_bytes > 0 {
            format!(
                ", {:.1} MB/s over the network ({:.1} MB in {} frames, {:.0} bytes/record)",
                best.shuffled_bytes as f64 / best.seconds / 1e6,
                best.shuffled_bytes as f64 / 1e6,
                best.frames,
                best.shuffled_bytes as f64 / records as f64
            )
        } else {
            String::new()
        };
        println!("  {label} {:>8.0}k records/s{network}", per_second / 1e3);
    }
}
