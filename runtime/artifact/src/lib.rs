//! Module distribution: where a job's WebAssembly components come from.
//! Files on the submitter's disk, uploaded with the job (`local`); OCI
//! artifacts (`oci://`), pushed by `weir push` and pulled by the
//! TaskManagers by digest; and small modules kept in immutable ConfigMaps
//! (`configmap://`). Every module is verified
//! against the digest the job pins before it is used.

pub mod configmap;
pub mod credentials;
pub mod local;
pub mod oci;

pub use credentials::Credentials;
pub use local::{pin_local_modules, read_limited, LocalModuleError, ReadError, Upload};
pub use oci::{Pushed, Registries, RegistryOptions, Resolved};
use weir_types::{Classify, FailureKind};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(
        "'{reference}' is not an OCI reference (REGISTRY/REPOSITORY:TAG or @sha256:...): {why}"
    )]
    BadReference { reference: String, why: String },
    #[error(
        "cannot reach the registry {registry} for {reference} after {attempts} tries: {cause}"
    )]
    Unreachable {
        registry: String,
        reference: String,
        attempts: u32,
        cause: String,
    },
    #[error("{reference}: {message}")]
    Registry { reference: String, message: String },
    #[error("{reference} is not a WebAssembly module artifact: {why}")]
    NotAModule { reference: String, why: String },
    #[error("{what} of {reference} has digest {actual}, not the {expected} expected; refusing it")]
    DigestMismatch {
        what: String,
        reference: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{what} ({size} bytes) is {compressed} bytes compressed, more than the {limit} bytes a \
         ConfigMap holds; push it to an OCI registry instead (weir push FILE oci://REGISTRY/REPOSITORY:TAG)"
    )]
    TooLargeForConfigMap {
        what: String,
        size: usize,
        compressed: usize,
        limit: usize,
    },
    #[error("ConfigMap {name}: {message}")]
    ConfigMap { name: String, message: String },
    #[error("registry credentials {path}: {message}")]
    Credentials { path: String, message: String },
}

impl Classify for ArtifactError {
    /// Trying again later can help when the registry or API server was
    /// unreachable; wrong bytes, missing artifacts and refusals cannot.
    fn failure_kind(&self) -> FailureKind {
        let transient = match self {
            ArtifactError::Unreachable { .. } => true,
            ArtifactError::ConfigMap { message, .. } => message.starts_with("cannot read it"),
            _ => false,
        };
        if transient {
            FailureKind::Transient
        } else {
            FailureKind::Configuration
        }
    }
}

/// An error and its causes on one line: HTTP clients keep the useful part
/// ("Connection refused") several sources down.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // hyper and tonic repeat their causes' messages in their own.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Where a TaskManager gets modules that were not uploaded with the job:
/// registries, and ConfigMaps through the Kubernetes API (the client is made
/// on first use, from the pod's service account or the kubeconfig).
pub struct RemoteModules {
    registries: Registries,
    kube: tokio::sync::OnceCell<kube::Client>,
}

impl RemoteModules {
    pub fn new(options: RegistryOptions) -> Self {
        RemoteModules {
            registries: Registries::new(options),
            kube: tokio::sync::OnceCell::new(),
        }
    }

    /// With a given Kubernetes client (tests give a mocked one).
    pub fn with_kube_client(options: RegistryOptions, client: kube::Client) -> Self {
        RemoteModules {
            registries: Registries::new(options),
            kube: tokio::sync::OnceCell::new_with(Some(client)),
        }
    }

    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    /// Whether `reference` names a module this fetches (not one uploaded
    /// with the job).
    pub fn is_remote(reference: &str) -> bool {
        weir_types::ModuleRef::parse(reference).is_ok_and(|r| r.is_remote())
    }

    /// The module `reference` (`oci://...` or `configmap://NAME/KEY`) names,
    /// verified to hash to `digest`.
    pub async fn fetch(&self, reference: &str, digest: &str) -> Result<Vec<u8>, ArtifactError> {
        match weir_types::ModuleRef::parse(reference) {
            Ok(weir_types::ModuleRef::Oci(_)) => self.registries.pull(reference, digest).await,
            Ok(weir_types::ModuleRef::ConfigMap { name, key }) => {
                let client = self
                    .kube
                    .get_or_try_init(|| async {
                        kube::Client::try_default()
                            .await
                            .map_err(|e| ArtifactError::ConfigMap {
                                name: name.clone(),
                                message: format!(
                                    "cannot read it: no Kubernetes API to read it from: {}",
                                    error_chain(&e)
                                ),
                            })
                    })
                    .await?;
                let api = kube::Api::default_namespaced(client.clone());
                configmap::read(&api, &name, &key, digest).await
            }
            _ => Err(ArtifactError::BadReference {
                reference: reference.to_string(),
                why: "not an oci:// or configmap:// reference".into(),
            }),
        }
    }
}

/// Pins every `oci://` and `configmap://` module of `spec` to a digest: an
/// OCI tag is resolved to its manifest (`oci://R/REPO@sha256:...`) and its
/// module's digest; a ConfigMap written by `weir push` is named by its
/// digest. A digest the spec already pins must match. Errors name the
/// operator (`operators[i] 'name': ...`).
pub async fn pin_remote_modules(
    spec: &mut weir_types::JobSpec,
    registries: &Registries,
) -> Result<(), PinError> {
    use weir_types::ModuleRef;
    for (index, op) in spec.operators.iter_mut().enumerate() {
        let Some(reference) = op.module.clone() else {
            continue;
        };
        let fail = |message: String| PinError {
            index,
            operator: op.name.clone(),
            message,
        };
        let pinned = op.sha256.as_deref().map(|d| {
            format!(
                "sha256:{}",
                d.trim_start_matches("sha256:").to_ascii_lowercase()
            )
        });
        let digest = match ModuleRef::parse(&reference).map_err(|e| fail(e.to_string()))? {
            ModuleRef::Path(_) => continue,
            ModuleRef::Oci(_) => {
                let resolved = registries
                    .resolve(&reference)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                op.module = Some(format!("oci://{}", resolved.by_digest));
                resolved.module_digest
            }
            ModuleRef::ConfigMap { name, .. } => {
                let named = name
                    .strip_prefix("weir-module-")
                    .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(|hex| format!("sha256:{hex}"));
                match (named, &pinned) {
                    (Some(named), _) => named,
                    (None, Some(pinned)) => pinned.clone(),
                    (None, None) => {
                        return Err(fail(format!(
                            "module '{reference}': ConfigMap '{name}' is not named by a digest \
                             (weir push names it weir-module-<sha256>); pin the module with sha256:"
                        )))
                    }
                }
            }
        };
        if let Some(pinned) = pinned {
            if pinned != digest {
                return Err(fail(format!(
                    "module '{reference}' has digest {digest}, but the spec pins {pinned}"
                )));
            }
        }
        op.sha256 = Some(digest);
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("operators[{index}] '{operator}': {message}")]
pub struct PinError {
    pub index: usize,
    pub operator: String,
    pub message: String,
}
