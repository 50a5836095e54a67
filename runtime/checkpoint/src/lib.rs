//! Checkpoint storage: where TaskManagers write the snapshots of their tasks
//! and the JobManager writes the metadata that makes a checkpoint complete.
//!
//! Every location is a URL (`file:///…`, `memory://…`, and with the `s3`
//! feature `s3://bucket/prefix`); a plain path is a local directory. Writes
//! go through `object_store`, whose local store writes a temporary file and
//! renames it, so a reader never sees half an object.
//!
//! Layout of one checkpoint, at `<storage>/<job id>/chk-<n>/` (a savepoint
//! has the same layout in a directory of its own):
//! - `task-<vertex>-<subtask>`: one task's snapshot;
//! - `_metadata`: JSON, written last; a checkpoint without it is not
//!   complete and is never restored.

mod metadata;
mod storage;

pub use metadata::{
    CheckpointMetadata, MetadataError, TaskStateHandle, VertexShape, METADATA_FORMAT,
};
pub use storage::{location_of, Storage, StorageError};

/// The file that makes a checkpoint complete.
pub const METADATA_FILE: &str = "_metadata";

/// The file of one task's snapshot within its checkpoint.
pub fn task_file(vertex: u32, subtask: u32) -> String {
    format!("task-{vertex}-{subtask}")
}

/// `location/name`, without doubling the slash.
pub fn join(location: &str, name: &str) -> String {
    format!("{}/{name}", location.trim_end_matches('/'))
}

/// The checkpoint directory of checkpoint `id` of job `job_id`.
pub fn checkpoint_location(storage: &str, job_id: &str, id: u64) -> String {
    join(&join(storage, job_id), &format!("chk-{id}"))
}

/// A checkpoint directory of a job found in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointDir {
    pub id: u64,
    pub location: String,
    /// Whether its `_metadata` exists; one without is what a checkpoint
    /// under way at a crash left, and is never restored.
    pub complete: bool,
}

/// The checkpoint directories of job `job_id` under `root`, oldest first.
pub async fn checkpoint_dirs(
    storage: &Storage,
    root: &str,
    job_id: &str,
) -> Result<Vec<CheckpointDir>, StorageError> {
    let job_dir = join(root, job_id);
    let mut dirs: std::collections::BTreeMap<u64, bool> = std::collections::BTreeMap::new();
    for object in storage.list(&job_dir).await? {
        let Some(rest) = object.strip_prefix(&job_dir) else {
            continue;
        };
        let Some((dir, file)) = rest.trim_start_matches('/').split_once('/') else {
            continue;
        };
        if let Some(id) = dir.strip_prefix("chk-").and_then(|n| n.parse::<u64>().ok()) {
            *dirs.entry(id).or_default() |= file == METADATA_FILE;
        }
    }
    Ok(dirs
        .into_iter()
        .map(|(id, complete)| CheckpointDir {
            id,
            location: checkpoint_location(root, job_id, id),
            complete,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checkpoint_dirs_tell_complete_from_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new();
        let root = location_of(dir.path().to_str().unwrap(), std::path::Path::new("/")).unwrap();
        for (id, complete) in [(3, true), (4, false), (12, true)] {
            let chk = checkpoint_location(&root, "job", id);
            storage
                .put(&join(&chk, &task_file(0, 0)), b"s".to_vec())
                .await
                .unwrap();
            if complete {
                storage
                    .put(&join(&chk, METADATA_FILE), b"{}".to_vec())
                    .await
                    .unwrap();
            }
        }
        let found = checkpoint_dirs(&storage, &root, "job").await.unwrap();
        let seen: Vec<(u64, bool)> = found.iter().map(|d| (d.id, d.complete)).collect();
        assert_eq!(seen, vec![(3, true), (4, false), (12, true)]);
        assert_eq!(found[2].location, checkpoint_location(&root, "job", 12));
        assert!(checkpoint_dirs(&storage, &root, "other")
            .await
            .unwrap()
            .is_empty());
    }
}
