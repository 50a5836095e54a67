//! Turning a job spec on disk into what a JobManager takes: every module read,
//! digested and pinned (`sha256`), every file path made absolute, since the
//! TaskManagers resolve them, not the client.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;

use weir_types::{
    format_bytes, JobSpec, ModuleRef, SourceSpec, DEFAULT_MAX_MODULE_BYTES, DEFAULT_MAX_SPEC_BYTES,
};

pub struct Upload {
    pub spec: JobSpec,
    /// (digest, bytes) of every module, once each.
    pub modules: Vec<(String, Vec<u8>)>,
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
/// further than the limit whatever it grows to meanwhile.
pub fn read_limited(path: &Path, limit: u64, setting: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let too_large = |size: u64| {
        anyhow!(
            "{} is {}, more than the limit of {} ({setting})",
            path.display(),
            format_bytes(size),
            format_bytes(limit)
        )
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

/// Reads a job spec from a file, within the spec size limit.
pub fn read_spec(path: &Path) -> Result<String> {
    let bytes = read_limited(path, DEFAULT_MAX_SPEC_BYTES as u64, "maxJobSpecSize")
        .with_context(|| format!("cannot read the job spec {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "the job spec {} is not UTF-8 text (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

pub fn prepare(mut spec: JobSpec, base_dir: &Path) -> Result<Upload> {
    let mut modules: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, op) in spec.operators.iter_mut().enumerate() {
        let Some(reference) = &op.module else {
            continue;
        };
        let at = format!("operators[{index}] '{}'", op.name);
        let path = match ModuleRef::parse(reference).map_err(|e| anyhow!("{at}: {e}"))? {
            ModuleRef::Path(path) => path,
            // Fetched by the TaskManagers; `weir_artifact::pin_remote_modules`
            // pins them.
            ModuleRef::Oci(_) | ModuleRef::ConfigMap { .. } => continue,
        };
        let file = absolute(base_dir, &path);
        let bytes = read_limited(Path::new(&file), DEFAULT_MAX_MODULE_BYTES, "maxModuleSize")
            .with_context(|| format!("{at}: cannot read module '{}' at {file}", op.name))?;
        let digest = weir_types::Digest::of(&bytes);
        let pinned_as = digest.to_string();
        if let Some(pinned) = &op.sha256 {
            let pinned =
                weir_types::Digest::parse(pinned).with_context(|| format!("{at}.sha256"))?;
            if pinned != digest {
                bail!(
                    "{at}: module '{}' has digest {digest}, but the spec pins {pinned}",
                    op.name
                );
            }
        }
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

impl Upload {
    /// The bytes of the module with `digest`.
    pub fn bytes_of(&self, digest: &str) -> Option<&[u8]> {
        self.modules
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, bytes)| bytes.as_slice())
    }
}

pub fn to_yaml(spec: &JobSpec) -> Result<String> {
    serde_yaml_ng::to_string(spec).context("cannot write the job spec")
}
