//! Side outputs: records an operator of the chain sets aside beside its
//! output (a window's late records). The task, not the operator, writes
//! them to the file the job names and takes them through checkpoints as it
//! does its sink (snapshot at the barrier, commit when the checkpoint
//! completes, restore on a restart), so they are exactly-once the same way.

use std::path::{Path, PathBuf};
use std::time::Instant;

use weir_types::{BuiltinConfig, OperatorSpec, DEFAULT_FLUSH_INTERVAL};

use super::build::checked_path;
use super::TaskSetup;
use crate::checkpoint::RestoreError;
use crate::job::JobError;
use crate::operator::SideRecords;
use crate::sink::{FileSink, Sink, SinkError};

/// One side output of one operator of the chain.
struct SideOutput {
    /// The operator's index in the job spec.
    index: usize,
    operator: String,
    tag: &'static str,
    sink: Box<dyn Sink>,
}

impl SideOutput {
    fn failed(&self, source: SinkError) -> JobError {
        JobError::SideOutput {
            index: self.index,
            operator: self.operator.clone(),
            tag: self.tag,
            source,
        }
    }
}

/// The side outputs of a task's chain.
#[derive(Default)]
pub(super) struct SideOutputs(Vec<SideOutput>);

/// A side output's part of a task snapshot: (operator index, tag, the
/// sink's snapshot).
pub(super) type SideOutputSnapshot = (u32, String, Vec<u8>);

impl SideOutputs {
    /// Opens a file sink for each side output built-in operator `index`
    /// (`op`, its configuration `config`) has a destination for. Subtask
    /// `subtask` of `parallelism` above 1 writes a file of its own beside
    /// the named one: `late-0.jsonl`, `late-1.jsonl`, ...
    pub(super) fn add(
        &mut self,
        setup: &TaskSetup<'_>,
        parallelism: u32,
        index: usize,
        op: &OperatorSpec,
        config: &BuiltinConfig,
    ) -> Result<(), JobError> {
        for output in config.side_outputs() {
            let field = format!("operators[{index}].config.{}", output.field);
            let path = checked_path(setup.paths, &field, setup.base_dir, &output.path)?;
            let path = match parallelism {
                0 | 1 => path,
                _ => path_of_subtask(&path, setup.subtask),
            };
            self.0.push(SideOutput {
                index,
                operator: op.name.clone(),
                tag: output.tag,
                sink: Box::new(FileSink::new(
                    &path,
                    output.format,
                    setup.spec.checkpointing.is_some(),
                    setup.attempt,
                    DEFAULT_FLUSH_INTERVAL,
                )),
            });
        }
        Ok(())
    }

    /// The tags operator `index` has side outputs for.
    pub(super) fn tags_of(&self, index: usize) -> Vec<&'static str> {
        self.0
            .iter()
            .filter(|output| output.index == index)
            .map(|output| output.tag)
            .collect()
    }

    /// Writes what operator `index` set aside.
    pub(super) fn write(
        &mut self,
        index: usize,
        records: Vec<SideRecords>,
    ) -> Result<(), JobError> {
        for SideRecords { tag, batch } in records {
            let Some(output) = self
                .0
                .iter_mut()
                .find(|output| output.index == index && output.tag == tag)
            else {
                return Err(JobError::Internal(format!(
                    "operators[{index}] set records aside for side output {tag}, which it was not given"
                )));
            };
            if let Err(e) = output.sink.write(&batch) {
                return Err(output.failed(e));
            }
        }
        Ok(())
    }

    pub(super) fn flush_if_due(&mut self, now: Instant) -> Result<(), JobError> {
        self.each(|sink| sink.flush_if_due(now))
    }

    /// Each side output's snapshot for checkpoint `id`.
    pub(super) fn snapshot(&mut self, id: u64) -> Result<Vec<SideOutputSnapshot>, JobError> {
        let mut snapshots = Vec::new();
        for output in &mut self.0 {
            match output.sink.snapshot(id) {
                Ok(Some(bytes)) => {
                    snapshots.push((output.index as u32, output.tag.to_string(), bytes))
                }
                Ok(None) => {}
                Err(e) => return Err(output.failed(e)),
            }
        }
        Ok(snapshots)
    }

    /// Starts each side output from its snapshot. `failed` names the task
    /// and the part in the error; a snapshot of a side output the task does
    /// not write is a checkpoint of another job.
    pub(super) fn restore(
        &mut self,
        snapshots: &[SideOutputSnapshot],
        failed: impl Fn(&str, RestoreError) -> JobError,
    ) -> Result<(), JobError> {
        for (index, tag, bytes) in snapshots {
            let part = format!("side output {tag} of operators[{index}]");
            let Some(output) = self
                .0
                .iter_mut()
                .find(|output| output.index == *index as usize && output.tag == tag)
            else {
                return Err(failed(
                    &part,
                    RestoreError::Conflict("the task does not write it".into()),
                ));
            };
            output.sink.restore(bytes).map_err(|e| failed(&part, e))?;
        }
        Ok(())
    }

    /// Checkpoint `id` is complete: what it covers becomes visible.
    pub(super) fn commit(&mut self, id: u64) -> Result<(), JobError> {
        self.each(|sink| sink.commit(id))
    }

    /// The input ended: flush and close every side output.
    pub(super) fn finish(&mut self) -> Result<(), JobError> {
        self.each(|sink| sink.finish())
    }

    fn each(
        &mut self,
        mut call: impl FnMut(&mut dyn Sink) -> Result<(), SinkError>,
    ) -> Result<(), JobError> {
        for output in &mut self.0 {
            if let Err(e) = call(output.sink.as_mut()) {
                return Err(output.failed(e));
            }
        }
        Ok(())
    }
}

/// `path` with the subtask's index before its extension.
fn path_of_subtask(path: &Path, subtask: u32) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = match (stem, path.extension()) {
        (Some(stem), Some(ext)) => format!("{stem}-{subtask}.{}", ext.to_string_lossy()),
        (Some(stem), None) => format!("{stem}-{subtask}"),
        _ => format!("late-{subtask}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subtask_writes_beside_the_named_file() {
        assert_eq!(
            path_of_subtask(Path::new("/out/late.jsonl"), 1),
            Path::new("/out/late-1.jsonl")
        );
        assert_eq!(
            path_of_subtask(Path::new("/out/late"), 0),
            Path::new("/out/late-0")
        );
    }

    #[test]
    fn a_checkpoint_with_a_side_output_the_task_does_not_write_is_refused() {
        let snapshots = vec![(1, "late-records".to_string(), vec![0])];
        let err = SideOutputs::default()
            .restore(&snapshots, |part, e| {
                JobError::RestoreConflict(format!("{part}: {e}"))
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("side output late-records of operators[1]: the task does not write it"),
            "{err}"
        );
    }
}
