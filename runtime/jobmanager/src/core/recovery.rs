//! Taking over the jobs of an earlier JobManager: every record in the job
//! store becomes a job again, with its modules, its completed checkpoints
//! (found in its checkpoint storage) and an attempt number above any the
//! earlier JobManager may have deployed.

use std::time::Instant;

use weir_types::{Digest, JobGraph, JobSpec, LockedJob};

use super::{Core, Job, JobState, StorageWork, StoredModule};
use crate::checkpoints::{completed_summary, Checkpoints, Completed};
use crate::job_store::{JobRecord, JobStoreError};

/// What a recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Jobs resumed.
    pub resumed: usize,
    /// Jobs whose record was read but that cannot run (shown FAILED, with
    /// the reason; their record stays for someone to look at).
    pub failed: usize,
    /// Records that could not be read at all (left in place).
    pub unreadable: usize,
}

/// A job rebuilt from its record, and the modules it needs.
struct Recovered {
    job: Job,
    modules: Vec<(Digest, Vec<u8>)>,
}

impl Core {
    /// Takes over every job in the job store. Run before the JobManager
    /// serves, on start or when it becomes the leader.
    pub async fn recover(&self) -> Result<Recovery, JobStoreError> {
        let mut report = Recovery::default();
        let mut recovered = Vec::new();
        for record in self.job_store.records().await? {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!("cannot recover a job: {e}; its record is left in place");
                    report.unreadable += 1;
                    continue;
                }
            };
            let job_id = record.job_id.clone();
            match self.rebuild(record).await {
                Ok(job) => {
                    tracing::info!(
                        job = %job_id,
                        attempt = job.job.attempt,
                        restore = job.job.checkpoints.restore_point().map(|c| c.location.as_str()),
                        "job recovered from the job store"
                    );
                    report.resumed += 1;
                    recovered.push(job);
                }
                Err(job) => {
                    tracing::error!(job = %job_id, "cannot resume the job: {}", job.status_message);
                    report.failed += 1;
                    recovered.push(Recovered {
                        job: *job,
                        modules: Vec::new(),
                    });
                }
            }
        }
        recovered.sort_by_key(|r| r.job.submitted_ms);
        let mut state = self.lock();
        for Recovered { job, modules } in recovered {
            for (digest, bytes) in modules {
                state.modules.insert(
                    digest,
                    StoredModule {
                        bytes: std::sync::Arc::new(bytes),
                        stored: Instant::now(),
                        persisted: true,
                    },
                );
            }
            state.order.push(job.id.clone());
            state.jobs.insert(job.id.clone(), job);
        }
        self.schedule(&mut state);
        drop(state);
        self.changed();
        Ok(report)
    }

    /// The job of `record`, ready to be scheduled; or, when it cannot run,
    /// the job FAILED with the reason.
    async fn rebuild(&self, record: JobRecord) -> Result<Recovered, Box<Job>> {
        let spec = match serde_json::from_value::<LockedJob>(record.job.clone()) {
            Ok(spec) => spec,
            Err(e) => return Err(Box::new(self.unrecoverable(&record, None, e.to_string()))),
        };
        let failed = |core: &Core, spec: &LockedJob, why: String| {
            Box::new(core.unrecoverable(&record, Some(spec.clone()), why))
        };
        let root = self
            .checkpoint_root(&spec)
            .map_err(|e| failed(self, &spec, e.to_string()))?;
        let graph = JobGraph::of(&spec);

        let mut modules = Vec::new();
        for pinned in spec.modules() {
            let digest = pinned.digest;
            if pinned.remote || modules.iter().any(|(d, _)| *d == digest) {
                continue;
            }
            let bytes = self.job_store.module(&digest).await.map_err(|e| {
                failed(
                    self,
                    &spec,
                    format!(
                        "operator '{}': its module is not in the job store: {e}",
                        pinned.operator.name
                    ),
                )
            })?;
            modules.push((digest, bytes));
        }

        let storage = weir_checkpoint::Storage::new();
        let mut checkpoints = Checkpoints {
            storage: spec.checkpointing.as_ref().map(|_| root.clone()),
            savepoint_dir: weir_checkpoint::join(&root, "savepoints"),
            next_id: 1,
            ..Checkpoints::default()
        };
        if let Some(location) = &record.initial_savepoint {
            let initial = crate::grpc::read_restore_point(location)
                .await
                .map_err(|e| failed(self, &spec, e.to_string()))?;
            checkpoints.next_id = initial.metadata.checkpoint_id + 1;
            checkpoints.initial = Some(initial);
        }
        if checkpoints.storage.is_some() {
            let dirs = weir_checkpoint::checkpoint_dirs(&storage, &root, &record.job_id)
                .await
                .map_err(|e| failed(self, &spec, format!("cannot list its checkpoints: {e}")))?;
            for dir in dirs {
                checkpoints.next_id = checkpoints.next_id.max(dir.id + 1);
                if !dir.complete {
                    // What a checkpoint under way at the crash left.
                    self.queue_storage(StorageWork::Delete {
                        location: dir.location,
                    });
                    continue;
                }
                match crate::grpc::read_restore_point(&dir.location).await {
                    Ok(completed) => {
                        checkpoints.record(completed_summary(
                            &completed,
                            0,
                            completed.metadata.timestamp_ms,
                        ));
                        checkpoints.completed.push_back(completed);
                    }
                    Err(e) => tracing::warn!(
                        job = %record.job_id,
                        "checkpoint {} is not restorable and is skipped: {e}",
                        dir.id
                    ),
                }
            }
        }
        let mut job = self.new_job(record.job_id.clone(), spec, graph, checkpoints, true);
        job.submitted_ms = record.submitted_ms;
        job.attempts_reserved = record.attempts_reserved;
        // Above every attempt the earlier JobManager may have deployed.
        job.attempt = record.attempts_reserved.saturating_add(1);
        job.status_message = recovered_message(job.checkpoints.restore_point());
        Ok(Recovered { job, modules })
    }

    /// A job whose record was read but that cannot run: FAILED with `why`.
    /// Its record stays in the store (nothing of it is deleted), so that it
    /// can run again once what it needs is back.
    fn unrecoverable(&self, record: &JobRecord, spec: Option<LockedJob>, why: String) -> Job {
        let spec = spec.unwrap_or_else(|| placeholder_spec(&record.job_id));
        let graph = JobGraph::of(&spec);
        let mut job = self.new_job(
            record.job_id.clone(),
            spec,
            graph,
            Checkpoints::default(),
            true,
        );
        job.submitted_ms = record.submitted_ms;
        job.state = JobState::Failed;
        job.end_ms = super::now_ms();
        job.status_message = format!("cannot resume the job after a JobManager change: {why}");
        job
    }
}

fn recovered_message(restore: Option<&Completed>) -> String {
    match restore {
        Some(c) => format!(
            "recovered by this JobManager; resumes from checkpoint {} at {}",
            c.metadata.checkpoint_id, c.location
        ),
        None => "recovered by this JobManager; starts from the beginning (no checkpoint)".into(),
    }
}

/// A spec standing in for one that no longer parses, so the job can be
/// listed with its failure.
fn placeholder_spec(job_id: &str) -> LockedJob {
    let spec = JobSpec {
        name: format!("unreadable job {job_id}"),
        parallelism: 1,
        max_parallelism: weir_types::DEFAULT_MAX_PARALLELISM,
        batch_size: weir_types::DEFAULT_BATCH_SIZE,
        resources: Default::default(),
        source: weir_types::SourceSpec::Generator(weir_types::GeneratorSource {
            count: Some(0),
            rate: None,
            keys: 1,
        }),
        operators: Vec::new(),
        sink: weir_types::SinkSpec::Blackhole(Default::default()),
        restart: None,
        checkpointing: None,
        event_time: None,
    };
    // A generator into a blackhole, named: valid whatever the id says.
    LockedJob::lock(spec).expect("the placeholder job spec is valid")
}
