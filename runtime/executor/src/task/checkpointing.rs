//! A task's part in checkpoints: restoring from its snapshot, taking one
//! when a barrier has come from every producer, and committing what
//! completed checkpoints cover.

use std::collections::BTreeSet;

use super::{send_error, Input, Task};
use crate::checkpoint::{Barrier, Control, TaskSnapshot};
use crate::job::JobError;
use crate::sink::RestoreError;

impl Task {
    /// Starts the opened task from its snapshot in a checkpoint.
    pub(super) fn restore(&mut self, bytes: &[u8]) -> Result<(), JobError> {
        // The checkpoint is of another job graph: no restart changes that.
        let restore_error =
            |message: String| JobError::RestoreConflict(format!("task {}: {message}", self.name));
        // The bytes passed their digest check: a snapshot that does not
        // decode was written by another version, and stays so.
        let snapshot = TaskSnapshot::decode(bytes)
            .map_err(|e| JobError::RestoreConflict(format!("task {}: {e}", self.name)))?;
        match (&mut self.input, &snapshot.source) {
            (Input::Source(source), Some(position)) => {
                let restored = source.restore(position);
                restored.map_err(|e| restore_failed(&self.name, "source", e))?
            }
            (Input::Source(_), None) => {
                return Err(restore_error(
                    "the checkpoint has no source position for it".into(),
                ))
            }
            _ => {}
        }
        if let Some(generator) = self.watermarks.as_mut() {
            generator.restore(snapshot.max_event_time);
        }
        if snapshot.operators.len() != self.chain.len() {
            return Err(restore_error(format!(
                "the checkpoint has state of {} operators where the task runs {}",
                snapshot.operators.len(),
                self.chain.len()
            )));
        }
        for (link, (index, name, state)) in self.chain.iter_mut().zip(&snapshot.operators) {
            if link.index != *index as usize || link.operator.name() != name {
                return Err(restore_error(format!(
                    "the checkpoint has the state of operator '{name}' where the task runs '{}'",
                    link.operator.name()
                )));
            }
            link.operator.restore_state(state)?;
        }
        if let Some(state) = &snapshot.sink {
            let restored = match self.downstream.sink() {
                Some(sink) => sink.restore(state),
                None => Ok(()),
            };
            restored.map_err(|e| restore_failed(&self.name, "sink", e))?;
        }
        let name = &self.name;
        self.side_outputs
            .restore(&snapshot.side_outputs, |part, e| {
                restore_failed(name, part, e)
            })
    }

    /// Takes the task's snapshot for `barrier`, hands it to be stored, and
    /// sends the barrier on.
    pub(super) fn checkpoint(&mut self, barrier: &Barrier) -> Result<(), JobError> {
        let mut snapshot = TaskSnapshot::default();
        if let Input::Source(source) = &self.input {
            snapshot.source = Some(source.position());
        }
        snapshot.max_event_time = self.watermarks.as_ref().and_then(|w| w.max_seen());
        for link in &mut self.chain {
            let state = link.operator.snapshot_state(barrier.id)?;
            snapshot
                .operators
                .push((link.index as u32, link.operator.name().to_string(), state));
        }
        if let Some(sink) = self.downstream.sink() {
            snapshot.sink = sink.snapshot(barrier.id).map_err(JobError::Sink)?;
        }
        snapshot.side_outputs = self.side_outputs.snapshot(barrier.id)?;
        self.alignment.last = barrier.id;
        weir_types::fault::point("task.snapshot");
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.store.store(barrier, snapshot.encode());
        }
        self.downstream.emit_barrier(barrier).map_err(send_error)
    }

    /// Handles what the TaskManager said about checkpoints since last time.
    pub(super) fn control(&mut self) -> Result<(), JobError> {
        loop {
            let Some(control) = self
                .checkpoints
                .as_ref()
                .and_then(|c| c.control.try_recv().ok())
            else {
                return Ok(());
            };
            match control {
                Control::Trigger(barrier) => {
                    let is_source = matches!(self.input, Input::Source(_));
                    if is_source && self.opened && barrier.id > self.alignment.last {
                        self.checkpoint(&barrier)?;
                    } else if let Some(checkpoints) = &self.checkpoints {
                        checkpoints
                            .store
                            .decline(barrier.id, format!("task {} is not ready", self.name));
                    }
                }
                Control::Complete(id) => {
                    if let Some(sink) = self.downstream.sink() {
                        sink.commit(id).map_err(JobError::Sink)?;
                    }
                    self.side_outputs.commit(id)?;
                }
            }
        }
    }

    /// A barrier came from `producer`: aligns, and checkpoints once every
    /// producer's barrier is in.
    pub(super) fn on_barrier(
        &mut self,
        producer: u32,
        barrier: Barrier,
        producers: usize,
    ) -> Result<(), JobError> {
        if barrier.id <= self.alignment.last {
            return Ok(());
        }
        match &mut self.alignment.current {
            Some((current, arrived)) if current.id == barrier.id => {
                arrived.insert(producer);
            }
            Some((current, _)) if current.id > barrier.id => return Ok(()),
            _ => {
                // A newer checkpoint overtook one this producer never sent
                // a barrier for: the older one cannot complete here.
                if let Some(abandoned) = self.alignment.release() {
                    if let Some(checkpoints) = &self.checkpoints {
                        checkpoints.store.decline(
                            abandoned.id,
                            format!(
                                "task {} saw checkpoint {} overtake it",
                                self.name, barrier.id
                            ),
                        );
                    }
                }
                self.alignment.current = Some((barrier, BTreeSet::from([producer])));
            }
        }
        self.finish_alignment(producers)
    }

    pub(super) fn finish_alignment(&mut self, producers: usize) -> Result<(), JobError> {
        if !self.alignment.complete(producers) {
            return Ok(());
        }
        if let Some(barrier) = self.alignment.release() {
            self.checkpoint(&barrier)?;
        }
        Ok(())
    }

    /// Commits what completed checkpoints cover before the task goes away.
    pub(super) fn commit_completed(&mut self) {
        let Some(checkpoints) = &self.checkpoints else {
            return;
        };
        let completed: Vec<u64> = checkpoints
            .control
            .try_iter()
            .filter_map(|c| match c {
                Control::Complete(id) => Some(id),
                Control::Trigger(_) => None,
            })
            .collect();
        let Some(id) = completed.into_iter().max() else {
            return;
        };
        if let Some(sink) = self.downstream.sink() {
            if let Err(e) = sink.commit(id) {
                tracing::warn!(task = %self.name, "cannot commit checkpoint {id}: {e}");
            }
        }
        if let Err(e) = self.side_outputs.commit(id) {
            tracing::warn!(task = %self.name, "cannot commit checkpoint {id}: {e}");
        }
    }
}

/// Why part `part` of task `task` cannot start from its snapshot.
fn restore_failed(task: &str, part: &str, error: RestoreError) -> JobError {
    let message = format!("task {task}: {part}: {error}");
    match error {
        RestoreError::Io(_) => JobError::Restore(message),
        RestoreError::Conflict(_) => JobError::RestoreConflict(message),
    }
}
