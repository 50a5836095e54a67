//! The module cache: components fetched by digest (from the JobManager when
//! uploaded with the job, else from their OCI registry or ConfigMap),
//! verified, kept on disk, compiled once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio_stream::StreamExt;
use tonic::transport::Channel;
use weir_artifact::RemoteModules;
use weir_proto::v1::resource_manager_client::ResourceManagerClient;
use weir_proto::v1::FetchModuleRequest;
use weir_types::{sha256_digest, Classify, FailureKind};
use weir_wasm_host::{LoadError, Module, WasmHost};

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("cannot fetch module {digest} from the JobManager: {message}")]
    Fetch { digest: String, message: String },
    #[error("module {digest} arrived with digest {actual}; refusing it")]
    Corrupt { digest: String, actual: String },
    #[error(transparent)]
    Remote(#[from] weir_artifact::ArtifactError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl Classify for ModuleError {
    /// A fetch can succeed next time; wrong or broken bytes cannot.
    fn failure_kind(&self) -> FailureKind {
        match self {
            ModuleError::Fetch { .. } => FailureKind::Transient,
            ModuleError::Remote(e) => e.failure_kind(),
            _ => FailureKind::Configuration,
        }
    }
}

pub struct ModuleCache {
    host: Arc<WasmHost>,
    dir: Option<PathBuf>,
    remote: Arc<RemoteModules>,
    loaded: Mutex<HashMap<String, Arc<Module>>>,
}

impl ModuleCache {
    pub fn new(host: Arc<WasmHost>, dir: Option<PathBuf>, remote: Arc<RemoteModules>) -> Self {
        ModuleCache {
            host,
            dir,
            remote,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn file_of(&self, digest: &str) -> Option<PathBuf> {
        let name = digest.replace(':', "-");
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{name}.wasm")))
    }

    /// The compiled module with `digest` ("sha256:<hex>"), from memory, the
    /// disk cache, or where `reference` (the operator's `module`) says: a
    /// registry or ConfigMap, else the JobManager. `operator` names it in
    /// errors.
    pub async fn get(
        &self,
        operator: &str,
        digest: &str,
        reference: Option<&str>,
        jobmanager: &ResourceManagerClient<Channel>,
    ) -> Result<Arc<Module>, ModuleError> {
        if let Some(module) = self
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Ok(module.clone());
        }
        // A host shared with the submitter (`weir run`) already holds it:
        // no fetch, no second digest.
        if let Some(module) = self.host.loaded(digest) {
            self.loaded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(digest.to_string(), module.clone());
            return Ok(module);
        }
        let cached = self
            .file_of(digest)
            .and_then(|path| std::fs::read(path).ok())
            .filter(|bytes| sha256_digest(bytes) == digest);
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let bytes = match reference.filter(|r| RemoteModules::is_remote(r)) {
                    Some(reference) => self.remote.fetch(reference, digest).await?,
                    None => fetch(digest, jobmanager.clone()).await?,
                };
                let actual = sha256_digest(&bytes);
                if actual != digest {
                    return Err(ModuleError::Corrupt {
                        digest: digest.to_string(),
                        actual,
                    });
                }
                if let Some(path) = self.file_of(digest) {
                    store(&path, &bytes);
                }
                bytes
            }
        };
        let host = self.host.clone();
        let (operator, expected) = (operator.to_string(), digest.to_string());
        let module =
            tokio::task::spawn_blocking(move || host.load(&operator, &bytes, Some(&expected)))
                .await
                .map_err(|e| ModuleError::Fetch {
                    digest: digest.to_string(),
                    message: format!("the compiler thread failed: {e}"),
                })??;
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), module.clone());
        Ok(module)
    }
}

async fn fetch(
    digest: &str,
    mut jobmanager: ResourceManagerClient<Channel>,
) -> Result<Vec<u8>, ModuleError> {
    let error = |message: String| ModuleError::Fetch {
        digest: digest.to_string(),
        message,
    };
    let mut chunks = jobmanager
        .fetch_module(FetchModuleRequest {
            digest: digest.to_string(),
        })
        .await
        .map_err(|e| error(e.message().to_string()))?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| error(e.message().to_string()))?.data);
    }
    Ok(bytes)
}

