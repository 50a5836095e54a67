//! Modules as OCI artifacts, in the CNCF layout for WebAssembly: a manifest
//! whose config has media type `application/vnd.wasm.config.v0+json` and
//! whose one layer is the component (`application/wasm`). `oras`, `wkg` and
//! `skopeo` read what `weir push` writes, and Weir reads what they write.
//!
//! Pulls go by digest and are verified twice: the manifest against the
//! reference's digest, the layer against the digest the job pinned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::Deserialize;
use serde_json::json;

use crate::credentials::Credentials;
use weir_types::sha256_digest;

use crate::{error_chain, ArtifactError};

pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub credentials: Credentials,
    /// Registries (`host[:port]`) spoken to over plain HTTP. Loopback
    /// registries always are, as Docker does.
    pub insecure: Vec<String>,
    /// Tries of one request when the registry cannot be reached or answers
    /// 5xx, with a doubling delay from `first_retry_delay`.
    pub attempts: u32,
    pub first_retry_delay: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            credentials: Credentials::default(),
            insecure: Vec::new(),
            attempts: 4,
            first_retry_delay: Duration::from_millis(200),
        }
    }
}

/// What `weir push` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `REGISTRY/REPOSITORY@sha256:...`: the reference to put in a job.
    pub by_digest: String,
    pub manifest_digest: String,
    /// The digest of the component itself, which jobs pin (`sha256`).
    pub module_digest: String,
    pub size: u64,
}

/// A module's artifact, found by its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub by_digest: String,
    pub manifest_digest: String,
    pub module_digest: String,
    pub size: u64,
}

/// OCI registries, one HTTP client per registry.
pub struct Registries {
    options: RegistryOptions,
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: OciDescriptor,
    #[serde(default)]
    layers: Vec<OciDescriptor>,
}

