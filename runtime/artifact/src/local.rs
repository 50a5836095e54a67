//! Modules on the submitter's disk: turning a job spec read from a file into
//! what a JobManager takes. Every local module is read, digested and pinned
//! (`sha256`), every file path made absolute (the TaskManagers resolve them,
//! not the submitter). Used by `weir submit`, by `weir run` and by the
//! in-process cluster of the tests, so that all three send the same job.

use std::io::Read;
use std::path::{Path, PathBuf};

use weir_types::{
    format_bytes, BadDigest, Digest, JobSpec, ModuleRef, ModuleRefError, SourceSpec,
    DEFAULT_MAX_MODULE_BYTES,
};

/// A file that cannot be read within its limit.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is {}, more than the limit of {} ({setting})", format_bytes(*.size), format_bytes(*.limit))]
    TooLarge {
        path: String,
        size: u64,
        limit: u64,
        setting: &'static str,
    },
}

/// A local module of the job that cannot be pinned; names the operator
/// (`operators[i] 'name'`).
#[derive(Debug, thiserror::Error)]
pub enum LocalModuleError {
    #[error("{at}: {source}")]
    Reference {
        at: String,
        #[source]
        source: ModuleRefError,
    },
    #[error("{at}: cannot read module '{operator}' at {file}: {source}")]
    Read {
        at: String,
        operator: String,
        file: String,
        /// Boxed: keeps every `Result` of pinning small.
        #[source]
        source: Box<ReadError>,
    },
    #[error("{at}.sha256: {source}")]
    BadPin {
        at: String,
        #[source]
        source: BadDigest,
    },
    #[error("{at}: module '{operator}' has digest {actual}, but the spec pins {pinned}")]
    PinMismatch {
        at: String,
        operator: String,
        actual: Digest,
        pinned: Digest,
    },
}

/// A job spec with its local modules pinned, and their bytes.
#[derive(Debug, Clone)]
pub struct Upload {
    pub spec: JobSpec,
    /// (digest, bytes) of every module, once each.
    pub modules: Vec<(String, Vec<u8>)>,
}

impl Upload {
    /// The bytes of the module with `digest`.
    pub fn bytes_of(&self, digest: &str) -> Option<&[u8]> {
        self.modules
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, bytes)| bytes.as_slice())
    }
}

fn absolute(base_dir: &Path, path: &str) -> String {
    let path = Path::new(path);
    let joined: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    };
    std::path::absolute(&joined)
        .unwrap_or(joined)
        .to_string_lossy()
        .into_owned()
}

/// Reads a file of at most `limit` bytes: a regular file (not a device or
/// a pipe, which could be endless), checked before it is read, and read no
/// further than the limit whatever it grows to meanwhile. `setting` names
/// the limit in the refusal.
pub fn read_limited(path: &Path, limit: u64, setting: &'static str) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(ReadError::NotAFile {
            path: path.display().to_string(),
        });
    }
    let too_large = |size: u64| ReadError::TooLarge {
        path: path.display().to_string(),
        size,
        limit,
        setting,
    };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Pins the local modules of `spec` and makes its paths absolute; relative
