use std::fmt;

/// Where an operator's module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRef {
    /// A file, relative to the job spec's directory unless absolute.
    Path(String),
    /// An OCI artifact: `oci://registry/repository:tag` or `...@sha256:...`.
    Oci(String),
    /// A key of a Kubernetes ConfigMap: `configmap://name/key`.
    ConfigMap { name: String, key: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModuleRefError(String);

impl ModuleRef {
    /// Whether the TaskManagers fetch it themselves (a registry or a
    /// ConfigMap), rather than from the JobManager, which holds files
    /// uploaded with the job.
    pub fn is_remote(&self) -> bool {
        matches!(self, ModuleRef::Oci(_) | ModuleRef::ConfigMap { .. })
    }

    pub fn parse(reference: &str) -> Result<Self, ModuleRefError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(ModuleRefError("the module reference is empty".into()));
        }
        match reference.split_once("://") {
            None => Ok(ModuleRef::Path(reference.to_string())),
            Some(("oci", rest)) if !rest.is_empty() => Ok(ModuleRef::Oci(rest.to_string())),
            Some(("configmap", rest)) => match rest.split_once('/') {
                Some((name, key)) if !name.is_empty() && !key.is_empty() && !key.contains('/') => {
                    Ok(ModuleRef::ConfigMap {
                        name: name.to_string(),
                        key: key.to_string(),
                    })
                }
                _ => Err(ModuleRefError(format!(
                    "'{reference}' is not of the form configmap://NAME/KEY"
                ))),
            },
            Some(("file", path)) if !path.is_empty() => Ok(ModuleRef::Path(path.to_string())),
            Some((scheme, _)) => Err(ModuleRefError(format!(
                "unsupported module reference scheme '{scheme}://' in '{reference}': use a file \
                 path, oci://REGISTRY/REPOSITORY:TAG or configmap://NAME/KEY"
            ))),
        }
    }
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleRef::Path(path) => write!(f, "{path}"),
            ModuleRef::Oci(reference) => write!(f, "oci://{reference}"),
            ModuleRef::ConfigMap { name, key } => write!(f, "configmap://{name}/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            ModuleRef::parse("op/x.wasm").unwrap(),
            ModuleRef::Path("op/x.wasm".into())
        );
        assert_eq!(
            ModuleRef::parse("oci://ghcr.io/a/b:1").unwrap(),
            ModuleRef::Oci("ghcr.io/a/b:1".into())
        );
        assert_eq!(
            ModuleRef::parse("configmap://mods/tok.wasm").unwrap(),
            ModuleRef::ConfigMap {
                name: "mods".into(),
                key: "tok.wasm".into()
            }
        );
        let err = ModuleRef::parse("https://x/y.wasm")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unsupported module reference scheme 'https://'"),
            "{err}"
        );
        assert!(ModuleRef::parse("oci://r/a:1").unwrap().is_remote());
        assert!(ModuleRef::parse("configmap://m/k").unwrap().is_remote());
        assert!(!ModuleRef::parse("op/x.wasm").unwrap().is_remote());
        assert!(ModuleRef::parse("configmap://only").is_err());
        assert!(ModuleRef::parse("  ").is_err());
    }
}
