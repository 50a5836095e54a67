//! The WeirJob controller: keeps a JobManager's jobs as their `WeirJob`
//! resources say. It submits a resource's job, follows it into the
//! resource's status (state, restarts, latest checkpoint), rolls a changed
//! spec out by the upgrade mode, suspends and resumes, and stops the job
//! before a deleted resource goes (a finalizer holds the deletion).
//!
//! Everything it must remember lives in the resource's status, not in the
//! JobManager: a JobManager that restarts, or a standby that takes over,
//! finds a job id it does not know and resumes the job from the checkpoint
//! the status points to.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{watcher, Controller};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use weir_types::{JobSpec, JobState, SpecErrors};

use crate::crd::{
    CheckpointReference, DesiredState, PendingStop, UpgradeMode, WeirJob, WeirJobState,
    WeirJobStatus,
};
use crate::unreadable::reconcile_unreadable;

/// Holds a deleted resource until its job is stopped.
pub const FINALIZER: &str = "weir.dev/stop-job";
const MANAGER: &str = "weir-jobmanager";

/// What the controller sees of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub state: JobState,
    pub message: String,
    pub restarts: u32,
    /// The newest completed checkpoint or savepoint.
    pub last_checkpoint: Option<CheckpointReference>,
}

impl JobView {
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }
}

/// Where a savepoint request stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SavepointProgress {
    InProgress,
    Completed(String),
    Failed(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error of the JobManager's, boxed: its types live in crates this one
/// does not depend on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the JobManager did not do what the controller asked. Each message
/// ends up in the resource's status and events as it is.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// An operator's module is a local file, which nothing can upload for
    /// a resource.
    #[error(
        "spec.job.operators[{index}] '{operator}': module '{path}' is a file; a WeirJob's \
         modules are oci:// or configmap:// references (weir push FILE \
         oci://REGISTRY/REPOSITORY:TAG, or configmap://)"
    )]
    FileModule {
        index: usize,
        operator: String,
        path: String,
    },
    /// A module could not be pinned to its digest; the error starts with
    /// the operator's field path under `spec.job`.
    #[error("spec.job.{0}")]
    PinModules(#[source] BoxError),
    /// The JobManager refused the job, or could not store it.
    #[error("{0}")]
    Submit(#[source] BoxError),
    /// Stop-with-savepoint could not start (the job is not running, say).
    #[error("{0}")]
    StopWithSavepoint(#[source] BoxError),
}

/// The JobManager, as the controller uses it.
pub trait JobControl: Send + Sync + 'static {
    /// Submits a job (its modules pinned), from a savepoint or checkpoint
    /// when `restore_from` is set; returns the job id.
    fn submit(
        &self,
        spec: JobSpec,
        restore_from: Option<String>,
    ) -> BoxFuture<'_, Result<String, ControlError>>;
    /// Pins the spec's `oci://` and `configmap://` modules to digests.
    fn pin_modules(&self, spec: JobSpec) -> BoxFuture<'_, Result<JobSpec, ControlError>>;
    fn job(&self, job_id: &str) -> Option<JobView>;
    fn cancel(&self, job_id: &str);
    /// Starts stop-with-savepoint; returns the request id.
    fn stop_with_savepoint(
        &self,
        job_id: &str,
        directory: Option<String>,
    ) -> Result<String, ControlError>;
    fn savepoint(&self, job_id: &str, request_id: &str) -> Option<SavepointProgress>;
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("{action} WeirJob {name}: {source}")]
    Api {
        action: &'static str,
        name: String,
        source: kube::Error,
    },
}

pub struct Context {
    pub client: kube::Client,
    pub jobs: Arc<dyn JobControl>,
    pub recorder: Recorder,
    /// How often a resource's status follows its job.
    pub poll: Duration,
}

impl Context {
    pub fn new(client: kube::Client, jobs: Arc<dyn JobControl>, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            jobs,
            poll: Duration::from_secs(2),
        }
    }
}

/// Runs the controller over the WeirJobs of `namespace` until the stream of
/// resources ends (the process stops).
pub async fn run(context: Arc<Context>, namespace: &str) {
    // Guarded: an object the types cannot read fails alone (see
    // `unreadable`), not the list the watch reads all of them with.
    let api: Api<DeserializeGuard<WeirJob>> = Api::namespaced(context.client.clone(), namespace);
    Controller::new(api, watcher::Config::default())
        .run(
            |guarded, context| async move {
                match &guarded.0 {
                    Ok(resource) => reconcile(Arc::new(resource.clone()), context).await,
                    Err(invalid) => reconcile_unreadable(invalid, &context).await,
                }
            },
            |_job, error, context| {
                tracing::warn!("{error}");
                Action::requeue(context.poll * 2)
            },
            context,
        )
        .for_each(|_| async {})
        .await;
}

