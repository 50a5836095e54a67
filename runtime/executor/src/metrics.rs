//! Counters a running job updates and a watcher (progress line, summary,
//! later the metrics endpoint) reads.

use std::sync::atomic::{AtomicU64, Ordering};

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
