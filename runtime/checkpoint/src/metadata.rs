//! What a completed checkpoint or savepoint holds, as written to `_metadata`.

use serde::{Deserialize, Serialize};

/// The version of the metadata format; restores refuse any other.
pub const METADATA_FORMAT: &str = "weir-checkpoint/1";

/// Why a `_metadata` file cannot be restored from. `location` is the
/// checkpoint's directory, as the caller named it.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{location}/_metadata is not checkpoint metadata: {source}")]
    NotMetadata {
        location: String,
        source: serde_json::Error,
    },
    #[error("{location}/_metadata has format '{format}'; this Weir reads '{METADATA_FORMAT}'")]
    UnknownFormat { location: String, format: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMetadata {
    pub format: String,
    pub job_id: String,
    pub job_name: String,
    pub checkpoint_id: u64,
    pub savepoint: bool,
    /// When the checkpoint was triggered, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The job graph the snapshots belong to: a restore needs the same one.
    pub vertices: Vec<VertexShape>,
    pub tasks: Vec<TaskStateHandle>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VertexShape {
    pub name: String,
    pub parallelism: u32,
}

/// One task's snapshot: where it is and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateHandle {
    pub vertex: u32,
    pub subtask: u32,
    /// Relative to the checkpoint's directory.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

impl CheckpointMetadata {
    /// Total bytes of the task snapshots.
    pub fn state_bytes(&self) -> u64 {
        self.tasks.iter().map(|t| t.bytes).sum()
    }

    /// Parses `_metadata`; `location` only names it in errors.
    pub fn parse(bytes: &[u8], location: &str) -> Result<CheckpointMetadata, MetadataError> {
        let metadata: CheckpointMetadata =
            serde_json::from_slice(bytes).map_err(|source| MetadataError::NotMetadata {
                location: location.to_string(),
                source,
            })?;
        if metadata.format != METADATA_FORMAT {
            return Err(MetadataError::UnknownFormat {
                location: location.to_string(),
                format: metadata.format,
            });
        }
        Ok(metadata)
    }

    /// Why these snapshots cannot be restored into `vertices`, if they cannot.
    pub fn mismatch(&self, vertices: &[VertexShape]) -> Option<String> {
        if self.vertices == vertices {
            return None;
        }
        let shape = |v: &[VertexShape]| {
            v.iter()
                .map(|v| format!("{} x{}", v.name, v.parallelism))
                .collect::<Vec<_>>()
                .join(" -> ")
        };
        Some(format!(
            "it was taken of the job graph [{}], and this job's graph is [{}]; \
             the operators, their chaining and their parallelism must stay the same",
            shape(&self.vertices),
            shape(vertices)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> CheckpointMetadata {
        CheckpointMetadata {
            format: METADATA_FORMAT.into(),
            job_id: "j".into(),
            job_name: "n".into(),
            checkpoint_id: 3,
            savepoint: false,
            timestamp_ms: 1,
            vertices: vec![VertexShape {
                name: "count".into(),
                parallelism: 2,
            }],
            tasks: vec![TaskStateHandle {
                vertex: 0,
                subtask: 0,
                file: "task-0-0".into(),
                bytes: 10,
                sha256: "sha256:00".into(),
            }],
        }
    }

    #[test]
    fn round_trips_and_refuses_another_format() {
        let m = metadata();
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(CheckpointMetadata::parse(&bytes, "x").unwrap(), m);
        let mut other = m.clone();
        other.format = "weir-checkpoint/9".into();
        let err = CheckpointMetadata::parse(&serde_json::to_vec(&other).unwrap(), "loc")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("loc/_metadata") && err.contains("weir-checkpoint/9"),
            "{err}"
        );
        let err = CheckpointMetadata::parse(b"{", "loc")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not checkpoint metadata"), "{err}");
    }

    #[test]
    fn a_changed_graph_is_named() {
        let m = metadata();
        assert_eq!(m.mismatch(&m.vertices), None);
        let why = m
            .mismatch(&[VertexShape {
                name: "count".into(),
                parallelism: 3,
            }])
            .unwrap();
        assert!(
            why.contains("count x2") && why.contains("count x3"),
            "{why}"
        );
    }
}
