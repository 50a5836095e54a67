//! Whole jobs on an in-process cluster: partitioning, failures, and the
//! cluster staying usable after a misbehaving operator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use weir_executor::{JobSummary, PathPolicy};
use weir_minicluster::{JobFailure, MiniCluster, MiniClusterConfig, RunError};
use weir_testing::guests;
use weir_types::{Classify, JobSpec};

/// A JobManager and one TaskManager of four slots, allowed the job's
/// directory, on a runtime of their own.
struct Cluster {
    runtime: tokio::runtime::Runtime,
    cluster: MiniCluster,
    dir: PathBuf,
}

fn cluster(dir: &Path) -> Cluster {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = MiniClusterConfig::new(1, 4);
    config.taskmanager.paths = PathPolicy::deny_all().allow(dir);
    let cluster = runtime.block_on(MiniCluster::start(config)).unwrap();
    Cluster {
        runtime,
        cluster,
        dir: dir.to_path_buf(),
    }
}

impl Cluster {
    /// Runs the job to its end: its summary, or the failure that ended it.
    fn run(&self, yaml: &str) -> Result<JobSummary, JobFailure> {
        let spec = JobSpec::from_yaml(yaml).unwrap();
        let upload = weir_artifact::pin_local_modules(spec, &self.dir).unwrap();
        match self.runtime.block_on(self.cluster.run(upload)) {
            Ok(summary) => Ok(summary),
            Err(RunError::Failed(failure)) => Err(failure),
            Err(RunError::Cluster(e)) => panic!("the job was not accepted: {e}"),
        }
    }
}

fn counts(path: &Path) -> Vec<(String, i64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                value["key"].as_str().unwrap().to_string(),
                value["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_keyed_count_at_parallelism_three_sees_each_key_on_one_subtask() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: keyed\nparallelism: 3\nbatchSize: 100\n\
         source: {{type: generator, count: 30000, keys: 100}}\n\
         operators:\n  - name: scale\n    module: {}\n  - name: count\n    builtin: count\n    keyBy: [key]\n    config: {{emit: final}}\n\
         sink: {{type: jsonl, path: out.jsonl}}\n",
        guests().path("scale").display()
    );
    let summary = cluster(dir.path()).run(&yaml).unwrap();
    assert_eq!(summary.source_records, 30_000);
    let counts = counts(&dir.path().join("out.jsonl"));
    // Each key is counted on exactly one subtask: one line per key, whole counts.
    assert_eq!(counts.len(), 100, "{counts:?}");
    let by_key: BTreeMap<String, i64> = counts.into_iter().collect();
    assert_eq!(by_key.len(), 100);
    assert!(by_key.values().all(|&c| c == 300), "{by_key:?}");
    assert_eq!(summary.operators[1].records_in, 30_000);
    assert_eq!(summary.operators[1].records_out, 100);
}

#[test]
fn running_counts_agree_with_final_counts_across_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = |parallelism: u32, emit: &str, out: &str| {
        format!(
            "name: running\nparallelism: {parallelism}\nbatchSize: 64\n\
             source: {{type: generator, count: 5000, keys: 7}}\n\
             operators:\n  - name: count\n    builtin: count\n    keyBy: [key]\n    config: {{emit: {emit}}}\n\
             sink: {{type: jsonl, path: {out}}}\n"
        )
    };
    let cluster = cluster(dir.path());
    cluster.run(&yaml(1, "final", "one.jsonl")).unwrap();
    cluster.run(&yaml(2, "running", "two.jsonl")).unwrap();
    let expected: BTreeMap<String, i64> =
        counts(&dir.path().join("one.jsonl")).into_iter().collect();
    let mut highest: BTreeMap<String, i64> = BTreeMap::new();
    let running = counts(&dir.path().join("two.jsonl"));
    assert_eq!(running.len(), 5000);
    for (key, count) in running {
        let entry = highest.entry(key).or_default();
        *entry = (*entry).max(count);
    }
    assert_eq!(highest, expected);
}

#[test]
fn malformed_output_fails_the_job_and_the_next_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "a\nb\n").unwrap();
    let cluster = cluster(dir.path());
    let yaml = |mode: &str| {
        format!(
            "name: m\nsource: {{type: text, path: in.txt}}\n\
             operators:\n  - name: probe\n    module: {}\n    config: {{mode: {mode}}}\n\
             sink: {{type: blackhole}}\n",
            guests().path("misbehave").display()
        )
    };
    let err = cluster.run(&yaml("garbage")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("operator 'probe' returned a malformed batch from process:"),
        "{err}"
    );
    assert!(err.is_retryable());
    let summary = cluster.run(&yaml("passthrough")).unwrap();
    assert_eq!(summary.sink_records, 2);
}

#[test]
fn a_failure_in_one_subtask_stops_the_whole_parallel_job() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: p\nparallelism: 3\nbatchSize: 10\nsource: {{type: generator}}\n\
         operators:\n  - name: probe\n    module: {}\n    config: {{mode: error, afterBatches: 5}}\n\
         sink: {{type: blackhole}}\n",
        guests().path("misbehave").display()
    );
    // The source is unbounded: the job ends only because the failure stops it.
    let err = cluster(dir.path()).run(&yaml).unwrap_err();
    assert!(
        err.to_string()
            .contains("misbehave: deliberate error on batch 5"),
        "{err}"
    );
}

#[test]
fn an_invalid_config_fails_before_any_record_and_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: c\nsource: {{type: generator}}\n\
         operators:\n  - name: probe\n    module: {}\n    config: {{mode: open-error}}\n\
         sink: {{type: blackhole}}\n",
        guests().path("misbehave").display()
    );
    let err = cluster(dir.path()).run(&yaml).unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("invalid-config"), "{err}");
}

/// An instance whose memory only grows (as CPython's does) is replaced
/// between calls before it reaches its limit: 4,000 calls leak 1000 MiB
/// through a 64 MiB instance, and every record still arrives exactly once.
#[test]
fn an_instance_that_only_grows_is_recycled_without_losing_or_repeating_records() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: soak\nbatchSize: 50\n\
         source: {{type: generator, count: 200000}}\n\
         operators:\n  - name: leaky\n    module: {}\n    config: {{mode: leak}}\n    resources: {{memory: 64Mi}}\n\
         sink: {{type: jsonl, path: out.jsonl}}\n",
        guests().path("misbehave").display()
    );
    let summary = cluster(dir.path()).run(&yaml).unwrap();
    let stats = summary.operators[0].instances;
    assert!(stats.recycles >= 10, "{stats:?}");
    assert!(stats.peak_memory_bytes < 64 << 20, "{stats:?}");
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let mut seen = vec![false; 200_000];
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = value["id"].as_u64().unwrap() as usize;
        assert!(!seen[id], "record {id} arrived twice");
        seen[id] = true;
    }
    let missing: Vec<usize> = (0..seen.len()).filter(|&i| !seen[i]).collect();
    assert!(
        missing.is_empty(),
        "{} records lost, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
