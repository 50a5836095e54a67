//! A WeirJob whose stored object the types cannot read: written under an
//! older, looser schema of the CRD. It fails alone, its status saying why,
//! where one undecodable object in a typed list would stop the controller's
//! watch of every WeirJob. A job it already started keeps running, as a job
//! does when its resource is changed into a bad spec; deleting the resource
//! still cancels the job before the finalizer goes.

use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};
use serde_json::json;
use weir_types::JobSpec;

use crate::controller::{condition, Context, ControllerError, FINALIZER};
use crate::crd::WeirJob;

/// One pass over a resource the types cannot read.
pub async fn reconcile_unreadable(
    invalid: &InvalidObject,
    context: &Context,
) -> Result<Action, ControllerError> {
    let name = invalid.metadata.name.clone().unwrap_or_default();
    let namespace = invalid.metadata.namespace.clone().unwrap_or_default();
    let kind = ApiResource::erase::<WeirJob>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(context.client.clone(), &namespace, &kind);
    let api_error = |action: &'static str| {
        let name = name.clone();
        move |source| ControllerError::Api {
            action,
            name,
            source,
        }
    };
    let object = api.get(&name).await.map_err(api_error("read"))?;
    let status = object.data.get("status");
    let job_id = status
        .and_then(|status| status.get("jobId"))
        .and_then(|id| id.as_str());

    if invalid.metadata.deletion_timestamp.is_some() {
        let finalizers = invalid.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::await_change());
        }
        if let Some(id) = job_id {
            if context.jobs.job(id).is_some_and(|job| !job.is_terminal()) {
                context.jobs.cancel(id);
                return Ok(Action::requeue(context.poll / 2));
            }
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({
            "metadata": {
                "finalizers": kept,
                "resourceVersion": invalid.metadata.resource_version,
            }
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_error("patch the finalizers of"))?;
        return Ok(Action::await_change());
    }

    // The types' own reading of the job names the path of what is wrong,
    // which the guard's message (from the whole object) does not.
    let job = object.data.get("spec").and_then(|spec| spec.get("job"));
    let why = match job.cloned().map(JobSpec::from_json_value) {
        Some(Err(errors)) => format!("spec cannot be read: spec.job: {errors}"),
        _ => format!("spec cannot be read: {}", invalid.error),
    };
    let reported = status
        .and_then(|status| status.get("error"))
        .and_then(|error| error.as_str());
    if reported == Some(why.as_str()) {
        return Ok(Action::await_change());
    }
    let generation = invalid.metadata.generation;
    let patch = json!({
        "status": {
            "error": why,
            "observedGeneration": generation,
            "conditions": [condition("Ready", false, "InvalidSpec", &why, generation)],
        }
    });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_error("update the status of"))?;
    let event = Event {
        type_: EventType::Warning,
        reason: "InvalidSpec".into(),
        note: Some(why),
        action: "InvalidSpec".into(),
        secondary: None,
    };
    let reference = object.object_ref(&kind);
    if let Err(e) = context.recorder.publish(&event, &reference).await {
        tracing::warn!("cannot record event InvalidSpec on WeirJob {name}: {e}");
    }
    Ok(Action::await_change())
}
