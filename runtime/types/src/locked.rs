//! The one value a job is inside the cluster: a validated spec whose
//! modules are pinned by digest. It is made once where a job enters (the
//! JobManager accepting `weir submit`, REST or a WeirJob), kept and stored
//! by the JobManager and sent to TaskManagers as it is; text formats stay at
//! the edges.

use serde::{Deserialize, Serialize};

use crate::{BadDigest, Digest, JobSpec, ModuleRef, OperatorSpec, SpecErrors};

/// Why a spec cannot be locked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Spec(#[from] SpecErrors),
    #[error("operators[{index}] '{operator}' has no sha256 of its module: a job runs modules pinned by digest (`weir submit` and the WeirJob controller pin them)")]
    Unpinned { index: usize, operator: String },
    #[error("operators[{index}].sha256: {source}")]
    Digest {
        index: usize,
        #[source]
        source: BadDigest,
    },
}

/// Why bytes received as a locked job are not one.
#[derive(Debug, thiserror::Error)]
pub enum LockedJobWireError {
    #[error("the job is not a job of this Weir: {0}")]
    Decode(#[from] serde_json::Error),
}

/// A validated job spec in which every operator with a module names it by
/// digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "JobSpec", into = "JobSpec")]
pub struct LockedJob {
    spec: JobSpec,
}

/// One module a locked job runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnedModule<'a> {
    /// The operator's index in the spec.
    pub index: usize,
    pub operator: &'a OperatorSpec,
    pub digest: Digest,
    /// Fetched by TaskManagers from a registry or a ConfigMap, rather than
    /// uploaded to the JobManager.
    pub remote: bool,
}

impl LockedJob {
    /// Validates `spec` and checks every module is pinned.
    pub fn lock(spec: JobSpec) -> Result<LockedJob, LockError> {
        spec.validate()?;
        for (index, op) in spec.operators.iter().enumerate() {
            if op.module.is_none() {
                continue;
            }
            let Some(digest) = &op.sha256 else {
                return Err(LockError::Unpinned {
                    index,
                    operator: op.name.clone(),
                });
            };
            Digest::parse(digest).map_err(|source| LockError::Digest { index, source })?;
        }
        Ok(LockedJob { spec })
    }

    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    pub fn into_spec(self) -> JobSpec {
        self.spec
    }

    /// The modules the job runs, in operator order.
    pub fn modules(&self) -> impl Iterator<Item = PinnedModule<'_>> + '_ {
        self.spec
            .operators
            .iter()
            .enumerate()
            .filter_map(|(index, operator)| {
                let module = operator.module.as_deref()?;
                // Both hold: `lock` checked them.
                let digest = Digest::parse(operator.sha256.as_deref()?).ok()?;
                Some(PinnedModule {
                    index,
                    operator,
                    digest,
                    remote: ModuleRef::parse(module).is_ok_and(|r| r.is_remote()),
                })
            })
    }

    /// The job as bytes on the wire and in the job store (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A JobSpec is plain data: serialising it cannot fail.
        serde_json::to_vec(&self.spec).unwrap_or_default()
    }

    /// The job from [`LockedJob::to_bytes`], checked again: the bytes come
    /// over the network.
    pub fn from_bytes(bytes: &[u8]) -> Result<LockedJob, LockedJobWireError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// A locked job reads as its spec; it cannot be changed in place.
impl std::ops::Deref for LockedJob {
    type Target = JobSpec;

    fn deref(&self) -> &JobSpec {
        &self.spec
    }
}

impl TryFrom<JobSpec> for LockedJob {
    type Error = LockError;

    fn try_from(spec: JobSpec) -> Result<Self, Self::Error> {
        LockedJob::lock(spec)
    }
}

impl From<LockedJob> for JobSpec {
    fn from(job: LockedJob) -> JobSpec {
        job.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn spec(sha: Option<&str>) -> JobSpec {
        let sha = sha.map(|d| format!(", sha256: '{d}'")).unwrap_or_default();
        JobSpec::from_yaml(&format!(
            "name: locked\nparallelism: 2\n\
             source: {{type: generator, count: 10, keys: 3}}\n\
             checkpointing: {{interval: 1s}}\n\
             operators:\n  - {{name: scale, module: scale.wasm{sha}}}\n  \
             - {{name: count, builtin: count, keyBy: [key], config: {{emit: final}}}}\n\
             sink: {{type: jsonl, path: out.jsonl, flushInterval: 50ms}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_locked_job_survives_the_wire_unchanged() {
        let job = LockedJob::lock(spec(Some(DIGEST))).unwrap();
        let back = LockedJob::from_bytes(&job.to_bytes()).unwrap();
        assert_eq!(back, job);
        let modules: Vec<_> = back.modules().collect();
        assert_eq!(modules.len(), 1);
        assert_eq!(modules[0].index, 0);
        assert_eq!(modules[0].digest.to_string(), DIGEST);
        assert!(!modules[0].remote);
    }

    /// Every example and golden job of the repository, pinned, crosses the
    /// wire as it was parsed: serialisation loses no field.
    #[test]
    fn every_job_of_the_repository_survives_the_wire() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seen = 0;
        for dir in ["tests/golden", "examples"] {
            let mut stack = vec![root.join(dir)];
            while let Some(path) = stack.pop() {
                if path.is_dir() {
                    stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                    continue;
                }
                if path.extension().is_none_or(|e| e != "yaml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let Ok(mut spec) = JobSpec::from_yaml(&text) else {
                    continue;
                };
                for op in &mut spec.operators {
                    if op.module.is_some() {
                        op.sha256 = Some(DIGEST.into());
                    }
                }
                let job = LockedJob::lock(spec).unwrap();
                let back = LockedJob::from_bytes(&job.to_bytes()).unwrap();
                assert_eq!(back, job, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} job specs found");
    }

    #[test]
    fn an_unpinned_module_is_refused_with_its_operator() {
        let error = LockedJob::lock(spec(None)).unwrap_err();
        assert_eq!(
            error,
            LockError::Unpinned {
                index: 0,
                operator: "scale".into()
            }
        );
    }

    #[test]
    fn bytes_that_break_the_spec_are_refused_on_arrival() {
        let job = LockedJob::lock(spec(Some(DIGEST))).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&job.to_bytes()).unwrap();
        value["operators"][0]["sha256"] = serde_json::Value::Null;
        let error = LockedJob::from_bytes(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(
            error.to_string().contains("'scale' has no sha256"),
            "{error}"
        );
        value["parallelism"] = 0.into();
        let error = LockedJob::from_bytes(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(error.to_string().contains("parallelism"), "{error}");
    }
}