/// ones are relative to `base_dir`, the job spec's directory. Remote modules
/// (`oci://`, `configmap://`) are left to [`crate::pin_remote_modules`].
pub fn pin_local_modules(mut spec: JobSpec, base_dir: &Path) -> Result<Upload, LocalModuleError> {
    let mut modules: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, op) in spec.operators.iter_mut().enumerate() {
        let Some(reference) = &op.module else {
            continue;
        };
        let at = format!("operators[{index}] '{}'", op.name);
        let path = match ModuleRef::parse(reference) {
            Ok(ModuleRef::Path(path)) => path,
            Ok(ModuleRef::Oci(_) | ModuleRef::ConfigMap { .. }) => continue,
            Err(source) => return Err(LocalModuleError::Reference { at, source }),
        };
        let file = absolute(base_dir, &path);
        let bytes = read_limited(Path::new(&file), DEFAULT_MAX_MODULE_BYTES, "maxModuleSize")
            .map_err(|source| LocalModuleError::Read {
                at: at.clone(),
                operator: op.name.clone(),
                file: file.clone(),
                source: Box::new(source),
            })?;
        let digest = Digest::of(&bytes);
        if let Some(pinned) = &op.sha256 {
            let pinned = Digest::parse(pinned).map_err(|source| LocalModuleError::BadPin {
                at: at.clone(),
                source,
            })?;
            if pinned != digest {
                return Err(LocalModuleError::PinMismatch {
                    at,
                    operator: op.name.clone(),
                    actual: digest,
                    pinned,
                });
            }
        }
        let pinned_as = digest.to_string();
        op.module = Some(file);
        if !modules.iter().any(|(d, _)| *d == pinned_as) {
            modules.push((pinned_as.clone(), bytes));
        }
        op.sha256 = Some(pinned_as);
    }
    match &mut spec.source {
        SourceSpec::Text(text) => text.path = absolute(base_dir, &text.path),
        SourceSpec::Jsonl(jsonl) => jsonl.path = absolute(base_dir, &jsonl.path),
        SourceSpec::Generator(_) => {}
    }
    if let Some(path) = spec.sink.path_mut() {
        *path = absolute(base_dir, path);
    }
    // So is the side output of a window's late records.
    for op in &mut spec.operators {
        if op.builtin.as_deref() != Some("window") {
            continue;
        }
        if let Some(path) = op
            .config
            .get_mut("lateRecords")
            .and_then(|late| late.get_mut("path"))
        {
            if let Some(text) = path.as_str() {
                *path = serde_json::Value::String(absolute(base_dir, text));
            }
        }
    }
    // A checkpoint directory, like the files, is relative to the job spec.
    if let Some(storage) = spec
        .checkpointing
        .as_mut()
        .and_then(|c| c.storage.as_mut())
        .filter(|s| !s.contains("://"))
    {
        *storage = absolute(base_dir, storage);
    }
    Ok(Upload { spec, modules })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(module: &str, pin: Option<&str>) -> JobSpec {
        let pin = pin
            .map(|p| format!("\n    sha256: \"{p}\""))
            .unwrap_or_default();
        JobSpec::from_yaml(&format!(
            "name: j\nsource: {{type: text, path: in.txt}}\n\
             operators:\n  - name: m\n    module: {module}{pin}\n\
             sink: {{type: jsonl, path: out/o.jsonl}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_local_module_is_pinned_once_and_paths_become_absolute() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.wasm"), b"\0asm-bytes").unwrap();
        let upload = pin_local_modules(spec("m.wasm", None), dir.path()).unwrap();
        let digest = Digest::of(b"\0asm-bytes").to_string();
        assert_eq!(upload.spec.operators[0].sha256.as_deref(), Some(&*digest));
        assert_eq!(upload.bytes_of(&digest), Some(&b"\0asm-bytes"[..]));
        let module = upload.spec.operators[0].module.clone().unwrap();
        assert!(Path::new(&module).is_absolute(), "{module}");
        assert!(upload.spec.sink.path().unwrap().ends_with("out/o.jsonl"));
        assert!(Path::new(upload.spec.sink.path().unwrap()).is_absolute());
    }

    #[test]
    fn a_module_that_differs_from_its_pin_is_refused_with_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.wasm"), b"one").unwrap();
        let other = Digest::of(b"two");
        let err = pin_local_modules(spec("m.wasm", Some(&other.to_string())), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("operators[0] 'm': module 'm' has digest sha256:"),
            "{err}"
        );
        assert!(
            err.ends_with(&format!("but the spec pins {other}")),
            "{err}"
        );
    }

    #[test]
    fn a_missing_module_names_the_operator_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = pin_local_modules(spec("gone.wasm", None), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("operators[0] 'm': cannot read module 'm' at /"),
            "{err}"
        );
        assert!(err.contains("gone.wasm: "), "{err}");
    }

    #[test]
    fn reading_stops_at_the_limit_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        std::fs::write(&file, vec![0u8; 2048]).unwrap();
        let err = read_limited(&file, 1024, "maxModuleSize")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("is 2.0 KiB, more than the limit of 1.0 KiB (maxModuleSize)"),
            "{err}"
        );
        let err = read_limited(dir.path(), 1024, "maxModuleSize")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("is not a regular file"), "{err}");
    }
}
