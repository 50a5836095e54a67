//! `weir push`: a module to an OCI registry or into a ConfigMap, and the
//! registry settings every command that reaches registries shares.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use weir_artifact::{credentials, Credentials, Registries, RegistryOptions};

#[derive(Args, Clone, Default)]
pub struct RegistryArgs {
    /// Registry credentials: a Docker config file (the `.dockerconfigjson`
    /// of a kubernetes.io/dockerconfigjson Secret is one). Default:
    /// $DOCKER_CONFIG/config.json or ~/.docker/config.json, if present.
    #[arg(long, env = "WEIR_REGISTRY_CONFIG")]
    pub registry_config: Option<PathBuf>,
    /// Registries (HOST:PORT) spoken to over plain HTTP; loopback ones
    /// always are. Repeat the flag or separate with commas.
    #[arg(
        long = "insecure-registry",
        env = "WEIR_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
}

impl RegistryArgs {
    pub fn options(&self) -> Result<RegistryOptions> {
        let path = self
            .registry_config
            .clone()
            .or_else(credentials::default_docker_config);
        let credentials = match path {
            // An optional Secret mounted where the file is expected leaves
            // it absent: only public registries then, which is not an error
            // (nor worth a warning in every pod's log, as the manifests
            // name that Secret on purpose).
            Some(path) if !path.exists() => {
                tracing::info!(
                    "no registry credentials at {}: registries are reached without credentials",
                    path.display()
                );
                Credentials::default()
            }
            Some(path) => Credentials::read(&path)?,
            None => Credentials::default(),
        };
        Ok(RegistryOptions {
            credentials,
            insecure: self.insecure_registries.clone(),
            ..RegistryOptions::default()
        })
    }
}

#[derive(Args)]
pub struct PushArgs {
    /// The component (.wasm) to push.
    module: PathBuf,
    /// oci://REGISTRY/REPOSITORY:TAG, or configmap:// to store it as an
    /// immutable ConfigMap named by its digest (at most 1 MiB compressed).
    target: String,
    /// The namespace of the ConfigMap; the kubeconfig's when absent.
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Component binaries carry layer 1 in the header's second half; core
/// modules carry 0.
fn check_component(bytes: &[u8], path: &std::path::Path) -> Result<()> {
    match bytes.get(..8) {
        Some([0x00, b'a', b's', b'm', _, _, 0x01, 0x00]) => Ok(()),
        Some([0x00, b'a', b's', b'm', ..]) => bail!(
            "{} is a core WebAssembly module, not a component; build operators with `weir build`",
            path.display()
        ),
        _ => bail!("{} is not a WebAssembly component", path.display()),
    }
}

pub fn push(args: PushArgs) -> Result<()> {
    let bytes = weir_artifact::read_limited(
        &args.module,
        weir_types::DEFAULT_MAX_MODULE_BYTES,
        "maxModuleSize",
    )
    .with_context(|| format!("cannot read {}", args.module.display()))?;
    check_component(&bytes, &args.module)?;
    let file_name = args
        .module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module.wasm".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let target = args.target.trim();
    if target.starts_with("oci://") {
        let registries = Registries::new(args.registry.options()?);
        let pushed = runtime.block_on(registries.push(target, &bytes, &file_name))?;
        eprintln!(
            "pushed {} ({} bytes, module {}) to {target}",
            args.module.display(),
            pushed.size,
            pushed.module_digest
        );
        crate::display::print_out(&format!("oci://{}\n", pushed.by_digest))?;
        Ok(())
    } else if target == "configmap://" || target == "configmap:" {
        let reference = runtime.block_on(async {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| anyhow!("cannot reach the Kubernetes API (kubeconfig): {e}"))?;
            let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = match &args.namespace {
                Some(namespace) => kube::Api::namespaced(client, namespace),
                None => kube::Api::default_namespaced(client),
            };
            weir_artifact::configmap::store(&api, &bytes, &args.module.display().to_string())
                .await
                .map_err(anyhow::Error::from)
        })?;
        eprintln!(
            "stored {} ({} bytes, module {})",
            args.module.display(),
            bytes.len(),
            weir_types::sha256_digest(&bytes)
        );
        crate::display::print_out(&format!("{reference}\n"))?;
        Ok(())
    } else {
        bail!("'{target}': push to oci://REGISTRY/REPOSITORY:TAG or to configmap://")
    }
}
