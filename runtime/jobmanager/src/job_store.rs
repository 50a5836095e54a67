//! What the JobManager keeps of its jobs in storage, so that a JobManager
//! restarted on the same storage, or a standby that takes over, resumes
//! every job that was running: a record per job (its spec with the module
//! digests pinned, the savepoint it started from, the attempts it may have
//! used) and the modules uploaded for it. Like Flink's job graph store, it
//! holds blobs in the checkpoint storage; Kubernetes objects only point.
//!
//! Layout, under `<checkpoint storage>/ha/<cluster id>/`:
//! - `jobs/<job id>.json`: the record of every job that has not ended;
//!   written before `weir submit` hears the job id, deleted when the job
//!   ends (before a finished job's checkpoints are);
//! - `modules/<sha256 hex>.wasm`: the modules those jobs run, written with
//!   the first job that needs them, deleted with the last.

use serde::{Deserialize, Serialize};
use weir_checkpoint::{join, Storage, StorageError};
use weir_types::Digest;

/// The version of the record format; recovery refuses any other.
pub const JOB_RECORD_FORMAT: &str = "weir-job/2";

#[derive(Debug, thiserror::Error)]
pub enum JobStoreError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{location} is not a job record of this Weir ({why})")]
    Damaged { location: String, why: String },
}

/// One job as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub format: String,
    pub job_id: String,
    /// The locked job (the validated spec, modules pinned by digest) in its
    /// JSON form. Kept as JSON here and read into a `LockedJob` when the job
    /// is recovered, so a job whose spec a newer Weir refuses is listed as
    /// FAILED with the reason instead of being unreadable.
    pub job: serde_json::Value,
    pub submitted_ms: i64,
    /// Attempts up to this one may have been deployed: a JobManager that
    /// takes the job over starts above it, so that no task of an attempt
    /// it did not start is mistaken for one of its own.
    pub attempts_reserved: u32,
    /// The savepoint (or retained checkpoint) the job started from; it is
    /// restored again until a checkpoint of the job's own completes.
    #[serde(default)]
    pub initial_savepoint: Option<String>,
}

/// The store, or nothing (a `weir run` job lives and dies with its process).
pub struct JobStore {
    root: Option<String>,
    storage: Storage,
}

impl JobStore {
    /// The store of cluster `cluster_id` in the checkpoint storage `storage`
    /// (a URL).
    pub fn new(storage: &str, cluster_id: &str) -> Self {
        JobStore {
            root: Some(join(&join(storage, "ha"), cluster_id)),
            storage: Storage::new(),
        }
    }

    /// A store that keeps nothing.
    pub fn disabled() -> Self {
        JobStore {
            root: None,
            storage: Storage::new(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.root.is_some()
    }

    /// Where the store lives, for messages.
    pub fn location(&self) -> Option<&str> {
        self.root.as_deref()
    }

    fn jobs_dir(root: &str) -> String {
        join(root, "jobs")
    }

    fn record_location(root: &str, job_id: &str) -> String {
        join(&Self::jobs_dir(root), &format!("{job_id}.json"))
    }

    fn module_location(root: &str, digest: &Digest) -> String {
        join(&join(root, "modules"), &format!("{}.wasm", digest.hex()))
    }

    pub async fn save(&self, record: &JobRecord) -> Result<(), JobStoreError> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        let location = Self::record_location(root, &record.job_id);
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| JobStoreError::Damaged {
            location: location.clone(),
            why: e.to_string(),
        })?;
        Ok(self.storage.put(&location, bytes).await?)
    }

