//! Throughput of a whole job, generator -> WASM map (row encoding) ->
//! blackhole, on the in-process cluster `weir run` uses: the JobManager
//! schedules it, one TaskManager runs a thread per task with in-memory
//! exchanges. The rate is over the job's own time, from RUNNING to FINISHED
//! as the JobManager records them. What a user waits for besides, from
//! submission to the result, is printed for the first job (which compiles
//! the component; as under `weir run`, compiled components are then cached)
//! and for an empty job (no records).
//!
//! `cargo bench -p weir-minicluster --bench whole_job` (or `make bench`); set
//! WEIR_BENCH_RECORDS to change the record count (default 4,000,000).
//! Prints figures; asserts nothing about speed.

use std::time::{Duration, Instant};

use weir_executor::PathPolicy;
use weir_minicluster::{MiniCluster, MiniClusterConfig};
use weir_testing::guests;
use weir_types::JobSpec;

const RUNS: usize = 3;

fn job(
    runtime: &tokio::runtime::Runtime,
    cluster: &MiniCluster,
    dir: &std::path::Path,
    records: u64,
    parallelism: u32,
) -> (f64, Duration, Duration) {
    let yaml = format!(
        "name: bench\nparallelism: {parallelism}\nsource: {{type: generator, count: {records}}}\n\
         operators:\n  - name: scale\n    module: {}\nsink: {{type: blackhole}}\n",
        guests().path("scale").display()
    );
    let spec = JobSpec::from_yaml(&yaml).expect("valid spec");
    let upload = weir_artifact::pin_local_modules(spec, dir).expect("modules read");
    let submitted = Instant::now();
    let summary = runtime.block_on(cluster.run(upload)).expect("runs");
    let waited = submitted.elapsed();
    assert_eq!(summary.sink_records, records);
    (
        records as f64 / summary.duration.as_secs_f64(),
        summary.duration,
        waited,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and expects a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 4_000_000 });
    guests();
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cache = tempfile::tempdir().expect("cache dir");
    let mut config = MiniClusterConfig::new(1, 2);
    config.taskmanager.paths = PathPolicy::deny_all().allow(dir.path());
    config.taskmanager.cache_dir = Some(cache.path().to_path_buf());
    let cluster = runtime
        .block_on(MiniCluster::start(config))
        .expect("cluster starts");

    println!(
        "weir whole-job benchmark: generator -> WASM row map -> blackhole on the in-process \
         cluster, {records} records, best of {RUNS}"
    );
    let (_, ran, waited) = job(&runtime, &cluster, dir.path(), records, 1);
    println!(
        "  first job, submission to result     {:.2} s   (running {:.2} s; the rest compiles the component)",
        waited.as_secs_f64(),
        ran.as_secs_f64()
    );
    let (_, _, empty) = job(&runtime, &cluster, dir.path(), 0, 1);
    println!(
        "  empty job, submission to result     {:.3} s",
        empty.as_secs_f64()
    );
    for parallelism in [1, 2] {
        let (rate, took) = (0..RUNS)
            .map(|_| {
                let (rate, ran, _) = job(&runtime, &cluster, dir.path(), records, parallelism);
                (rate, ran)
            })
            .fold((0.0, Duration::ZERO), |best, run| {
                if run.0 > best.0 {
                    run
                } else {
                    best
                }
            });
        println!(
            "  parallelism {parallelism}   {:>7.2} M records/s   ({:.2} s)",
            rate / 1e6,
            took.as_secs_f64()
        );
    }
}
