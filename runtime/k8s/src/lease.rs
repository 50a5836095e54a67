//! JobManager high availability: leader election on a
//! `coordination.k8s.io/v1` Lease.
//!
//! Several JobManager replicas run; only the one holding the Lease schedules
//! jobs and owns TaskManagers. The holder renews `renewTime` every
//! `retry_period`; a standby takes the Lease over once `renewTime +
//! leaseDurationSeconds` has passed. Every write is a replace carrying the
//! `resourceVersion` that was read, so when two replicas race the API server
//! lets exactly one win and the other sees 409 Conflict.
//!
//! Expiry compares the holder's `renewTime` with this replica's clock, so the
//! replicas' clocks must agree to well within `lease_duration -
//! renew_deadline` (the margin by which a leader steps down before a standby
//! may take over).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::error::K8sError;

/// Where the Lease lives, who we are, and the election's timing.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// Unique per replica; the pod name is the usual choice.
    pub identity: String,
    /// How long a standby waits after the last renewal before taking over.
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// Time between a leader's renewals.
    pub retry_period: Duration,
    /// Time between a standby's reads of the Lease (at most
    /// `retry_period`). A standby only reads until it may take over, so it
    /// can look often: a Lease released by a leader that stops then goes to
    /// the standby within this time, before a replica that is just starting.
    pub standby_poll_period: Duration,
}

impl LeaseConfig {
    /// A configuration with the customary timings: 15 s lease, 10 s renew
    /// deadline, 2 s retry period; standbys look every 0.5 s.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            standby_poll_period: Duration::from_millis(500),
        }
    }

    fn validate(&self) -> Result<(), K8sError> {
        let invalid = |reason: String| K8sError::InvalidConfig {
            what: format!("lease configuration for {}/{}", self.namespace, self.name),
            reason,
        };
        if self.identity.is_empty() {
            return Err(invalid("identity is empty".into()));
        }
        if self.retry_period.is_zero() {
            return Err(invalid("retry_period is zero".into()));
        }
        if self.standby_poll_period.is_zero() {
            return Err(invalid("standby_poll_period is zero".into()));
        }
        // The safety argument: a leader that cannot renew stops at
        // renew_deadline, strictly before a standby may take over at
        // lease_duration. Equal or reversed values allow two leaders.
        if self.renew_deadline >= self.lease_duration {
            return Err(invalid(format!(
                "renew_deadline ({:?}) must be shorter than lease_duration ({:?})",
                self.renew_deadline, self.lease_duration
            )));
        }
        if self.retry_period >= self.renew_deadline {
            return Err(invalid(format!(
                "retry_period ({:?}) must be shorter than renew_deadline ({:?})",
                self.retry_period, self.renew_deadline
            )));
        }
        Ok(())
    }

    /// `leaseDurationSeconds` is whole seconds; rounding up keeps standbys
    /// from taking over earlier than configured.
    fn lease_duration_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
    }
}

/// The outcome of one election attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    Leader,
    /// Someone else leads, or won the race this round. `holder` is `None`
    /// when the Lease is free or the winner of a race is not known yet.
    Follower {
        holder: Option<String>,
    },
}

/// The wall clock the election compares `renewTime` against; replaceable so
/// that expiry can be tested without waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // Built from SystemTime rather than `Timestamp::now`, which needs a
        // jiff feature k8s-openapi does not turn on itself.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_micros())
            .ok()
            .and_then(|us| Timestamp::from_microsecond(us).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Campaigns for, holds and gives up one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    clock: Arc<dyn Clock>,
}

