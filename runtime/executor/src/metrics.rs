//! Counters a running job updates and a watcher (progress line, summary,
//! later the metrics endpoint) reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use weir_types::UserMetric;

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
    /// Completed waits only; see `backpressured_nanos_now`.
    pub backpressured_nanos: AtomicU64,
    /// When the current wait began (`monotonic_nanos`), 0 when not waiting.
    blocked_since: AtomicU64,
}

/// Nanoseconds since the first call in this process; never 0 afterwards.
fn monotonic_nanos() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
        + 1
}

impl TaskMetrics {
    /// The task starts waiting on a full consumer.
    pub fn begin_backpressure(&self) {
        self.blocked_since
            .store(monotonic_nanos(), Ordering::Relaxed);
    }

    /// The wait is over; it counts in full.
    pub fn end_backpressure(&self) {
        let since = self.blocked_since.swap(0, Ordering::Relaxed);
        if since != 0 {
            self.backpressured_nanos
                .fetch_add(monotonic_nanos().saturating_sub(since), Ordering::Relaxed);
        }
    }

    /// Time spent waiting so far, including a wait still going on: a task
    /// stalled behind a consumer that never reads shows as back-pressured,
    /// as in Flink, rather than idle.
    pub fn backpressured_nanos_now(&self) -> u64 {
        let done = self.backpressured_nanos.load(Ordering::Relaxed);
        let since = self.blocked_since.load(Ordering::Relaxed);
        if since == 0 {
            done
        } else {
            done + monotonic_nanos().saturating_sub(since)
        }
    }

    pub fn add_busy(&self, elapsed: std::time::Duration) {
        self.busy_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}
