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

pub use metadata::{CheckpointMetadata, TaskStateHandle, VertexShape, METADATA_FORMAT};
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