/// `oci://r/repo:tag` or `r/repo:tag` as an OCI reference.
pub fn parse_reference(reference: &str) -> Result<Reference, ArtifactError> {
    let bare = reference.strip_prefix("oci://").unwrap_or(reference);
    bare.parse::<Reference>()
        .map_err(|e| ArtifactError::BadReference {
            reference: reference.to_string(),
            why: e.to_string(),
        })
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

impl Registries {
    pub fn new(options: RegistryOptions) -> Self {
        Registries {
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, registry: &str) -> Arc<Client> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(registry.to_string())
            .or_insert_with(|| {
                let plain_http =
                    is_loopback(registry) || self.options.insecure.iter().any(|r| r == registry);
                let protocol = if plain_http {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                };
                Arc::new(Client::new(ClientConfig {
                    protocol,
                    connect_timeout: Some(Duration::from_secs(10)),
                    read_timeout: Some(Duration::from_secs(60)),
                    ..ClientConfig::default()
                }))
            })
            .clone()
    }

    fn auth(&self, reference: &Reference) -> RegistryAuth {
        self.options
            .credentials
            .for_registry(reference.resolve_registry())
    }

    /// Runs `attempt` until it succeeds, fails for good, or the tries run
    /// out; each retry is logged with its cause.
    async fn retrying<T, F, Fut>(
        &self,
        reference: &Reference,
        mut attempt: F,
    ) -> Result<T, ArtifactError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let attempts = self.options.attempts.max(1);
        let mut delay = self.options.first_retry_delay;
        let mut tried = 0;
        loop {
            tried += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(e) if is_transient(&e) && tried < attempts => {
                    tracing::warn!(
                        registry = reference.resolve_registry(),
                        "{reference}: {} (try {tried} of {attempts}; again in {delay:?})",
                        error_chain(&e)
                    );
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                Err(e) if is_transient(&e) => {
                    return Err(ArtifactError::Unreachable {
                        registry: reference.resolve_registry().to_string(),
                        reference: reference.whole(),
                        attempts,
                        cause: error_chain(&e),
                    })
                }
                Err(e) => return Err(registry_error(reference, e)),
            }
        }
    }

    /// Pushes `module` (a component's bytes) as a wasm artifact to
    /// `reference` (`oci://REGISTRY/REPOSITORY:TAG`). `file_name` becomes the
    /// layer's title, under which `oras pull` saves it.
    pub async fn push(
        &self,
        reference: &str,
        module: &[u8],
        file_name: &str,
    ) -> Result<Pushed, ArtifactError> {
        let reference = parse_reference(reference)?;
        let client = self.client(reference.resolve_registry());
        let auth = self.auth(&reference);
        let module_digest = sha256_digest(module);
        let config = serde_json::to_vec(&json!({
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [module_digest],
        }))
        .map_err(|e| ArtifactError::Registry {
            reference: reference.whole(),
            message: e.to_string(),
        })?;
        let config_digest = sha256_digest(&config);
        // Built here rather than by the client so that its digest is
        // known: the same module pushes to the same manifest digest.
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": WASM_CONFIG_MEDIA_TYPE,
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": WASM_LAYER_MEDIA_TYPE,
                "digest": module_digest,
                "size": module.len(),
                "annotations": { TITLE_ANNOTATION: file_name },
            }],
        }))
        .map_err(|e| ArtifactError::Registry {
            reference: reference.whole(),
            message: e.to_string(),
        })?;
        let manifest_digest = sha256_digest(&manifest);

        self.retrying(&reference, || async {
            client
                .auth(&reference, &auth, RegistryOperation::Push)
                .await
                .map(|_| ())
        })
        .await?;
        let module = bytes::Bytes::copy_from_slice(module);
        self.retrying(&reference, || {
            let (client, module) = (client.clone(), module.clone());
            let (reference, digest) = (&reference, &module_digest);
            async move { client.push_blob(reference, module, digest).await }
        })
        .await?;
        let config = bytes::Bytes::from(config);
        self.retrying(&reference, || {
            let (client, config) = (client.clone(), config.clone());
            let (reference, digest) = (&reference, &config_digest);
            async move { client.push_blob(reference, config, digest).await }
        })
        .await?;
        let manifest = bytes::Bytes::from(manifest);
        self.retrying(&reference, || {
            let (client, manifest) = (client.clone(), manifest.clone());
            let reference = &reference;
            async move {
                client
                    .push_manifest_raw(
                        reference,
                        manifest,
                        http::HeaderValue::from_static(OCI_MANIFEST_MEDIA_TYPE),
                    )
                    .await
            }
        })
        .await?;
        Ok(Pushed {
            by_digest: by_digest(&reference, &manifest_digest),
            manifest_digest,
            module_digest,
            size: module.len() as u64,
        })
    }

    /// Reads the artifact's manifest (by tag or digest) and checks that it
    /// holds one WebAssembly module.
    pub async fn resolve(&self, reference: &str) -> Result<Resolved, ArtifactError> {
        let parsed = parse_reference(reference)?;
        let client = self.client(parsed.resolve_registry());
        let auth = self.auth(&parsed);
        let (body, manifest_digest) = self
            .retrying(&parsed, || {
                let client = client.clone();
                let (parsed, auth) = (&parsed, &auth);
                async move {
                    client
                        .pull_manifest_raw(
                            parsed,
                            auth,
                            &[
                                OCI_MANIFEST_MEDIA_TYPE,
                                "application/vnd.oci.artifact.manifest.v1+json",
                            ],
                        )
                        .await
                }
            })
            .await?;
        // The client checks the registry's digest header; the body itself
        // must also hash to the digest asked for.
        if let Some(expected) = parsed.digest() {
            let actual = sha256_digest(&body);
            if actual != expected {
                return Err(ArtifactError::DigestMismatch {
                    what: "the manifest".into(),
                    reference: reference.to_string(),
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        let not_a_module = |why: String| ArtifactError::NotAModule {
            reference: reference.to_string(),
            why,
        };
        let manifest: Manifest = serde_json::from_slice(&body)
            .map_err(|e| not_a_module(format!("its manifest cannot be read: {e}")))?;
        if let Some(media_type) = manifest.media_type.as_deref() {
            if media_type != OCI_MANIFEST_MEDIA_TYPE {
                return Err(not_a_module(format!(
                    "its manifest has media type {media_type}, not {OCI_MANIFEST_MEDIA_TYPE}"
                )));
            }
        }
        if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
            return Err(not_a_module(format!(
                "its config has media type {}, not {WASM_CONFIG_MEDIA_TYPE}",
                manifest.config.media_type
            )));
        }
        let wasm: Vec<&OciDescriptor> = manifest
            .layers
            .iter()
            .filter(|layer| layer.media_type == WASM_LAYER_MEDIA_TYPE)
            .collect();
        let [layer] = wasm.as_slice() else {
            return Err(not_a_module(format!(
                "it has {} layers of media type {WASM_LAYER_MEDIA_TYPE}; a module has exactly one",
                wasm.len()
            )));
        };
        Ok(Resolved {
            by_digest: by_digest(&parsed, &manifest_digest),
            manifest_digest,
            module_digest: layer.digest.clone(),
            size: u64::try_from(layer.size).unwrap_or(0),
        })
    }

    /// The module of `reference`, which must be the component with
    /// `module_digest`: a manifest naming another layer, or bytes hashing to
    /// anything else, are refused.
    pub async fn pull(
        &self,
        reference: &str,
        module_digest: &str,
    ) -> Result<Vec<u8>, ArtifactError> {
        let resolved = self.resolve(reference).await?;
        if resolved.module_digest != module_digest {
            return Err(ArtifactError::DigestMismatch {
                what: "the module".into(),
                reference: reference.to_string(),
                expected: module_digest.to_string(),
                actual: resolved.module_digest,
            });
        }
        let parsed = parse_reference(reference)?;
        let client = self.client(parsed.resolve_registry());
        let layer = OciDescriptor {
            media_type: WASM_LAYER_MEDIA_TYPE.to_string(),
            digest: resolved.module_digest.clone(),
            size: i64::try_from(resolved.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let bytes = self
            .retrying(&parsed, || {
                let (client, layer, parsed) = (client.clone(), layer.clone(), &parsed);
                async move {
                    let mut bytes = Vec::new();
                    match client.pull_blob(parsed, &layer, &mut bytes).await {
                        // The client hashes as it reads and complains after
                        // the last byte; the check below names both digests.
                        Ok(()) | Err(OciDistributionError::DigestError(_)) => Ok(bytes),
                        Err(e) => Err(e),
                    }
                }
            })
            .await?;
        let actual = sha256_digest(&bytes);
        if actual != module_digest {
            return Err(ArtifactError::DigestMismatch {
                what: "the module".into(),
                reference: reference.to_string(),
                expected: module_digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }
}

fn by_digest(reference: &Reference, digest: &str) -> String {
    format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    )
}

fn is_transient(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::RequestError(e) => e.is_connect() || e.is_timeout() || e.is_request(),
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

fn registry_error(reference: &Reference, error: OciDistributionError) -> ArtifactError {
    let message = match &error {
        OciDistributionError::ImageManifestNotFoundError(_) => "not found in the registry".into(),
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .map(|e| format!("{:?}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => format!(
            "the registry refused the credentials ({}); give them in a Docker config file \
             (--registry-config, WEIR_REGISTRY_CONFIG or ~/.docker/config.json)",
            error_chain(&error)
        ),
        _ => error_chain(&error),
    };
    ArtifactError::Registry {
        reference: reference.whole(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn references_with_or_without_the_scheme() {
        let parsed = parse_reference("oci://127.0.0.1:5000/weir/tokenize:1.0").unwrap();
        assert_eq!(parsed.registry(), "127.0.0.1:5000");
        assert_eq!(parsed.repository(), "weir/tokenize");
        assert_eq!(parsed.tag(), Some("1.0"));
        let error = parse_reference("oci://Bad Ref").unwrap_err().to_string();
        assert!(error.contains("'oci://Bad Ref'"), "{error}");
    }
}
