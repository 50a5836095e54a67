//! The gRPC contracts of Weir, package `weir.v1`: the job service, the
//! TaskManager connection and the data plane.
//!
//! The Rust code is generated from `proto/weir/v1/*.proto` and committed, so
//! building Weir needs no protoc. `tests/codegen.rs` regenerates it and fails
//! when the committed copy has drifted; `make proto` rewrites it.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!("gen/weir.v1.rs");
}

/// Largest gRPC message either side accepts: a job spec, or one frame of the
/// data plane (a batch of up to `MAX_BATCH_SIZE` wide rows).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Module bytes travel in chunks of this size.
pub const MODULE_CHUNK_BYTES: usize = 1 << 20;

/// Module bytes as the chunks `PutModule` and `FetchModule` stream, the
/// digest ("sha256:<hex>") on the first.
pub fn module_chunks(digest: &str, bytes: &[u8]) -> Vec<v1::ModuleChunk> {
    bytes
        .chunks(MODULE_CHUNK_BYTES)
        .enumerate()
        .map(|(i, data)| v1::ModuleChunk {
            digest: if i == 0 {
                digest.to_string()
            } else {
                String::new()
            },
            data: data.to_vec(),
        })
        .collect()
}

impl From<weir_types::JobState> for v1::JobState {
    fn from(state: weir_types::JobState) -> Self {
        use weir_types::JobState as S;
        match state {
            S::Created => v1::JobState::Created,
            S::Running => v1::JobState::Running,
            S::Restarting => v1::JobState::Restarting,
            S::Cancelling => v1::JobState::Cancelling,
            S::Canceled => v1::JobState::Canceled,
            S::Failed => v1::JobState::Failed,
            S::Finished => v1::JobState::Finished,
        }
    }
}

impl v1::JobState {
    /// The state, or `None` for one this build does not know (unset, or
    /// added by a newer peer).
    pub fn known(self) -> Option<weir_types::JobState> {
        use weir_types::JobState as S;
        Some(match self {
            v1::JobState::Unspecified => return None,
            v1::JobState::Created => S::Created,
            v1::JobState::Running => S::Running,
            v1::JobState::Restarting => S::Restarting,
            v1::JobState::Cancelling => S::Cancelling,
            v1::JobState::Canceled => S::Canceled,
            v1::JobState::Failed => S::Failed,
            v1::JobState::Finished => S::Finished,
        })
    }
}

impl v1::JobDetails {
    /// The job's state; `None` when the JobManager sent one this build does
    /// not know.
    pub fn job_state(&self) -> Option<weir_types::JobState> {
        self.state().known()
    }

    /// The state as REST and people spell it.
    pub fn state_name(&self) -> &'static str {
        self.job_state()
            .map_or("UNKNOWN", weir_types::JobState::name)
    }
}

impl From<weir_types::FailureKind> for v1::FailureKind {
    fn from(kind: weir_types::FailureKind) -> Self {
        use weir_types::FailureKind as K;
        match kind {
            K::Configuration => v1::FailureKind::Configuration,
            K::Transient => v1::FailureKind::Transient,
            K::Internal => v1::FailureKind::Internal,
        }
    }
}

impl From<v1::FailureKind> for weir_types::FailureKind {
    /// An unset kind is a transient failure: the restart strategy, not this
    /// conversion, decides how often to try again.
    fn from(kind: v1::FailureKind) -> Self {
        use weir_types::FailureKind as K;
        match kind {
            v1::FailureKind::Configuration => K::Configuration,
            v1::FailureKind::Transient | v1::FailureKind::Unspecified => K::Transient,
            v1::FailureKind::Internal => K::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_state_and_failure_kind_crosses_the_wire_unchanged() {
        for state in weir_types::JobState::ALL {
            let details = v1::JobDetails {
                state: v1::JobState::from(state) as i32,
                ..Default::default()
            };
            assert_eq!(details.job_state(), Some(state));
            assert_eq!(details.state_name(), state.name());
        }
        assert_eq!(v1::JobDetails::default().job_state(), None);
        for kind in [
            weir_types::FailureKind::Configuration,
            weir_types::FailureKind::Transient,
            weir_types::FailureKind::Internal,
        ] {
            assert_eq!(
                weir_types::FailureKind::from(v1::FailureKind::from(kind)),
                kind
            );
        }
    }
}
