//! The TaskManager registry: registrations, heartbeats, lost TaskManagers,
//! slots, and what a resource manager needs to know.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use weir_proto::v1::job_manager_message::Message as ToTaskManager;
use weir_proto::v1::{JobCounters, RegisterTaskManager, TaskState};
use weir_types::{FailureKind, JobState};

use crate::exceptions::{Failure, FailureSource};

use super::*;

/// The JobManager's way to one registered TaskManager. The gRPC layer
/// gives the TaskManager's control stream; the rules never see a transport.
pub trait TaskManagerLink: Send + Sync {
    /// Queues `message` without waiting; `false` when it cannot be queued
    /// (the TaskManager is not keeping up, or gone).
    fn send(&self, message: ToTaskManager) -> bool;
}

pub(super) struct TaskManager {
    pub(super) registration: RegisterTaskManager,
    pub(super) link: Box<dyn TaskManagerLink>,
    pub(super) last_heartbeat: Instant,
    /// Tells a stale stream from the current one after a re-registration.
    pub(super) session: u64,
    /// Since when it has run no task; `None` while it runs some. Kept
    /// current by `schedule` and `tick`, so it may lag by one tick.
    pub(super) idle_since: Option<Instant>,
}

pub(super) fn send(tm: &TaskManager, message: ToTaskManager) {
    // The queue is deep; a TaskManager that cannot keep up with its control
    // messages is failing, and heartbeats will say so.
    if !tm.link.send(message) {
        tracing::warn!(
            tm = %tm.registration.task_manager_id,
            "cannot queue a message to the TaskManager"
        );
    }
}

#[derive(Debug, Clone)]
pub struct TaskManagerInfo {
    pub id: String,
    pub data_address: String,
    pub metrics_address: String,
    pub slots: u32,
    pub free_slots: u32,
    pub since_heartbeat: Duration,
    pub version: String,
}

/// What [`Core::resources`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Slots needed by the jobs that wait for slots.
    pub demanded_slots: u32,
    /// Slots no job holds.
    pub free_slots: u32,
    pub task_managers: Vec<RegisteredTaskManager>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTaskManager {
    pub id: String,
    /// The Kubernetes pod it runs in, if it said.
    pub pod_name: Option<String>,
    pub slots: u32,
    /// Since when it has run no task; `None` while it runs some.
    pub idle_since: Option<Instant>,
}

/// Starts or stops each TaskManager's idle clock by whether a job holds
/// one of its slots.
pub(super) fn refresh_idle(state: &mut State) {
    let used = used_slots(state);
    let now = Instant::now();
    for (id, tm) in state.task_managers.iter_mut() {
        if used.get(id).copied().unwrap_or(0) > 0 {
            tm.idle_since = None;
        } else if tm.idle_since.is_none() {
            tm.idle_since = Some(now);
        }
    }
}

pub(super) fn used_slots(state: &State) -> HashMap<String, u32> {
    let mut used: HashMap<String, u32> = HashMap::new();
    for job in state.jobs.values() {
        for tm in &job.placement {
            *used.entry(tm.clone()).or_default() += 1;
        }
    }
    used
}

/// Free slots, interleaved across TaskManagers so a job spreads out (as
/// Flink's `cluster.evenly-spread-out-slots`).
pub(super) fn free_slots(state: &State) -> Vec<String> {
    let used = used_slots(state);
    let mut per_tm: Vec<(String, u32)> = state
        .task_managers
        .iter()
        .map(|(id, tm)| {
            let free = tm
                .registration
                .slots
                .saturating_sub(used.get(id).copied().unwrap_or(0));
            (id.clone(), free)
        })
        .collect();
    let mut slots = Vec::new();
    loop {
        let mut any = false;
        for (id, free) in per_tm.iter_mut() {
            if *free > 0 {
                *free -= 1;
                slots.push(id.clone());
                any = true;
            }
        }
        if !any {
            return slots;
        }
    }
}

/// Whether `session` is the TaskManager's current registration (messages
/// of an earlier stream are stale).
pub(super) fn is_current_session(state: &State, tm_id: &str, session: u64) -> bool {
    state
        .task_managers
        .get(tm_id)
        .is_some_and(|tm| tm.session == session)
}

impl Core {
    /// Registers a TaskManager; returns its session number.
    pub fn register(
        &self,
        registration: RegisterTaskManager,
        link: impl TaskManagerLink + 'static,
    ) -> u64 {
        let mut state = self.lock();
        let id = registration.task_manager_id.clone();
        if state.task_managers.contains_key(&id) {
            self.lose(&mut state, &id, "it registered again");
        }
        state.sessions += 1;
        let session = state.sessions;
        tracing::info!(
            tm = %id,
            slots = registration.slots,
            data = %registration.data_address,
            "TaskManager registered"
        );
        state.task_managers.insert(
            id,
            TaskManager {
                registration,
                link: Box::new(link),
                last_heartbeat: Instant::now(),
                session,
                idle_since: Some(Instant::now()),
            },
        );
        self.schedule(&mut state);
        drop(state);
        self.changed();
        session
    }