    pub async fn delete(&self, job_id: &str) -> Result<(), JobStoreError> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        Ok(self
            .storage
            .delete(&Self::record_location(root, job_id))
            .await?)
    }

    pub async fn put_module(&self, digest: &Digest, bytes: Vec<u8>) -> Result<(), JobStoreError> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        Ok(self
            .storage
            .put(&Self::module_location(root, digest), bytes)
            .await?)
    }

    /// The module's bytes, checked against its digest.
    pub async fn module(&self, digest: &Digest) -> Result<Vec<u8>, JobStoreError> {
        let Some(root) = &self.root else {
            return Err(JobStoreError::Storage(StorageError::NotFound {
                location: format!("module {digest} (no job store)"),
            }));
        };
        let location = Self::module_location(root, digest);
        let bytes = self.storage.get(&location).await?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(JobStoreError::Damaged {
                location,
                why: format!("its bytes have digest {actual}, not {digest}"),
            });
        }
        Ok(bytes)
    }

    pub async fn delete_module(&self, digest: &Digest) -> Result<(), JobStoreError> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        Ok(self
            .storage
            .delete(&Self::module_location(root, digest))
            .await?)
    }

    /// Every record in the store; a record that cannot be read is returned
    /// as its error, and left where it is.
    pub async fn records(&self) -> Result<Vec<Result<JobRecord, JobStoreError>>, JobStoreError> {
        let Some(root) = &self.root else {
            return Ok(Vec::new());
        };
        let mut locations = self.storage.list(&Self::jobs_dir(root)).await?;
        locations.retain(|l| l.ends_with(".json"));
        locations.sort();
        let mut records = Vec::new();
        for location in locations {
            let read = match self.storage.get(&location).await {
                Ok(bytes) => parse_record(&bytes, &location),
                Err(e) => Err(e.into()),
            };
            records.push(read);
        }
        Ok(records)
    }
}

fn parse_record(bytes: &[u8], location: &str) -> Result<JobRecord, JobStoreError> {
    let damaged = |why: String| JobStoreError::Damaged {
        location: location.to_string(),
        why,
    };
    let record: JobRecord = serde_json::from_slice(bytes).map_err(|e| damaged(e.to_string()))?;
    if record.format != JOB_RECORD_FORMAT {
        return Err(damaged(format!(
            "format '{}'; this Weir reads '{JOB_RECORD_FORMAT}'",
            record.format
        )));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> JobRecord {
        JobRecord {
            format: JOB_RECORD_FORMAT.into(),
            job_id: id.into(),
            job: serde_json::json!({"name": "x"}),
            submitted_ms: 5,
            attempts_reserved: 2,
            initial_savepoint: None,
        }
    }

    #[tokio::test]
    async fn records_and_modules_round_trip_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            weir_checkpoint::location_of(dir.path().to_str().unwrap(), std::path::Path::new("/"))
                .unwrap();
        let store = JobStore::new(&storage, "default");
        store.save(&record("b")).await.unwrap();
        store.save(&record("a")).await.unwrap();
        let read: Vec<JobRecord> = store
            .records()
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, vec![record("a"), record("b")]);
        assert!(dir.path().join("ha/default/jobs/a.json").is_file());

        let module = b"\0asm module".to_vec();
        let digest = Digest::of(&module);
        store.put_module(&digest, module.clone()).await.unwrap();
        assert_eq!(store.module(&digest).await.unwrap(), module);
        let other = Digest::of(b"other");
        std::fs::copy(
            dir.path()
                .join(format!("ha/default/modules/{}.wasm", digest.hex())),
            dir.path()
                .join(format!("ha/default/modules/{}.wasm", other.hex())),
        )
        .unwrap();
        let err = store.module(&other).await.unwrap_err().to_string();
        assert!(err.contains("not sha256:"), "{err}");

        std::fs::write(dir.path().join("ha/default/jobs/c.json"), "{").unwrap();
        let read = store.records().await.unwrap();
        let err = read[2].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("c.json") && err.contains("not a job record"),
            "{err}"
        );

        store.delete("a").await.unwrap();
        store.delete_module(&digest).await.unwrap();
        assert!(!dir.path().join("ha/default/jobs/a.json").exists());
        assert!(store.module(&digest).await.is_err());
        assert!(JobStore::disabled().records().await.unwrap().is_empty());
    }
}