/// Why a resource's spec does not make a job spec.
#[derive(Debug, thiserror::Error)]
pub enum WeirJobSpecError {
    #[error("spec.modules.{name}: spec.job has no operator '{name}'")]
    NoSuchOperator { name: String },
    #[error("spec.job: {0}")]
    Invalid(#[from] SpecErrors),
}

/// Why a resource's job was not submitted.
#[derive(Debug, thiserror::Error)]
enum SubmitFailure {
    #[error(transparent)]
    Spec(#[from] WeirJobSpecError),
    #[error(transparent)]
    JobManager(#[from] ControlError),
}

/// The job spec a resource asks for: `job` with `modules` and
/// `parallelism` applied, validated once, here.
pub fn job_spec(resource: &WeirJob) -> Result<JobSpec, WeirJobSpecError> {
    let mut job = resource.spec.job.clone();
    if let Some(parallelism) = resource.spec.parallelism {
        job.parallelism = parallelism;
    }
    if job.name.is_empty() {
        job.name = resource.name_any();
    }
    for (name, reference) in &resource.spec.modules {
        let operator = job
            .operators
            .iter_mut()
            .find(|operator| operator.name == *name)
            .ok_or_else(|| WeirJobSpecError::NoSuchOperator { name: name.clone() })?;
        operator.module = Some(reference.clone());
        operator.sha256 = None;
    }
    job.validate()?;
    Ok(job)
}

pub(crate) fn condition(
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: kind.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
    }
}

/// One pass over one resource: act, then write what was seen.
pub async fn reconcile(
    resource: Arc<WeirJob>,
    context: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = resource.name_any();
    let namespace = resource.namespace().unwrap_or_default();
    let api: Api<WeirJob> = Api::namespaced(context.client.clone(), &namespace);
    let generation = resource.metadata.generation;
    let before = resource.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let jobs = &context.jobs;
    let current = status.job_id.as_deref().and_then(|id| jobs.job(id));
    let running = current.as_ref().is_some_and(|j| !j.is_terminal());
    let mut events: Vec<(EventType, &'static str, String)> = Vec::new();

    if resource.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(&resource) {
            return Ok(Action::await_change());
        }
        if running {
            stop(
                &resource,
                &mut status,
                current.as_ref(),
                jobs.as_ref(),
                &mut events,
                "deleting",
            );
            write(&api, &name, &resource, &before, status, events, &context).await?;
            return Ok(Action::requeue(context.poll / 2));
        }
        if let Some(pending) = status.pending_stop.clone() {
            if current.is_some()
                && !savepoint_done(jobs.as_ref(), &pending, &mut status, &mut events)
            {
                return Ok(Action::requeue(context.poll / 2));
            }
        }
        remove_finalizer(&api, &resource).await?;
        return Ok(Action::await_change());
    }
    if !has_finalizer(&resource) {
        add_finalizer(&api, &resource).await?;
    }

    // A stop with savepoint under way (upgrade or suspend): wait for it.
    if let Some(pending) = status.pending_stop.clone() {
        if current.is_none() {
            // The JobManager lost the job, and the request with it.
            status.pending_stop = None;
        } else if !savepoint_done(jobs.as_ref(), &pending, &mut status, &mut events) {
            write(&api, &name, &resource, &before, status, events, &context).await?;
            return Ok(Action::requeue(context.poll / 2));
        }
    }

    let current = status.job_id.as_deref().and_then(|id| jobs.job(id));
    let running = current.as_ref().is_some_and(|j| !j.is_terminal());
    let changed = status.observed_generation.is_some() && status.observed_generation != generation;
    let wanted = resource.spec.state == DesiredState::Running;

    if running && (changed || !wanted) {
        let why = if wanted { "upgrading" } else { "suspending" };
        stop(
            &resource,
            &mut status,
            current.as_ref(),
            jobs.as_ref(),
            &mut events,
            why,
        );
        write(&api, &name, &resource, &before, status, events, &context).await?;
        return Ok(Action::requeue(context.poll / 2));
    }

    if !running && wanted {
        let first = status.job_id.is_none();
        // A job the JobManager does not know (it restarted, or this is a
        // new leader) resumes from the checkpoint the status points to.
        let lost = !first && current.is_none();
        let stopped_here = matches!(
            status.state,
            Some(WeirJobState::Upgrading | WeirJobState::Suspending | WeirJobState::Suspended)
        );
        // A job that ended by itself (FINISHED, or FAILED after its
        // restarts) stays ended until its spec changes.
        if first || lost || changed || stopped_here {
            // This pass's object comes from the watch cache, which can lag
            // behind the status the previous pass wrote (its own status
            // patch not seen yet): submitting on it would start the job a
            // second time. The status is read fresh before any submission.
            let fresh = api
                .get_status(&name)
                .await
                .map_err(|source| ControllerError::Api {
                    action: "read the status of",
                    name: name.clone(),
                    source,
                })?;
            let fresh_job = fresh.status.and_then(|s| s.job_id);
            if fresh_job != status.job_id {
                tracing::debug!(
                    weirjob = %name,
                    "the cached WeirJob is older than its status; looking again"
                );
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            let restore = if first {
                resource.spec.initial_savepoint_path.clone()
            } else {
                status.restore_from.clone().or_else(|| {
                    (resource.spec.upgrade_mode != UpgradeMode::Stateless)
                        .then(|| status.last_checkpoint.as_ref().map(|c| c.location.clone()))
                        .flatten()
                })
            };
            match submit(&resource, jobs.as_ref(), restore.clone()).await {
                Ok(job_id) => {
                    let from = restore.map(|r| format!(" from {r}")).unwrap_or_default();
                    events.push((
                        EventType::Normal,
                        "Submitted",
                        format!("job {job_id}{from}"),
                    ));
                    status.job_id = Some(job_id);
                    status.observed_generation = generation;
                    status.restore_from = None;
                    status.error = None;
                    status.state = None;
                }
                Err(failure) => {
                    let why = failure.to_string();
                    if status.error.as_deref() != Some(why.as_str()) {
                        events.push((EventType::Warning, "SubmitFailed", why.clone()));
                    }
                    status.conditions =
                        vec![condition("Ready", false, "SubmitFailed", &why, generation)];
                    status.error = Some(why);
                    status.state = Some(WeirJobState::Failed);
                    status.observed_generation = generation;
                    write(&api, &name, &resource, &before, status, events, &context).await?;
                    return Ok(Action::requeue(context.poll * 15));
                }
            }
        }
    }

    // Follow the job.
    let current = status.job_id.as_deref().and_then(|id| jobs.job(id));
    match (&current, wanted) {
        (Some(job), true) => {
            status.state = Some(job.state.into());
            status.restarts = status.restarts.max(job.restarts);
            if job.last_checkpoint.is_some() {
                status.last_checkpoint = job.last_checkpoint.clone();
            }
            if job.state == JobState::Failed {
                status.error = Some(job.message.clone());
            }
        }
        (_, false) => status.state = Some(WeirJobState::Suspended),
        (None, true) => {}
    }
    let state = status.state;
    if before.state != state {
        match state {
            Some(WeirJobState::Failed) => events.push((
                EventType::Warning,
                "JobFailed",
                status.error.clone().unwrap_or_default(),
            )),
            Some(WeirJobState::Finished) => {
                events.push((EventType::Normal, "JobFinished", "the job finished".into()))
            }
            Some(WeirJobState::Suspended) => events.push((
                EventType::Normal,
                "Suspended",
                "the job is suspended".into(),
            )),
            Some(WeirJobState::Running) => {
                events.push((EventType::Normal, "Running", "the job runs".into()))
            }
            _ => {}
        }
    }
    let ready = matches!(state, Some(WeirJobState::Running | WeirJobState::Finished))
        || (state == Some(WeirJobState::Suspended) && !wanted);
    status.conditions = vec![condition(
        "Ready",
        ready,
        state.map_or("Unknown", WeirJobState::reason),
        current.as_ref().map(|j| j.message.as_str()).unwrap_or(""),
        generation,
    )];
    write(&api, &name, &resource, &before, status, events, &context).await?;
    Ok(Action::requeue(context.poll))
}

/// Stops the running job as the upgrade mode says, remembering where the
/// next run starts from.
fn stop(
    resource: &WeirJob,
    status: &mut WeirJobStatus,
    current: Option<&JobView>,
    jobs: &dyn JobControl,
    events: &mut Vec<(EventType, &'static str, String)>,
    why: &str,
) {
    let Some(job_id) = status.job_id.clone() else {
        return;
    };
    if status.pending_stop.is_some() {
        return;
    }
    match resource.spec.upgrade_mode {
        UpgradeMode::Stateless => {
            jobs.cancel(&job_id);
            status.restore_from = None;
            events.push((
                EventType::Normal,
                "Stopping",
                format!("{why}: job {job_id} cancelled (stateless)"),
            ));
        }
        UpgradeMode::LastState => {
            jobs.cancel(&job_id);
            status.restore_from = current
                .and_then(|j| j.last_checkpoint.as_ref())
                .or(status.last_checkpoint.as_ref())
                .map(|c| c.location.clone());
            events.push((
                EventType::Normal,
                "Stopping",
                format!(
                    "{why}: job {job_id} cancelled; the next run starts from {}",
                    status.restore_from.as_deref().unwrap_or("no checkpoint")
                ),
            ));
        }
        UpgradeMode::Savepoint => {
            match jobs.stop_with_savepoint(&job_id, resource.spec.savepoint_directory.clone()) {
                Ok(request_id) => {
                    status.pending_stop = Some(PendingStop {
                        job_id: job_id.clone(),
                        request_id,
                    });
                    events.push((
                        EventType::Normal,
                        "Stopping",
                        format!("{why}: stopping job {job_id} with a savepoint"),
                    ));
                }
                Err(e) => {
                    // Not running (yet or any more): nothing to save.
                    events.push((
                        EventType::Warning,
                        "SavepointFailed",
                        format!("{why}: {e}; cancelling job {job_id}"),
                    ));
                    jobs.cancel(&job_id);
                }
            }
        }
    }
    status.state = Some(if why == "suspending" {
        WeirJobState::Suspending
    } else {
        WeirJobState::Upgrading
    });
}

/// Whether a pending stop-with-savepoint is over; on success the next run
/// starts from the savepoint.
fn savepoint_done(
    jobs: &dyn JobControl,
    pending: &PendingStop,
    status: &mut WeirJobStatus,
    events: &mut Vec<(EventType, &'static str, String)>,
) -> bool {
    match jobs.savepoint(&pending.job_id, &pending.request_id) {
        Some(SavepointProgress::InProgress) => false,
        Some(SavepointProgress::Completed(location)) => {
            events.push((EventType::Normal, "SavepointCompleted", location.clone()));
            status.last_savepoint = Some(location.clone());
            status.restore_from = Some(location);
            status.pending_stop = None;
            // The job ends once its savepoint is complete.
            jobs.job(&pending.job_id).is_none_or(|j| j.is_terminal())
        }
        Some(SavepointProgress::Failed(why)) => {
            events.push((EventType::Warning, "SavepointFailed", why.clone()));
            status.error = Some(format!("stop with savepoint failed: {why}"));
            status.pending_stop = None;
            // Left running; the next pass tries again.
            true
        }
        None => {
            status.pending_stop = None;
            true
        }
    }
}

async fn submit(
    resource: &WeirJob,
    jobs: &dyn JobControl,
    restore: Option<String>,
) -> Result<String, SubmitFailure> {
    let spec = job_spec(resource)?;
    let spec = jobs.pin_modules(spec).await?;
    Ok(jobs.submit(spec, restore).await?)
}

fn has_finalizer(resource: &WeirJob) -> bool {
    resource.finalizers().iter().any(|f| f == FINALIZER)
}

async fn add_finalizer(api: &Api<WeirJob>, resource: &WeirJob) -> Result<(), ControllerError> {
    let mut finalizers = resource.finalizers().to_vec();
    finalizers.push(FINALIZER.into());
    patch_finalizers(api, resource, finalizers).await
}

async fn remove_finalizer(api: &Api<WeirJob>, resource: &WeirJob) -> Result<(), ControllerError> {
    let finalizers = resource
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(api, resource, finalizers).await
}

async fn patch_finalizers(
    api: &Api<WeirJob>,
    resource: &WeirJob,
    finalizers: Vec<String>,
) -> Result<(), ControllerError> {
    // The resourceVersion makes the patch fail rather than drop a finalizer
    // another controller added meanwhile.
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": resource.resource_version(),
        }
    });
    api.patch(
        &resource.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
    .map_err(|source| ControllerError::Api {
        action: "patch the finalizers of",
        name: resource.name_any(),
        source,
    })
}

async fn write(
    api: &Api<WeirJob>,
    name: &str,
    resource: &WeirJob,
    before: &WeirJobStatus,
    mut status: WeirJobStatus,
    events: Vec<(EventType, &'static str, String)>,
    context: &Context,
) -> Result<(), ControllerError> {
    // A condition's transition time moves only when its status does.
    for condition in &mut status.conditions {
        if let Some(old) = before
            .conditions
            .iter()
            .find(|c| c.type_ == condition.type_)
        {
            if old.status == condition.status {
                condition.last_transition_time = old.last_transition_time.clone();
            }
        }
    }
    if &status != before {
        // A merge patch keeps the fields it does not name: a field that
        // went away (a finished stop, a used restore point) is sent as null.
        let mut fields = serde_json::to_value(&status).unwrap_or_default();
        if let (Some(fields), Ok(serde_json::Value::Object(old))) =
            (fields.as_object_mut(), serde_json::to_value(before))
        {
            for key in old.keys() {
                fields.entry(key.clone()).or_insert(serde_json::Value::Null);
            }
        }
        let patch = json!({ "status": fields });
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| ControllerError::Api {
                action: "update the status of",
                name: name.to_string(),
                source,
            })?;
    }
    let reference = resource.object_ref(&());
    for (type_, reason, note) in events {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        // An event that cannot be written is not worth failing the pass.
        if let Err(e) = context.recorder.publish(&event, &reference).await {
            tracing::warn!("cannot record event {reason} on WeirJob {name}: {e}");
        }
    }
    Ok(())
}
