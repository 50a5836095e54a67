//! The native resource manager (Flink's native Kubernetes mode): the
//! JobManager creates TaskManager pods when jobs wait for slots, deletes
//! pods whose TaskManagers stay idle, and drops a TaskManager as soon as
//! Kubernetes reports its pod failed instead of waiting for its heartbeat
//! to time out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use weir_k8s::{PodFailure, TaskManagerPods};

use crate::core::Core;

/// How the native resource manager paces itself.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// A TaskManager of one of our pods that runs no task this long, while
    /// no job waits for slots, has its pod deleted.
    pub idle_timeout: Duration,
    /// A created pod whose TaskManager has not registered this long is
    /// deleted (a bad image, a pod that cannot be scheduled, a wrong
    /// JobManager address).
    pub registration_timeout: Duration,
    /// How often it looks, besides whenever the JobManager's state changes.
    pub period: Duration,
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            idle_timeout: Duration::from_secs(30),
            registration_timeout: Duration::from_secs(300),
            period: Duration::from_secs(1),
        }
    }
}

/// Keeps the TaskManager pods in line with what the JobManager's jobs need.
pub struct NativeResourceManager {
    core: Arc<Core>,
    pods: TaskManagerPods,
    config: NativeConfig,
    /// Pods created whose TaskManager has not registered yet, with when.
    pending: HashMap<String, Instant>,
    /// Pods of released TaskManagers whose delete failed, with why; retried
    /// every round, since their TaskManagers are already forgotten.
    doomed: HashMap<String, String>,
    /// Pods in a row that failed or timed out before their TaskManager
    /// registered; reset by a registration.
    startup_failures: u32,
    /// No pod is created before this: a pod that cannot start (a bad
    /// image, a crash at start) would otherwise be replaced in a hot loop.
    create_after: Option<Instant>,
}

/// The longest wait between pod creations after failed starts.
const MAX_CREATE_BACKOFF: Duration = Duration::from_secs(300);

impl NativeResourceManager {
    pub fn new(core: Arc<Core>, pods: TaskManagerPods, config: NativeConfig) -> Self {
        NativeResourceManager {
            core,
            pods,
            config,
            pending: HashMap::new(),
            doomed: HashMap::new(),
            startup_failures: 0,
            create_after: None,
        }
    }

    /// Pods created that have not registered yet.
    pub fn pending_pods(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pending.keys().cloned().collect();
        names.sort();
        names
    }

    fn slots_per_pod(&self) -> u32 {
        self.pods.config().slots.max(1)
    }

