//! Errors an operator returns to the runtime.

use std::fmt;

/// Why an operator call failed. Mirrors `error-kind` of the WIT contract; the
/// kind decides what the runtime does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is unusable. Restarting cannot help, so the job fails
    /// at once.
    InvalidConfig,
    /// A record could not be processed (bad value, unparsable text).
    InvalidInput,
    /// A host call (state, timers) failed and the operator gave up.
    Host,
    /// Anything else: a bug or an unexpected condition in the operator.
    Internal,
}

impl ErrorKind {
    /// The kind's name as the WIT contract spells it (`invalid-config`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid-config",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Host => "host",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned by an operator: a kind and a message saying what was
/// wrong and where. The runtime reports it with the operator's name.
///
/// `Display` shows the message alone, so that an `Error` can be wrapped in
/// another message without repeating its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The operator's configuration is unusable; the job fails without
    /// restarting.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// A record could not be processed.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A host call (state, timers) failed.
    pub fn host(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Host, message)
    }

    /// A bug or an unexpected condition in the operator.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// JSON that fails to parse inside `process` is almost always a field of a
/// record, so `?` on a `serde_json` result reports bad input. Configuration is
/// parsed by [`OpenContext::config`](crate::OpenContext::config), which reports
/// `invalid-config` instead.
impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::invalid_input(error.to_string())
    }
}

/// Shorthand for results of operator code.
pub type Result<T, E = Error> = std::result::Result<T, E>;
