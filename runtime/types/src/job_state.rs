//! The states of a job, Flink's names: one type from the JobManager's
//! lifecycle to REST, the CLI and the WeirJob controller, so that "has the
//! job ended" is answered in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life. Serialised (REST, the job store, a WeirJob's
/// status) as Flink spells it: `RUNNING`, `CANCELED`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Created,
    Running,
    Restarting,
    Cancelling,
    Canceled,
    Failed,
    Finished,
}

/// A job state name Weir does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a job state (one of CREATED, RUNNING, RESTARTING, CANCELLING, CANCELED, FAILED, FINISHED)")]
pub struct UnknownJobState(pub String);

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Created,
        JobState::Running,
        JobState::Restarting,
        JobState::Cancelling,
        JobState::Canceled,
        JobState::Failed,
        JobState::Finished,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobState::Created => "CREATED",
            JobState::Running => "RUNNING",
            JobState::Restarting => "RESTARTING",
            JobState::Cancelling => "CANCELLING",
            JobState::Canceled => "CANCELED",
            JobState::Failed => "FAILED",
            JobState::Finished => "FINISHED",
        }
    }

    /// The job has ended and will not run again: Flink's globally terminal
    /// states.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Canceled | JobState::Failed | JobState::Finished
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for JobState {
    type Err = UnknownJobState;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.name() == name)
            .ok_or_else(|| UnknownJobState(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for state in JobState::ALL {
            assert_eq!(state.name().parse::<JobState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.name()));
            assert_eq!(serde_json::from_str::<JobState>(&json).unwrap(), state);
        }
        let err = "running".parse::<JobState>().unwrap_err();
        assert!(err.to_string().contains("'running' is not a job state"));
    }

    #[test]
    fn only_canceled_failed_and_finished_are_terminal() {
        let terminal: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [JobState::Canceled, JobState::Failed, JobState::Finished]
        );
    }
}
