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
    TemplateInvalid { origin: String, reason: String },

    /// A configuration value breaks an invariant the code depends on.
    #[error("invalid {what}: {reason}")]
    InvalidConfig { what: String, reason: String },
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