impl LeaderElector {
    /// Fails if the timings could let two replicas lead at once.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Result<Self, K8sError> {
        config.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            clock: Arc::new(SystemClock),
        })
    }

    /// Replaces the wall clock used for `renewTime`/`acquireTime` and expiry.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    fn lease_ref(&self) -> String {
        format!("Lease {}/{}", self.config.namespace, self.config.name)
    }

    fn now(&self) -> MicroTime {
        MicroTime(self.clock.now())
    }

    /// One election round: creates the Lease if absent, renews it if we hold
    /// it, takes it over if it is free or its holder let it expire, and
    /// otherwise reports who leads. Losing a write race (409) is a normal
    /// outcome, not an error.
    pub async fn try_acquire_or_renew(&self) -> Result<Leadership, K8sError> {
        let lease_ref = self.lease_ref();
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| K8sError::api(format!("get {lease_ref}"), e))?;

        let Some(lease) = current else {
            return self.create().await;
        };

        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let now = self.now();

        let new_spec = match holder.as_deref() {
            Some(h) if h == self.config.identity => LeaseSpec {
                acquire_time: spec.acquire_time.clone().or_else(|| Some(now.clone())),
                renew_time: Some(now),
                lease_duration_seconds: Some(self.config.lease_duration_seconds()),
                ..spec
            },
            Some(h) if !self.expired(&spec) => {
                return Ok(Leadership::Follower {
                    holder: Some(h.to_owned()),
                });
            }
            _ => {
                info!(
                    lease = %lease_ref,
                    previous = holder.as_deref().unwrap_or("<none>"),
                    identity = %self.config.identity,
                    "taking over free or expired lease"
                );
                LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_duration_seconds: Some(self.config.lease_duration_seconds()),
                    lease_transitions: Some(spec.lease_transitions.unwrap_or(0).saturating_add(1)),
                    ..spec
                }
            }
        };

        let updated = Lease {
            metadata: lease.metadata,
            spec: Some(new_spec),
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Leadership::Leader),
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                debug!(lease = %lease_ref, "lost the write race for the lease");
                Ok(Leadership::Follower { holder: None })
            }
            Err(e) => Err(K8sError::api(format!("replace {lease_ref}"), e)),
        }
    }

    async fn create(&self) -> Result<Leadership, K8sError> {
        let now = self.now();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_duration_seconds: Some(self.config.lease_duration_seconds()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => {
                info!(lease = %self.lease_ref(), identity = %self.config.identity, "created lease");
                Ok(Leadership::Leader)
            }
            // Another replica created it between our get and create.
            Err(kube::Error::Api(status)) if status.is_already_exists() || status.is_conflict() => {
                Ok(Leadership::Follower { holder: None })
            }
            Err(e) => Err(K8sError::api(format!("create {}", self.lease_ref()), e)),
        }
    }

    /// Whether the holder's promise (`renewTime + leaseDurationSeconds`) has
    /// run out. A lease with no renewTime promises nothing.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let Some(renewed) = &spec.renew_time else {
            return true;
        };
        let duration_us = i64::from(
            spec.lease_duration_seconds
                .unwrap_or_else(|| self.config.lease_duration_seconds()),
        ) * 1_000_000;
        let expires = renewed.0.as_microsecond().saturating_add(duration_us);
        self.clock.now().as_microsecond() > expires
    }

    /// Gives the Lease up if we hold it, so a standby takes over on its next
    /// round instead of waiting out the lease duration. Doing nothing when
    /// someone else holds it makes this safe to call from any replica,
    /// including a fresh elector built only for shutdown.
    pub async fn release(&self) -> Result<(), K8sError> {
        let lease_ref = self.lease_ref();
        let Some(lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| K8sError::api(format!("get {lease_ref}"), e))?
        else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let released = Lease {
            metadata: lease.metadata,
            spec: Some(LeaseSpec {
                holder_identity: None,
                acquire_time: None,
                renew_time: Some(self.now()),
                lease_duration_seconds: Some(1),
                ..spec
            }),
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &released)
            .await
        {
            Ok(_) => {
                info!(lease = %lease_ref, identity = %self.config.identity, "released lease");
                Ok(())
            }
            // Changed since we read it: it is no longer ours to release.
            Err(kube::Error::Api(status)) if status.is_conflict() || status.is_not_found() => {
                Ok(())
            }
            Err(e) => Err(K8sError::api(format!("release {lease_ref}"), e)),
        }
    }

    /// Runs election rounds every `retry_period` and publishes leadership on
    /// `leader` (true = leader) whenever it changes. A leader that has not
    /// renewed successfully for `renew_deadline` publishes false, which is
    /// before any standby may take over. The task ends, releasing the Lease
    /// if held, once every receiver of `leader` is gone.
    pub fn spawn(self, leader: watch::Sender<bool>) -> JoinHandle<()> {
        tokio::spawn(self.run(leader))
    }

    async fn run(self, leader: watch::Sender<bool>) {
        let lease_ref = self.lease_ref();
        // Set while leading: when the last successful renewal was sent.
        let mut renewed_at: Option<Instant> = None;
        // Leaders renew every retry period; standbys only read, and look
        // more often (see `standby_poll_period`).
        let standby_period = self
            .config
            .standby_poll_period
            .min(self.config.retry_period);
        let mut next_round = Instant::now();

        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_round) => {}
                _ = leader.closed() => break,
            }

            // A hung request must not keep a leader leading past its deadline.
            let budget = match renewed_at {
                Some(at) => self.config.renew_deadline.saturating_sub(at.elapsed()),
                None => self.config.renew_deadline,
            };
            let started = Instant::now();
            let outcome = tokio::time::timeout(budget, self.try_acquire_or_renew()).await;

            match outcome {
                Ok(Ok(Leadership::Leader)) => {
                    if renewed_at.is_none() {
                        info!(lease = %lease_ref, identity = %self.config.identity, "became leader");
                    }
                    renewed_at = Some(started);
                    publish(&leader, true);
                }
                Ok(Ok(Leadership::Follower { holder })) => {
                    if renewed_at.take().is_some() {
                        warn!(
                            lease = %lease_ref,
                            holder = holder.as_deref().unwrap_or("<unknown>"),
                            "lost leadership"
                        );
                    }
                    publish(&leader, false);
                }
                Ok(Err(e)) => {
                    warn!(lease = %lease_ref, error = %e, "leader election round failed");
                }
                Err(_) => {
                    warn!(lease = %lease_ref, timeout = ?budget, "leader election round timed out");
                }
            }

            let overdue = renewed_at.is_some_and(|at| at.elapsed() >= self.config.renew_deadline);
            if overdue {
                warn!(
                    lease = %lease_ref,
                    deadline = ?self.config.renew_deadline,
                    "could not renew lease within the renew deadline; stepping down"
                );
                renewed_at = None;
                publish(&leader, false);
            }
            let period = match renewed_at {
                Some(_) => self.config.retry_period,
                None => standby_period,
            };
            // A round that took longer than the period starts the next at once.
            next_round = started + period;
        }

        if renewed_at.is_some() {
            if let Err(e) = self.release().await {
                warn!(lease = %lease_ref, error = %e, "could not release lease on exit");
            }
        }
    }
}

fn publish(leader: &watch::Sender<bool>, value: bool) {
    leader.send_if_modified(|current| {
        let changed = *current != value;
        *current = value;
        changed
    });
}