/// Writes the verified bytes where a later run finds them; a cache that
/// cannot be written only costs a fetch next time.
fn store(path: &std::path::Path, bytes: &[u8]) {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, path)
    };
    if let Err(e) = write() {
        tracing::warn!("cannot cache module at {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use weir_jobmanager::JobManagerConfig;
    use weir_testing::guests;
    use weir_wasm_host::EngineConfig;

    use super::*;

    async fn jobmanager_with(bytes: Vec<u8>) -> (ResourceManagerClient<Channel>, String) {
        let jobmanager = weir_jobmanager::start(JobManagerConfig {
            rpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rest_bind: None,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            checkpoint_storage: "memory:///checkpoints".into(),
            cluster_id: None,
            ..JobManagerConfig::default()
        })
        .await
        .unwrap();
        let digest = jobmanager.core.put_module("", bytes).unwrap().to_string();
        let client = ResourceManagerClient::connect(format!("http://{}", jobmanager.rpc_address))
            .await
            .unwrap();
        (client, digest)
    }

    fn cache(dir: &std::path::Path) -> ModuleCache {
        let host = Arc::new(WasmHost::new(EngineConfig::default()).unwrap());
        ModuleCache::new(
            host,
            Some(dir.to_path_buf()),
            Arc::new(RemoteModules::new(Default::default())),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn modules_are_fetched_by_digest_verified_and_cached_on_disk() {
        let bytes = guests().bytes("wordcount");
        let (client, digest) = jobmanager_with(bytes.clone()).await;
        let dir = tempfile::tempdir().unwrap();

        let module = cache(dir.path())
            .get("tokenize", &digest, None, &client)
            .await
            .unwrap();
        assert_eq!(module.digest().to_string(), digest);
        let file = dir
            .path()
            .join(format!("{}.wasm", digest.replace(':', "-")));
        assert_eq!(std::fs::read(&file).unwrap(), bytes);

        // A damaged cache file is not trusted: the module is fetched again.
        std::fs::write(&file, b"damaged").unwrap();
        cache(dir.path())
            .get("tokenize", &digest, None, &client)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), bytes);

        // A digest the JobManager does not hold is an error that names it.
        let missing = format!("sha256:{}", "0".repeat(64));
        let error = cache(dir.path())
            .get("tokenize", &missing, None, &client)
            .await
            .err()
            .unwrap();
        assert!(error.is_retryable());
        assert!(error.to_string().contains(&missing), "{error}");
    }

    /// A registry module is pulled once: a TaskManager that starts again
    /// finds it in its disk cache, even with the registry gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registry_modules_are_pulled_once_then_read_from_the_disk_cache() {
        let bytes = guests().bytes("wordcount");
        let (client, _) = jobmanager_with(Vec::new()).await;
        let dir = tempfile::tempdir().unwrap();
        let registry = weir_testing::OciRegistry::start(false);
        let remote = Arc::new(RemoteModules::new(Default::default()));
        let pushed = remote
            .registries()
            .push(
                &format!("oci://{}/weir/wordcount:1", registry.address),
                &bytes,
                "wordcount.wasm",
            )
            .await
            .unwrap();
        let reference = format!("oci://{}", pushed.by_digest);

        let module = cache(dir.path())
            .get("tokenize", &pushed.module_digest, Some(&reference), &client)
            .await
            .unwrap();
        assert_eq!(module.digest().to_string(), pushed.module_digest);
        drop(registry);

        let again = cache(dir.path())
            .get("tokenize", &pushed.module_digest, Some(&reference), &client)
            .await
            .unwrap();
        assert_eq!(again.digest().to_string(), pushed.module_digest);

        // Without the cached file, the registry being down is the error.
        let other = tempfile::tempdir().unwrap();
        let error = cache(other.path())
            .get("tokenize", &pushed.module_digest, Some(&reference), &client)
            .await
            .err()
            .unwrap();
        assert!(error.is_retryable(), "{error}");
        assert!(
            error.to_string().contains("cannot reach the registry"),
            "{error}"
        );
    }
}
