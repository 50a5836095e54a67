//! Keyed state in the host: a running count per key kept in the WASM
//! operator's value state (the `keyed-count` fixture: one `get` and one
//! `put` per batch), generator → hash by key → keyed count → blackhole,
//! parallelism 2. A JobManager and a TaskManager with two slots run in this
//! process, as under `weir run`, so every write goes through the
//! TaskManager's state limits (one job's, and the TaskManager's).
//!
//! `cargo bench -p weir-taskmanager --bench keyed_state` (or `make bench`);
//! WEIR_BENCH_RECORDS sets the record count (default 20,000,000).
//! Prints figures; asserts nothing about speed.

use std::net::SocketAddr;
use std::time::Duration;

use weir_jobmanager::JobManagerConfig;
use weir_proto::v1::JobDetails;
use weir_taskmanager::TaskManagerConfig;

const RUNS: usize = 3;

fn run(module: &[u8], records: u64, keys: u64) -> JobDetails {
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
            checkpoint_storage: "memory:///checkpoints".into(),
            ..JobManagerConfig::default()
        })
        .await
        .expect("the JobManager starts");
        let config = TaskManagerConfig::new(format!("http://{}", jobmanager.rpc_address), 2);
        let _tm = weir_taskmanager::start(config)
            .await
            .expect("a TaskManager starts");
        let digest = jobmanager
            .core
            .put_module("", module.to_vec())
            .expect("the module is taken");
        let spec = format!(
            "name: keyed-count\nparallelism: 2\n\
             source: {{type: generator, count: {records}, keys: {keys}}}\n\
             operators:\n  - {{name: count, module: keyed_count.wasm, sha256: \"{digest}\", keyBy: [key]}}\n\
             sink: {{type: blackhole}}\n"
        );
        let id = jobmanager
            .core
            .submit(&spec, None)
            .expect("the job is accepted");
        let done = jobmanager.core.wait(&id).await.expect("the job exists");
        assert_eq!(done.job_state(), Some(weir_types::JobState::Finished), "{}", done.status_message);
        done
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    details
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
    let module = weir_testing::guests().bytes("keyed-count");
    println!(
        "weir keyed-state benchmark: generator -> hash(key) -> keyed-count (WASM, value state) \
         -> blackhole, parallelism 2, {records} records, best of {RUNS}"
    );
    for keys in [1_000u64, 100_000] {
        let best = (0..RUNS)
            .map(|_| records as f64 / seconds(&run(&module, records, keys)))
            .fold(0.0f64, f64::max);
        println!(
            "  {keys:>7} keys: {:>6.2}M records/s ({:.2}M per core)",
            best / 1e6,
            best / 2e6
        );
    }
}
