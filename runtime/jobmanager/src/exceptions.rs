//! A job's exception history, as Flink keeps it: every failure that made
//! the job restart or fail, newest first, with the task and TaskManager it
//! came from and the whole error; failures of the same attempt that came
//! after the first are kept with it ("concurrent"). Bounded, so that a job
//! restarting for days does not grow the JobManager.

use std::collections::VecDeque;

use weir_proto::v1::JobException;
use weir_types::FailureKind;

/// Entries a job keeps unless configured otherwise (Flink's
/// `web.exception-history-size`).
pub const DEFAULT_EXCEPTION_HISTORY: usize = 16;
/// Later failures kept with one entry.
const MAX_CONCURRENT: usize = 16;

/// What kind of failure it was, as REST's `exceptionName` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureSource {
    /// A task failed: its operator, source or sink reported an error.
    Task,
    /// A TaskManager went away (its process died, its pod failed, or its
    /// heartbeats stopped) with tasks of the job on it.
    TaskManagerLost,
    /// More checkpoints failed in a row than the job tolerates.
    Checkpoints,
}

impl FailureSource {
    pub fn name(self) -> &'static str {
        match self {
            FailureSource::Task => "TaskFailure",
            FailureSource::TaskManagerLost => "TaskManagerLost",
            FailureSource::Checkpoints => "CheckpointFailure",
        }
    }
}

/// One failure, where it happened and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureSource,
    /// "count (2/3)", or empty when no single task failed.
    pub task_name: String,
    pub task_manager_id: String,
    /// The TaskManager's data address.
    pub endpoint: String,
    /// The error with its causes.
    pub message: String,
    /// Whether a restart can help.
    pub failure_kind: FailureKind,
}

impl Failure {
    /// A failure of the job as a whole (no task or TaskManager of its own)
    /// that a restart may cure.
    pub fn of_job(kind: FailureSource, message: String) -> Self {
        Failure {
            kind,
            task_name: String::new(),
            task_manager_id: String::new(),
            endpoint: String::new(),
            message,
            failure_kind: FailureKind::Transient,
        }
    }

    fn to_proto(&self, timestamp_ms: i64, attempt: u32) -> JobException {
        JobException {
            timestamp_ms,
            kind: self.kind.name().into(),
            task_name: self.task_name.clone(),
            task_manager_id: self.task_manager_id.clone(),
            endpoint: self.endpoint.clone(),
            message: self.message.clone(),
            attempt,
            concurrent: Vec::new(),
            failure_kind: weir_proto::v1::FailureKind::from(self.failure_kind) as i32,
        }
    }
}

/// The history of one job.
#[derive(Debug, Clone)]
pub struct ExceptionHistory {
    /// Newest first.
    entries: VecDeque<JobException>,
    capacity: usize,
    /// Entries were dropped to stay within `capacity`.
    truncated: bool,
}

impl ExceptionHistory {
    pub fn new(capacity: usize) -> Self {
        ExceptionHistory {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            truncated: false,
        }
    }

    /// Records `failure` of attempt `attempt`: a new entry for the first
    /// failure of an attempt, kept with that entry for the ones after it.
    pub fn record(&mut self, attempt: u32, timestamp_ms: i64, failure: &Failure) {
        let exception = failure.to_proto(timestamp_ms, attempt);
        if let Some(latest) = self.entries.front_mut().filter(|e| e.attempt == attempt) {
            if latest.concurrent.len() < MAX_CONCURRENT {
                latest.concurrent.push(exception);
            }
            return;
        }
        self.entries.push_front(exception);
        if self.entries.len() > self.capacity {
            self.entries.truncate(self.capacity);
            self.truncated = true;
        }
    }

    /// The latest failure, for the status message.
    pub fn latest(&self) -> Option<&JobException> {
        self.entries.front()
    }

    pub fn entries(&self) -> Vec<JobException> {
        self.entries.iter().cloned().collect()
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_failure(task: &str) -> Failure {
        Failure {
            kind: FailureSource::Task,
            task_name: task.into(),
            task_manager_id: "tm-1".into(),
            endpoint: "127.0.0.1:6121".into(),
            message: format!("{task} trapped"),
            failure_kind: FailureKind::Transient,
        }
    }

    #[test]
    fn failures_of_one_attempt_form_one_entry_and_the_history_is_bounded() {
        let mut history = ExceptionHistory::new(2);
        history.record(0, 10, &task_failure("a (1/2)"));
        history.record(0, 11, &task_failure("b (2/2)"));
        history.record(
            1,
            20,
            &Failure::of_job(FailureSource::Checkpoints, "x".into()),
        );
        let entries = history.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind, "CheckpointFailure");
        assert_eq!(entries[1].task_name, "a (1/2)");
        assert_eq!(entries[1].concurrent.len(), 1);
        assert_eq!(entries[1].concurrent[0].task_name, "b (2/2)");
        assert!(!history.truncated());
        history.record(2, 30, &task_failure("a (1/2)"));
        assert!(history.truncated());
        assert_eq!(history.entries().len(), 2);
        assert_eq!(history.latest().unwrap().attempt, 2);
    }
}
