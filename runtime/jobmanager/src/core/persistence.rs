//! The JobManager's storage work, done off its lock in one queue, in
//! order: checkpoint metadata, deletions, and the job store's records and
//! modules; and what the core does when each is done.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Core, JobState, StorageWork, SubmitError, ENDED_JOBS_KEPT};
use crate::checkpoints::MetadataWriteError;
use crate::job_store::JobStoreError;

impl Core {
    /// Waits until the job's record is durable in the job store (at once
    /// without one); a job that could not be stored is forgotten, and the
    /// error says why.
    pub async fn durable(&self, job_id: &str) -> Result<(), SubmitError> {
        loop {
            let changed = self.changed.notified();
            {
                let state = self.lock();
                match state.jobs.get(job_id) {
                    Some(job) if job.durable => return Ok(()),
                    Some(_) => {}
                    None => {
                        let why = state
                            .unstored
                            .get(job_id)
                            .cloned()
                            .unwrap_or_else(|| "it was forgotten".into());
                        return Err(SubmitError::Storage {
                            location: self.job_store.location().unwrap_or_default().into(),
                            why,
                        });
                    }
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), changed).await;
        }
    }

    /// The job store has (or could not take) a new job's record.
    pub(crate) fn job_persisted(&self, job_id: &str, stored: Result<(), JobStoreError>) {
        let mut state = self.lock();
        match stored {
            Ok(()) => {
                let Some(job) = state.jobs.get_mut(job_id) else {
                    return;
                };
                job.durable = true;
                if job.state == JobState::Created {
                    job.status_message.clear();
                }
                let digests = job.uploaded_modules();
                for digest in digests {
                    if let Some(module) = state.modules.get_mut(&digest) {
                        module.persisted = true;
                    }
                }
                self.schedule(&mut state);
            }
            Err(why) => {
                tracing::warn!(job = %job_id, "cannot store the job: {why}");
                state.jobs.remove(job_id);
                state.order.retain(|id| id != job_id);
                if state.unstored.len() >= ENDED_JOBS_KEPT {
                    state.unstored.clear();
                }
                // Kept as text: `durable` reports it to the submitter, once
                // or more, and the error itself is not `Clone`.
                state.unstored.insert(job_id.to_string(), why.to_string());
            }
        }
        drop(state);
        self.changed();
    }

    /// The job store records attempts up to `reserved` of the job (or
    /// could not).
    pub(crate) fn attempts_reserved(&self, job_id: &str, reserved: Result<u32, JobStoreError>) {
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(job_id) else {
            return;
        };
        job.reserving = false;
        match reserved {
            Ok(attempts) => job.attempts_reserved = job.attempts_reserved.max(attempts),
            Err(why) => {
                // Retried by the next tick's scheduling.
                tracing::warn!(job = %job_id, "cannot record the next attempt in the job store: {why}");
                job.status_message = format!("cannot record the next attempt: {why}");
            }
        }
        self.schedule(&mut state);
        drop(state);
        self.changed();
    }
}

/// Does the JobManager's storage work, one item at a time, in order; the
/// first caller runs it, later ones return at once.
pub async fn run_storage_work(core: Arc<Core>) {
    if let Some(queue) = core.take_storage_queue() {
        storage_worker(core, queue).await;
    }
}

async fn storage_worker(core: Arc<Core>, mut queue: mpsc::UnboundedReceiver<StorageWork>) {
    let storage = weir_checkpoint::Storage::new();
    while let Some(work) = queue.recv().await {
        match work {
            StorageWork::Finalize {
                job_id,
                id,
                location,
                metadata,
            } => {
                let written = match serde_json::to_vec_pretty(&*metadata) {
                    Ok(bytes) => storage
                        .put(
                            &weir_checkpoint::join(&location, weir_checkpoint::METADATA_FILE),
                            bytes,
                        )
                        .await
                        .map_err(MetadataWriteError::from),
                    Err(e) => Err(MetadataWriteError::from(e)),
                };
                // Complete in storage, not yet told to the sinks.
                weir_types::fault::point("jm.checkpoint.complete");
                core.checkpoint_finalized(&job_id, id, *metadata, written);
            }
            StorageWork::Delete { location } => {
                if let Err(e) = storage.delete_all(&location).await {
                    tracing::warn!("cannot delete checkpoint {location}: {e}");
                }
            }
            StorageWork::PersistJob { record, modules } => {
                let store = &core.job_store;
                let mut stored = Ok(());
                for (digest, bytes) in modules {
                    stored = store.put_module(&digest, bytes.to_vec()).await;
                    if stored.is_err() {
                        break;
                    }
                }
                if stored.is_ok() {
                    stored = store.save(&record).await;
                }
                core.job_persisted(&record.job_id, stored);
            }
            StorageWork::ReserveAttempts { record } => {
                let saved = core.job_store.save(&record).await;
                weir_types::fault::point("jm.attempt.reserved");
                core.attempts_reserved(&record.job_id, saved.map(|()| record.attempts_reserved));
            }
            StorageWork::ForgetJob { job_id } => {
                if let Err(e) = core.job_store.delete(&job_id).await {
                    tracing::warn!(job = %job_id, "cannot delete the job's record: {e}");
                }
            }
            StorageWork::ForgetModule { digest } => {
                if let Err(e) = core.job_store.delete_module(&digest).await {
                    tracing::warn!("cannot delete module {digest} from the job store: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::job_store::JobStore;

    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_job_is_stored_resumed_above_its_attempts_and_forgotten_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            weir_checkpoint::location_of(dir.path().to_str().unwrap(), std::path::Path::new("/"))
                .unwrap();
        let jobmanager = |storage: &str| {
            Arc::new(
                Core::new(
                    Duration::from_secs(1),
                    Duration::from_secs(5),
                    storage.into(),
                )
                .with_job_store(JobStore::new(storage, "default")),
            )
        };
        let core = jobmanager(&storage);
        tokio::spawn(run_storage_work(core.clone()));
        let digest = core.put_module("", b"\0asm module".to_vec()).unwrap();
        let spec = format!(
            "name: j\nsource: {{type: generator}}\noperators:\n  - {{name: m, module: m.wasm, sha256: \"{digest}\"}}\nsink: {{type: blackhole}}\n"
        );
        let id = core.submit(&spec, None).unwrap();
        core.durable(&id).await.unwrap();
        let record = dir.path().join(format!("ha/default/jobs/{id}.json"));
        let module = dir
            .path()
            .join(format!("ha/default/modules/{}.wasm", digest.hex()));
        assert!(record.is_file() && module.is_file());

        // Another JobManager on the same storage takes the job over, with
        // its module, at an attempt no earlier one can have deployed.
        let successor = jobmanager(&storage);
        tokio::spawn(run_storage_work(successor.clone()));
        let recovery = successor.recover().await.unwrap();
        assert_eq!(recovery.resumed, 1, "{recovery:?}");
        let resumed = successor.job(&id).unwrap();
        assert_eq!(resumed.job_state(), Some(weir_types::JobState::Created));
        assert!(resumed.attempt >= 1, "{resumed:?}");
        assert!(successor.module(&digest).is_some());

        // The job ends: its record goes, and its module once no job needs it.
        successor.cancel(&id);
        eventually("the record is deleted", || !record.exists()).await;
        {
            let long_ago = Instant::now()
                .checked_sub(super::super::MODULE_GRACE * 2)
                .expect("the clock reaches back");
            let mut state = successor.lock();
            for module in state.modules.values_mut() {
                module.stored = long_ago;
            }
        }
        successor.tick();
        eventually("the module is deleted", || !module.exists()).await;
    }
}
