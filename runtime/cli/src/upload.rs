//! The job spec on the submitter's disk: read within its limit, and written
//! back as YAML for the JobManager. Its modules are pinned by
//! `weir_artifact::local`.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use weir_types::{JobSpec, DEFAULT_MAX_SPEC_BYTES};

/// Reads a job spec from a file, within the spec size limit.
pub fn read_spec(path: &Path) -> Result<String> {
    let bytes = weir_artifact::read_limited(path, DEFAULT_MAX_SPEC_BYTES as u64, "maxJobSpecSize")
        .with_context(|| format!("cannot read the job spec {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "the job spec {} is not UTF-8 text (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

pub fn to_yaml(spec: &JobSpec) -> Result<String> {
    serde_yaml_ng::to_string(spec).context("cannot write the job spec")
}
