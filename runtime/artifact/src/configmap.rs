//! Small modules as immutable ConfigMaps, for clusters without a registry:
//! one ConfigMap per module, named by its digest, the component gzipped
//! under one `binaryData` key. Immutable, so the kubelet and the API server
//! never watch it, and a name always means the same bytes.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use weir_types::sha256_digest;

use crate::ArtifactError;

/// The API server refuses a ConfigMap whose data exceed 1 MiB.
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;
/// Bounds what a ConfigMap may inflate to, against a crafted one.
const INFLATED_LIMIT: u64 = 256 * 1024 * 1024;
pub const MODULE_KEY: &str = "module.wasm.gz";
const DIGEST_ANNOTATION: &str = "weir.dev/module-digest";

/// The ConfigMap name of the module with `digest` (`sha256:<hex>`).
pub fn name_of(digest: &str) -> String {
    format!("weir-module-{}", digest.trim_start_matches("sha256:"))
}

/// `configmap://NAME/KEY` of the module with `digest`.
pub fn reference_of(digest: &str) -> String {
    format!("configmap://{}/{MODULE_KEY}", name_of(digest))
}

/// The ConfigMap holding `module`, or why it cannot; `what` names the module
/// in errors (its file).
pub fn config_map_of(module: &[u8], what: &str) -> Result<ConfigMap, ArtifactError> {
    let digest = sha256_digest(module);
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let compressed = encoder
        .write_all(module)
        .and_then(|()| encoder.finish())
        .map_err(|e| ArtifactError::ConfigMap {
            name: name_of(&digest),
            message: format!("cannot compress {what}: {e}"),
        })?;
    // The limit counts keys as well as values.
    let size = compressed.len() + MODULE_KEY.len();
    if size > CONFIGMAP_LIMIT {
        return Err(ArtifactError::TooLargeForConfigMap {
            what: what.to_string(),
            size: module.len(),
            compressed: size,
            limit: CONFIGMAP_LIMIT,
        });
    }
    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "weir".to_string()),
        (
            "app.kubernetes.io/component".to_string(),
            "module".to_string(),
        ),
    ]);
    let annotations = BTreeMap::from([(DIGEST_ANNOTATION.to_string(), digest.clone())]);
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(name_of(&digest)),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(
            MODULE_KEY.to_string(),
            ByteString(compressed),
        )])),
        immutable: Some(true),
        ..ConfigMap::default()
    })
}

/// Stores `module` in `api`'s namespace; returns its `configmap://`
/// reference. A ConfigMap of that name already there is checked, not
/// replaced: the name is the digest, so it holds the same module or it is
/// damaged.
pub async fn store(
    api: &Api<ConfigMap>,
    module: &[u8],
    what: &str,
) -> Result<String, ArtifactError> {
    let config_map = config_map_of(module, what)?;
    let digest = sha256_digest(module);
    let name = name_of(&digest);
    match api.create(&PostParams::default(), &config_map).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {
            read(api, &name, MODULE_KEY, &digest).await?;
        }
        Err(e) => {
            return Err(ArtifactError::ConfigMap {
                name,
                message: format!("cannot create it: {e}"),
            })
        }
    }
    Ok(reference_of(&digest))
}

/// The module under `key` of ConfigMap `name`, which must hash to `digest`.
pub async fn read(
    api: &Api<ConfigMap>,
    name: &str,
    key: &str,
    digest: &str,
) -> Result<Vec<u8>, ArtifactError> {
    let error = |message: String| ArtifactError::ConfigMap {
        name: name.to_string(),
        message,
    };
    let config_map = api.get(name).await.map_err(|e| match &e {
        kube::Error::Api(status) if status.code == 404 => {
            error("it does not exist (push the module with weir push FILE configmap://)".into())
        }
        _ => error(format!("cannot read it: {e}")),
    })?;
    let stored = config_map
        .binary_data
        .as_ref()
        .and_then(|data| data.get(key))
        .ok_or_else(|| error(format!("it has no binaryData key '{key}'")))?;
    let mut module = Vec::new();
    let inflated = if key.ends_with(".gz") {
        GzDecoder::new(stored.0.as_slice())
            .take(INFLATED_LIMIT + 1)
            .read_to_end(&mut module)
            .map_err(|e| error(format!("'{key}' is not gzip: {e}")))?
    } else {
        module.extend_from_slice(&stored.0);
        module.len()
    };
    if inflated as u64 > INFLATED_LIMIT {
        return Err(error(format!(
            "'{key}' inflates to more than {INFLATED_LIMIT} bytes"
        )));
    }
    let actual = sha256_digest(&module);
    if actual != digest {
        return Err(ArtifactError::DigestMismatch {
            what: "the module".into(),
            reference: format!("configmap://{name}/{key}"),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(module)
}
