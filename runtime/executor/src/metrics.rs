//! Counters a running job updates and a watcher (progress line, summary,
//! later the metrics endpoint) reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use weir_wasm_host::UserMetric;

#[derive(Debug, Default)]
pub struct OperatorMetrics {
    pub name: String,
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
}

#[derive(Debug, Default)]
pub struct JobMetrics {
    pub source_records: AtomicU64,
    pub sink_records: AtomicU64,
    pub operators: Vec<OperatorMetrics>,
}

impl JobMetrics {
    pub fn new(operator_names: impl IntoIterator<Item = String>) -> Self {
        JobMetrics {
            source_records: AtomicU64::new(0),
            sink_records: AtomicU64::new(0),
            operators: operator_names
                .into_iter()
                .map(|name| OperatorMetrics {
                    name,
                    ..OperatorMetrics::default()
                })
                .collect(),
        }
    }

    pub fn source_records(&self) -> u64 {
        self.source_records.load(Ordering::Relaxed)
    }

    pub fn sink_records(&self) -> u64 {
        self.sink_records.load(Ordering::Relaxed)
    }
}

/// Adds user metrics to `into`: counters add up (over subtasks, and over the
/// successive instances of a recycled operator); a gauge keeps the newest
/// value.
pub fn merge_user_metrics(
    into: &mut BTreeMap<String, UserMetric>,
    metrics: impl IntoIterator<Item = (String, UserMetric)>,
) {
    for (name, value) in metrics {
        let merged = match (into.get(&name), value) {
            (Some(UserMetric::Counter(a)), UserMetric::Counter(b)) => {
                UserMetric::Counter(a.saturating_add(b))
            }
            (_, value) => value,
        };
        into.insert(name, merged);
    }
}

/// Counters of one running task (a subtask of a vertex), with Flink's
/// meanings: records into and out of the task, and nanoseconds spent
/// working versus blocked on a full consumer. Rates come from sampling.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    pub busy_nanos: AtomicU64,
    pub backpressured_nanos: AtomicU64,
}

impl TaskMetrics {
    pub fn add_busy(&self, elapsed: std::time::Duration) {
        self.busy_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn add_backpressured(&self, elapsed: std::time::Duration) {
        self.backpressured_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}
