//! Errors of the Kubernetes side of Weir: each names the object or file
//! involved and the step that failed, so a log line alone says what to fix
//! (RBAC, a missing Deployment, a broken pod template).

use std::path::PathBuf;

/// What went wrong talking to the API server or preparing what is sent to it.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// A request to the API server failed. `action` reads like
    /// "create Pod weir/jm-taskmanager-1".
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },

    /// The API server answered with an object lacking a field Weir relies on.
    #[error("{object} has no {field}")]
    MissingField { object: String, field: &'static str },

    /// The pod template file could not be read.
    #[error("reading pod template {path}: {source}")]
    TemplateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The pod template file is not YAML, or not a Pod in Kubernetes' schema.
    #[error("pod template {path}: {reason}")]
    TemplateParse { path: PathBuf, reason: String },

    /// The pod template parsed but cannot be used for TaskManagers. `origin`
    /// is the file, or a description of where an in-memory template came from.
    #[error("pod template {origin}: {reason}")]
    TemplateInvalid {
        origin: String,
        #[source]
        reason: TemplateError,
    },

    /// A configuration value breaks an invariant the code depends on.
    #[error("invalid {what}: {reason}")]
    InvalidConfig { what: String, reason: String },
}

/// Why a pod template cannot be used for TaskManagers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("has no spec")]
    NoSpec,
    /// `containers` are the names of those it has.
    #[error(
        "no container named {container:?} (containers: {containers:?})",
        container = crate::pods::TASKMANAGER_CONTAINER
    )]
    NoTaskManagerContainer { containers: Vec<String> },
}

impl K8sError {
    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> Self {
        K8sError::Api {
            action: action.into(),
            source,
        }
    }

    /// The API status code of a failed request, if the server sent one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            K8sError::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }
}