    pub fn heartbeat(&self, tm_id: &str, session: u64, jobs: Vec<JobCounters>) {
        let mut state = self.lock();
        match state.task_managers.get_mut(tm_id) {
            Some(tm) if tm.session == session => tm.last_heartbeat = Instant::now(),
            _ => return,
        }
        for counters in jobs {
            if let Some(job) = state.jobs.get_mut(&counters.job_id) {
                if job.attempt == counters.attempt && job.deployed {
                    job.counters.insert(tm_id.to_string(), counters);
                }
            }
        }
    }

    /// The TaskManager's stream ended.
    pub fn disconnected(&self, tm_id: &str, session: u64, why: &str) {
        let mut state = self.lock();
        if is_current_session(&state, tm_id, session) {
            self.lose(&mut state, tm_id, why);
            self.schedule(&mut state);
            drop(state);
            self.changed();
        }
    }

    pub(super) fn lose(&self, state: &mut State, tm_id: &str, why: &str) {
        let Some(tm) = state.task_managers.remove(tm_id) else {
            return;
        };
        tracing::warn!(tm = %tm_id, "TaskManager lost: {why}");
        let failure = Failure {
            kind: FailureSource::TaskManagerLost,
            task_name: String::new(),
            task_manager_id: tm_id.to_string(),
            endpoint: tm.registration.data_address.clone(),
            message: format!(
                "TaskManager {tm_id} ({}) was lost: {why}",
                tm.registration.data_address
            ),
            failure_kind: FailureKind::Transient,
        };
        let jobs: Vec<String> = state
            .jobs
            .values()
            .filter(|job| job.placement.iter().any(|id| id == tm_id))
            .map(|job| job.id.clone())
            .collect();
        for job_id in jobs {
            if let Some(job) = state.jobs.get_mut(&job_id) {
                // Subtask i of every vertex runs in slot i.
                for ((_, subtask), task_state) in job.tasks.iter_mut() {
                    if job.placement.get(*subtask as usize).map(String::as_str) == Some(tm_id) {
                        *task_state = TaskState::Failed;
                    }
                }
            }
            self.fail(state, &job_id, failure.clone());
        }
    }

    /// What a resource manager needs to decide on TaskManagers: the slots
    /// that jobs waiting for slots need, the free ones, and who is idle.
    pub fn resources(&self) -> Resources {
        let mut state = self.lock();
        refresh_idle(&mut state);
        // A job waits for slots while it holds none and has not ended: just
        // submitted, or between a failure and its restart (whose slots are
        // then counted free, so the two cancel out).
        let demanded_slots = state
            .jobs
            .values()
            .filter(|job| {
                matches!(job.state, JobState::Created | JobState::Restarting)
                    && job.placement.is_empty()
            })
            .map(|job| job.graph.required_slots())
            .sum();
        let free_slots = free_slots(&state).len() as u32;
        let task_managers = state
            .task_managers
            .values()
            .map(|tm| RegisteredTaskManager {
                id: tm.registration.task_manager_id.clone(),
                pod_name: Some(tm.registration.pod_name.clone()).filter(|p| !p.is_empty()),
                slots: tm.registration.slots,
                idle_since: tm.idle_since,
            })
            .collect();
        Resources {
            demanded_slots,
            free_slots,
            task_managers,
        }
    }

    /// The pod of a TaskManager failed (Kubernetes says so): drops that
    /// TaskManager now, as a heartbeat timeout would later, and restarts
    /// its jobs. Returns whether a TaskManager ran in that pod; a pod
    /// reported twice, or one whose TaskManager never registered, is not.
    pub fn task_manager_failed(&self, pod_name: &str, reason: &str) -> bool {
        let mut state = self.lock();
        let ids: Vec<String> = state
            .task_managers
            .values()
            .filter(|tm| !pod_name.is_empty() && tm.registration.pod_name == pod_name)
            .map(|tm| tm.registration.task_manager_id.clone())
            .collect();
        for id in &ids {
            self.lose(
                &mut state,
                id,
                &format!("its pod {pod_name} failed: {reason}"),
            );
        }
        if ids.is_empty() {
            return false;
        }
        self.schedule(&mut state);
        drop(state);
        self.changed();
        true
    }

    /// Forgets an idle TaskManager whose pod is about to be deleted. Returns
    /// false, and keeps it, if it is gone or no longer idle (a job was
    /// placed on it since the caller looked).
    pub fn release_idle(&self, tm_id: &str, why: &str) -> bool {
        let mut state = self.lock();
        let idle = state.task_managers.contains_key(tm_id)
            && used_slots(&state).get(tm_id).copied().unwrap_or(0) == 0;
        if !idle {
            return false;
        }
        state.task_managers.remove(tm_id);
        tracing::info!(tm = %tm_id, "TaskManager released: {why}");
        drop(state);
        self.changed();
        true
    }

    pub fn task_managers(&self) -> Vec<TaskManagerInfo> {
        let state = self.lock();
        let used = used_slots(&state);
        state
            .task_managers
            .values()
            .map(|tm| {
                let id = &tm.registration.task_manager_id;
                let in_use = used.get(id).copied().unwrap_or(0);
                TaskManagerInfo {
                    id: id.clone(),
                    data_address: tm.registration.data_address.clone(),
                    metrics_address: tm.registration.metrics_address.clone(),
                    slots: tm.registration.slots,
                    free_slots: tm.registration.slots.saturating_sub(in_use),
                    since_heartbeat: tm.last_heartbeat.elapsed(),
                    version: tm.registration.version.clone(),
                }
            })
            .collect()
    }
}
