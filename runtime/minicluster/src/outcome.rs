//! How a job ended, read from the JobManager's details of it: the summary
//! `weir run` prints, or the failure with its kind.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_executor::{InstanceStats, JobSummary, OperatorSummary};
use weir_proto::v1::{user_metric, JobDetails};
use weir_types::{Classify, FailureKind, JobState, UserMetric};

/// A job that ended other than FINISHED.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct JobFailure {
    /// FAILED or CANCELED; `None` for a state this build does not know.
    pub state: Option<JobState>,
    /// The failure that ended it: the first error of its last attempt,
    /// as the task reported it; the status message when no task failed.
    pub message: String,
    pub kind: FailureKind,
    /// Everything the JobManager said of the job.
    pub details: Box<JobDetails>,
}

impl Classify for JobFailure {
    fn failure_kind(&self) -> FailureKind {
        self.kind
    }
}

/// The summary of a finished job; the failure of any other.
pub fn outcome(details: &JobDetails) -> Result<JobSummary, JobFailure> {
    let state = details.job_state();
    if state == Some(JobState::Finished) {
        return Ok(summary_of(details));
    }
    // Newest first: the failure that ended the job.
    let (message, kind) = match details.exceptions.first() {
        Some(root) => (root.message.clone(), root.failure_kind().into()),
        None => (details.status_message.clone(), FailureKind::Transient),
    };
    Err(JobFailure {
        state,
        message,
        kind,
        details: Box::new(details.clone()),
    })
}

/// What the job did, from its details.
pub fn summary_of(details: &JobDetails) -> JobSummary {
    JobSummary {
        name: details.name.clone(),
        duration: Duration::from_millis((details.end_time_ms - details.start_time_ms).max(0) as u64),
        source_records: details.source_records,
        sink_records: details.sink_records,
        operators: details
            .operators
            .iter()
            .map(|op| OperatorSummary {
                name: op.name.clone(),
                kind: op.kind.clone(),
                parallelism: op.parallelism,
                records_in: op.records_in,
                records_out: op.records_out,
                user_metrics: op
                    .user_metrics
                    .iter()
                    .filter_map(|(name, metric)| {
                        let value = match metric.value? {
                            user_metric::Value::Counter(n) => UserMetric::Counter(n),
                            user_metric::Value::Gauge(g) => UserMetric::Gauge(g),
                        };
                        Some((name.clone(), value))
                    })
                    .collect::<BTreeMap<_, _>>(),
                instances: InstanceStats {
                    recycles: op.instance_recycles,
                    peak_memory_bytes: op.peak_memory_bytes,
                },
            })
            .collect(),
    }
}
