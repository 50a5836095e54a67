//! Whole jobs through `prepare` and `run`: partitioning, failures, and the
//! process staying usable after a misbehaving operator.

use std::collections::BTreeMap;
use std::path::Path;
use weir_types::Classify;

use weir_executor::{JobError, RunDefaults};
use weir_testing::guests;
use weir_types::JobSpec;
use weir_wasm_host::{EngineConfig, WasmHost};
use weir_wasm_operator::prepare;

fn host() -> WasmHost {
    WasmHost::new(EngineConfig::default()).unwrap()
}

fn run(host: &WasmHost, yaml: &str, dir: &Path) -> Result<weir_executor::JobSummary, JobError> {
    let spec = JobSpec::from_yaml(yaml).unwrap();
    prepare(&spec, dir, host, &RunDefaults::default())?.run()
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
    let summary = run(&host(), &yaml, dir.path()).unwrap();
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
    let host = host();
    run(&host, &yaml(1, "final", "one.jsonl"), dir.path()).unwrap();
    run(&host, &yaml(2, "running", "two.jsonl"), dir.path()).unwrap();
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
    let host = host();
    let yaml = |mode: &str| {
        format!(
            "name: m\nsource: {{type: text, path: in.txt}}\n\
             operators:\n  - name: probe\n    module: {}\n    config: {{mode: {mode}}}\n\
             sink: {{type: blackhole}}\n",
            guests().path("misbehave").display()
        )
    };
    let err = run(&host, &yaml("garbage"), dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("operator 'probe' returned a malformed batch from process:"),
        "{err}"
    );
    assert!(err.is_retryable());
    let summary = run(&host, &yaml("passthrough"), dir.path()).unwrap();
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
    let err = run(&host(), &yaml, dir.path()).unwrap_err();
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
    let spec = JobSpec::from_yaml(&yaml).unwrap();
    let err = prepare(&spec, dir.path(), &host(), &RunDefaults::default())
        .err()
        .unwrap();
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
    let summary = run(&host(), &yaml, dir.path()).unwrap();
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

/// Processing-time timers registered by a WASM operator fire, once each and
/// per key, when the task's clock passes them.
#[test]
fn processing_time_timers_fire_once_per_key() {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use weir_executor::{OpenInfo, Operator};
    use weir_wasm_host::{Capabilities, InstanceLimits};
    use weir_wasm_operator::WasmOperator;

    let host = host();
    let module = host
        .load("probe", &guests().bytes("event-time-probe"), None)
        .unwrap();
    let mut probe = WasmOperator::new(
        "probe",
        &module,
        InstanceLimits::default(),
        Capabilities::default(),
        r#"{"processingTimerMs": 0}"#.into(),
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let info = OpenInfo {
        key_fields: vec!["user".into()],
        parallelism: 1,
        max_parallelism: 128,
        ..OpenInfo::default()
    };
    probe.open(schema.clone(), &info).unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "a"])),
            Arc::new(Int64Array::from(vec![1, 2, 3])),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    probe.process(batch, &mut out).unwrap();
    assert!(out.is_empty());
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 1;
    probe.on_processing_time(later, &mut out).unwrap();
    let fired: usize = out.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(fired, 2, "one timer per key: {out:?}");
    let mut again = Vec::new();
    probe.on_processing_time(later + 1000, &mut again).unwrap();
    assert!(again.is_empty(), "a timer fires once");
}