    /// Runs until the JobManager stops: on every change of its state, every
    /// period, and on every pod failure.
    pub fn spawn(mut self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut failures = self.pods.failures().boxed();
            let mut ticker = tokio::time::interval(self.config.period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let core = self.core.clone();
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = core.notified() => {}
                    failure = failures.next() => match failure {
                        Some(failure) => self.pod_failed(failure),
                        // The watch retries on its own and ends only when
                        // dropped; should it end anyway, heartbeat timeouts
                        // still catch lost TaskManagers.
                        None => {
                            tracing::warn!("the TaskManager pod watch ended; pod failures are now noticed by heartbeat timeouts only");
                            failures = futures_util::stream::pending().boxed();
                        }
                    },
                }
                self.reconcile().await;
            }
        })
    }

    /// Kubernetes reports a pod failed or gone: drop its TaskManager now,
    /// and stop counting it as coming if it never registered.
    pub fn pod_failed(&mut self, failure: PodFailure) {
        if self.pending.remove(&failure.pod).is_some() {
            let backoff = self.failed_start();
            tracing::warn!(pod = %failure.pod, reason = %failure.reason, "TaskManager pod failed before its TaskManager registered; next pod in {:.0} s", backoff.as_secs_f64());
        }
        if self.core.task_manager_failed(&failure.pod, &failure.reason) {
            tracing::warn!(pod = %failure.pod, reason = %failure.reason, "TaskManager pod failed; dropped its TaskManager");
        }
    }

    /// Backs pod creation off after a pod that did not start; returns the
    /// wait: 1 s doubling per failure in a row, up to 5 minutes.
    fn failed_start(&mut self) -> Duration {
        self.startup_failures = self.startup_failures.saturating_add(1);
        let exponent = self.startup_failures.saturating_sub(1).min(16);
        let backoff = Duration::from_secs(1u64 << exponent).min(MAX_CREATE_BACKOFF);
        self.create_after = Some(Instant::now() + backoff);
        backoff
    }

    /// One round: create pods for slots jobs wait for, delete pods whose
    /// TaskManagers idle too long or never registered.
    pub async fn reconcile(&mut self) {
        let resources = self.core.resources();
        let per_pod = self.slots_per_pod();

        for tm in &resources.task_managers {
            if let Some(pod) = &tm.pod_name {
                if self.pending.remove(pod).is_some() {
                    self.startup_failures = 0;
                    self.create_after = None;
                }
            }
        }

        let coming = self.pending.len() as u32 * per_pod;
        let missing = resources
            .demanded_slots
            .saturating_sub(resources.free_slots)
            .saturating_sub(coming);
        let backing_off = self.create_after.is_some_and(|at| at > Instant::now());
        let to_create = if backing_off {
            0
        } else {
            missing.div_ceil(per_pod)
        };
        for _ in 0..to_create {
            match self.pods.create().await {
                Ok(pod) => {
                    tracing::info!(
                        pod = %pod,
                        "created a TaskManager pod: jobs wait for {} slots, {} free, {} coming",
                        resources.demanded_slots,
                        resources.free_slots,
                        coming
                    );
                    self.pending.insert(pod, Instant::now());
                }
                Err(e) => {
                    // The next round tries again; pods are not counted as
                    // coming until a create succeeds.
                    tracing::warn!("cannot create a TaskManager pod: {e}");
                    break;
                }
            }
        }

        let timeout = self.config.registration_timeout;
        let mut unregistered: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, created)| created.elapsed() > timeout)
            .map(|(pod, _)| pod.clone())
            .collect();
        unregistered.sort();
        for pod in unregistered {
            let why = format!(
                "its TaskManager did not register within {:.0} s (is the image right, can the pod be scheduled, does it reach the JobManager?)",
                timeout.as_secs_f64()
            );
            match self.pods.delete(&pod).await {
                Ok(()) => {
                    tracing::info!(pod = %pod, "deleted a TaskManager pod: {why}");
                    self.pending.remove(&pod);
                    self.failed_start();
                }
                Err(e) => {
                    tracing::warn!(pod = %pod, "cannot delete a TaskManager pod ({why}): {e}")
                }
            }
        }

        // Idle TaskManagers go only while no job waits: a waiting job may
        // fit once another job's slots free up.
        if resources.demanded_slots > 0 {
            self.delete_doomed().await;
            return;
        }
        let idle_timeout = self.config.idle_timeout;
        for tm in &resources.task_managers {
            let Some(pod) = tm.pod_name.as_deref().filter(|p| self.pods.owns(p)) else {
                continue;
            };
            if tm.idle_since.is_none_or(|at| at.elapsed() <= idle_timeout) {
                continue;
            }
            let why = format!(
                "TaskManager {} ran no task for {:.0} s and no job waits for slots",
                tm.id,
                idle_timeout.as_secs_f64()
            );
            // Forget it first, so no job is placed on a TaskManager whose
            // pod is going away.
            if self.core.release_idle(&tm.id, &why) {
                self.doomed.insert(pod.to_owned(), why);
            }
        }
        self.delete_doomed().await;
    }

    async fn delete_doomed(&mut self) {
        let mut doomed: Vec<(String, String)> = self.doomed.drain().collect();
        doomed.sort();
        for (pod, why) in doomed {
            match self.pods.delete(&pod).await {
                Ok(()) => tracing::info!(pod = %pod, "deleted a TaskManager pod: {why}"),
                Err(e) => {
                    tracing::warn!(pod = %pod, "cannot delete an idle TaskManager's pod ({why}); retrying: {e}");
                    self.doomed.insert(pod, why);
                }
            }
        }
    }
}
