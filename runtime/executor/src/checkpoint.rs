//! A task's part in checkpoints: barriers, the control messages a
//! TaskManager passes on, and the snapshot of a whole task.
//!
//! A source task takes its snapshot when the JobManager triggers a
//! checkpoint, between two batches, and sends a barrier after it. Any other
//! task takes its snapshot once the barrier has come from every producer
//! (alignment: a producer's records after its barrier wait until then). The
//! snapshot is taken on the task's thread (a copy of the state); storing it
//! is the TaskManager's, off that thread.

use std::sync::mpsc;
use std::sync::Arc;

use weir_state::codec::{put_bytes, put_i64, put_u32, put_u8, Reader};
use weir_state::StateError;

/// Why a source or sink cannot start from its part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Reading or writing failed; a later attempt may succeed.
    #[error("{0}")]
    Io(String),
    /// What the checkpoint recorded no longer matches what exists (an
    /// output truncated, staged output deleted, an input file changed, a
    /// snapshot damaged): restarting from it would meet the same mismatch.
    #[error("{0}")]
    Conflict(String),
}

/// Marks the point in a stream that checkpoint `id` covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barrier {
    pub id: u64,
    /// Where the checkpoint's snapshots go.
    pub location: Arc<str>,
    pub timestamp_ms: i64,
}

/// What the TaskManager tells a running task about checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Source tasks: take a snapshot and send the barrier.
    Trigger(Barrier),
    /// Checkpoint `id` is complete: sinks commit what it covers.
    Complete(u64),
}

/// Stores a task's snapshot and tells the JobManager, without blocking the
/// task (the TaskManager writes it on its runtime).
pub trait SnapshotStore: Send {
    fn store(&self, barrier: &Barrier, snapshot: Vec<u8>);
    /// The task cannot take part in checkpoint `id` (a source that already
    /// ended, a snapshot that failed).
    fn decline(&self, id: u64, why: String);
}

/// What a task needs to take part in checkpoints.
pub struct TaskCheckpoints {
    pub control: mpsc::Receiver<Control>,
    pub store: Box<dyn SnapshotStore>,
    /// The snapshot to start from, already fetched and verified.
    pub restore: Option<Vec<u8>>,
}

/// Version 2 adds the side outputs; version 1 snapshots (without any) are
/// still read.
const TASK_SNAPSHOT_MAGIC: &[u8; 8] = b"WEIRTS02";
const TASK_SNAPSHOT_MAGIC_V1: &[u8; 8] = b"WEIRTS01";

/// One task's snapshot: its source position, each operator's state, its
/// sink's and its side outputs' pending output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSnapshot {
    pub source: Option<Vec<u8>>,
    /// (operator index, operator name, state).
    pub operators: Vec<(u32, String, Vec<u8>)>,
    pub sink: Option<Vec<u8>>,
    /// The source's watermark generator: the largest event time read.
    pub max_event_time: Option<i64>,
    /// (operator index, side output tag, the side output sink's snapshot).
    pub side_outputs: Vec<(u32, String, Vec<u8>)>,
}

impl TaskSnapshot {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(TASK_SNAPSHOT_MAGIC);
        let optional = |out: &mut Vec<u8>, part: &Option<Vec<u8>>| match part {
            Some(bytes) => {
                put_u8(out, 1);
                put_bytes(out, bytes);
            }
            None => put_u8(out, 0),
        };
        optional(&mut out, &self.source);
        optional(&mut out, &self.sink);
        match self.max_event_time {
            Some(t) => {
                put_u8(&mut out, 1);
                put_i64(&mut out, t);
            }
            None => put_u8(&mut out, 0),
        }
        put_u32(&mut out, self.operators.len() as u32);
        for (index, name, state) in &self.operators {
            put_u32(&mut out, *index);
            put_bytes(&mut out, name.as_bytes());
            put_bytes(&mut out, state);
        }
        put_u32(&mut out, self.side_outputs.len() as u32);
        for (index, tag, state) in &self.side_outputs {
            put_u32(&mut out, *index);
            put_bytes(&mut out, tag.as_bytes());
            put_bytes(&mut out, state);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<TaskSnapshot, StateError> {
        let mut r = Reader::new(bytes);
        let version = match r.take(TASK_SNAPSHOT_MAGIC.len())? {
            magic if magic == TASK_SNAPSHOT_MAGIC => 2,
            magic if magic == TASK_SNAPSHOT_MAGIC_V1 => 1,
            _ => return Err(StateError::Corrupt(
                "it does not start with WEIRTS02 or WEIRTS01 (not a task snapshot of this version)"
                    .into(),
            )),
        };
        let optional = |r: &mut Reader<'_>| -> Result<Option<Vec<u8>>, StateError> {
            Ok(match r.u8()? {
                0 => None,
                _ => Some(r.bytes()?),
            })
        };
        let source = optional(&mut r)?;
        let sink = optional(&mut r)?;
        let max_event_time = match r.u8()? {
            0 => None,
            _ => Some(r.i64()?),
        };
        let mut operators = Vec::new();
        for _ in 0..r.u32()? {
            let index = r.u32()?;
            let name = r.string()?;
            operators.push((index, name, r.bytes()?));
        }
        let mut side_outputs = Vec::new();
        if version >= 2 {
            for _ in 0..r.u32()? {
                let index = r.u32()?;
                let tag = r.string()?;
                side_outputs.push((index, tag, r.bytes()?));
            }
        }
        r.finish()?;
        Ok(TaskSnapshot {
            source,
            operators,
            sink,
            max_event_time,
            side_outputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_snapshots_round_trip_and_damage_is_an_error() {
        let snapshot = TaskSnapshot {
            source: Some(vec![1, 2, 3]),
            operators: vec![(0, "count".into(), vec![9; 5]), (2, "w".into(), vec![])],
            sink: None,
            max_event_time: Some(-4),
            side_outputs: vec![(2, "late-records".into(), vec![7; 3])],
        };
        let bytes = snapshot.encode();
        assert_eq!(TaskSnapshot::decode(&bytes).unwrap(), snapshot);
        let err = TaskSnapshot::decode(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        let err = TaskSnapshot::decode(b"WEIRKS01").unwrap_err();
        assert!(err.to_string().contains("WEIRTS01"), "{err}");
    }

    #[test]
    fn snapshots_of_the_first_version_are_read_without_side_outputs() {
        let snapshot = TaskSnapshot {
            source: Some(vec![1]),
            operators: vec![(0, "count".into(), vec![9; 2])],
            sink: Some(vec![4]),
            max_event_time: None,
            side_outputs: Vec::new(),
        };
        let mut bytes = snapshot.encode();
        // Version 1: its magic, and no side-output count at the end.
        bytes[..8].copy_from_slice(TASK_SNAPSHOT_MAGIC_V1);
        bytes.truncate(bytes.len() - 4);
        assert_eq!(TaskSnapshot::decode(&bytes).unwrap(), snapshot);
    }
}
