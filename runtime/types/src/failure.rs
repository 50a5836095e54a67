//! What kind of failure ended a piece of work, and so whether running it
//! again can help. Every error type that can fail a task classifies itself
//! through [`Classify`]; the restart strategy reads the kind, not the text.

use serde::{Deserialize, Serialize};

/// Why something failed, as far as restarting it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The job as written cannot run: a bad spec, config, module or input,
    /// or a checkpoint that contradicts the output. Running it again fails
    /// the same way, so the job fails without a restart.
    Configuration,
    /// The world got in the way: a lost TaskManager or connection, storage
    /// that was briefly unavailable, an operator trap that may not recur.
    /// The restart strategy decides whether to try again.
    Transient,
    /// Weir broke one of its own rules. Restarted like a transient failure,
    /// since a new attempt starts from clean state, and logged as a bug.
    Internal,
}

impl FailureKind {
    /// Whether a restart can help.
    pub fn is_retryable(self) -> bool {
        !matches!(self, FailureKind::Configuration)
    }

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Configuration => "configuration",
            FailureKind::Transient => "transient",
            FailureKind::Internal => "internal",
        }
    }
}

/// An error that knows what kind of failure it is.
pub trait Classify {
    fn failure_kind(&self) -> FailureKind;

    fn is_retryable(&self) -> bool {
        self.failure_kind().is_retryable()
    }
}
