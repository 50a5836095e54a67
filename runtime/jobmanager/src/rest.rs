//! The REST API, shaped like Flink's (field names included, so that Flink
//! users and tools find what they expect), and `/metrics`.
//! docs/rest-api.md documents every route.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use weir_proto::v1::{user_metric, CheckpointStats, CheckpointSummary, JobDetails, JobException};
use weir_types::JobState;

use crate::checkpoints::{SavepointError, SavepointStatus};
use crate::core::{now_ms, Core};

pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/overview", get(overview))
        .route("/jobs", get(jobs))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/{id}", get(job).patch(cancel))
        .route("/jobs/{id}/checkpoints", get(checkpoints))
        .route("/jobs/{id}/exceptions", get(exceptions))
        .route("/jobs/{id}/savepoints", post(savepoint))
        .route("/jobs/{id}/savepoints/{request}", get(savepoint_status))
        .route("/jobs/{id}/stop", post(stop))
        .route("/taskmanagers", get(task_managers))
        .route("/metrics", get(metrics))
        // Probes: the JobManager is alive and ready once it serves at all.
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .with_state(core)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "errors": [message] }))).into_response()
}

async fn overview(State(core): State<Arc<Core>>) -> Json<Value> {
    let tms = core.task_managers();
    let jobs = core.jobs();
    let count = |state: JobState| jobs.iter().filter(|j| j.job_state() == Some(state)).count();
    Json(json!({
        "taskmanagers": tms.len(),
        "slots-total": tms.iter().map(|t| t.slots).sum::<u32>(),
        "slots-available": tms.iter().map(|t| t.free_slots).sum::<u32>(),
        "jobs-running": jobs.iter().filter(|j| !has_ended(j)).count(),
        "jobs-finished": count(JobState::Finished),
        "jobs-cancelled": count(JobState::Canceled),
        "jobs-failed": count(JobState::Failed),
        "weir-version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn jobs(State(core): State<Arc<Core>>) -> Json<Value> {
    let jobs: Vec<Value> = core
        .jobs()
        .iter()
        .map(|j| json!({ "id": j.job_id, "status": j.state_name() }))
        .collect();
    Json(json!({ "jobs": jobs }))
}

async fn jobs_overview(State(core): State<Arc<Core>>) -> Json<Value> {
    let jobs: Vec<Value> = core.jobs().iter().map(summary).collect();
    Json(json!({ "jobs": jobs }))
}

fn duration_ms(job: &JobDetails) -> i64 {
    let end = if job.end_time_ms < 0 {
        now_ms()
    } else {
        job.end_time_ms
    };
    end - job.start_time_ms
}

/// Finished, failed or cancelled.
fn has_ended(job: &JobDetails) -> bool {
    job.job_state().is_some_and(JobState::is_terminal)
}

fn summary(job: &JobDetails) -> Value {
    json!({
        "jid": job.job_id,
        "name": job.name,
        "state": job.state_name(),
        "start-time": job.start_time_ms,
        "end-time": job.end_time_ms,
        "duration": duration_ms(job),
        "status-message": job.status_message,
        "restarts": job.restarts,
    })
}

/// Flink's job details, plus Weir's status message, restarts and operators.
pub fn job_json(job: &JobDetails) -> Value {
    let mut value = summary(job);
    value["now"] = json!(now_ms());
    value["attempt"] = json!(job.attempt);
    value["required-slots"] = json!(job.required_slots);
    value["source-records"] = json!(job.source_records);
    value["sink-records"] = json!(job.sink_records);
    value["vertices"] = job
        .vertices
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "name": v.name,
                "parallelism": v.parallelism,
                "status": v.state,
                "metrics": {
                    "read-records": v.records_in,
                    "write-records": v.records_out,
                },
                "taskmanagers": v.task_managers,
            })
        })
        .collect();
    value["operators"] = job
        .operators
        .iter()
        .map(|op| {
            let metrics: serde_json::Map<String, Value> = op
                .user_metrics
                .iter()
                .map(|(name, m)| {
                    let value = match m.value {
                        Some(user_metric::Value::Counter(n)) => json!(n),
                        Some(user_metric::Value::Gauge(g)) => json!(g),
                        None => Value::Null,
                    };
                    (name.clone(), value)
                })
                .collect();
            json!({
                "name": op.name,
                "kind": op.kind,
                "parallelism": op.parallelism,
                "recordsIn": op.records_in,
                "recordsOut": op.records_out,
                "instanceRecycles": op.instance_recycles,
                "peakMemoryBytes": op.peak_memory_bytes,
                "metrics": metrics,
            })
        })
        .collect();
    value
}

async fn job(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.job(&id) {
        Some(job) => Json(job_json(&job)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("there is no job {id}")),
    }
}

async fn cancel(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match query.get("mode").map(String::as_str) {
        Some("cancel") | None => {}
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("mode '{other}' is not supported; use mode=cancel"),
            )
        }
    }
    match core.cancel(&id) {
        Some(_) => (StatusCode::ACCEPTED, Json(json!({}))).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("there is no job {id}")),
    }
}

fn checkpoint_json(c: &CheckpointSummary) -> Value {
    json!({
        "id": c.id,
        "status": c.status,
        "is_savepoint": c.savepoint,
        "trigger_timestamp": c.trigger_timestamp_ms,
        "latest_ack_timestamp": c.latest_ack_timestamp_ms,
        "state_size": c.state_size_bytes,
        "checkpointed_size": c.state_size_bytes,
        "end_to_end_duration": c.duration_ms,
        "num_subtasks": c.tasks,
        "num_acknowledged_subtasks": c.acknowledged,
        "external_path": c.location,
        "failure_message": if c.failure.is_empty() { Value::Null } else { json!(c.failure) },
    })
}

/// Flink's checkpoint statistics (`GET /jobs/:id/checkpoints`).
pub fn checkpoints_json(stats: &CheckpointStats) -> Value {
    let latest = |status: &str, savepoint: Option<bool>| {
        stats
            .history
            .iter()
            .find(|c| c.status == status && savepoint.is_none_or(|s| c.savepoint == s))
            .map_or(Value::Null, checkpoint_json)
    };
    let completed: Vec<&CheckpointSummary> = stats
        .history
        .iter()
        .filter(|c| c.status == "COMPLETED")
        .collect();
    let figures = |f: &dyn Fn(&CheckpointSummary) -> u64| {
        let values: Vec<u64> = completed.iter().map(|c| f(c)).collect();
        let n = values.len().max(1) as u64;
        json!({
            "min": values.iter().min().copied().unwrap_or(0),
            "max": values.iter().max().copied().unwrap_or(0),
            "avg": values.iter().sum::<u64>() / n,
        })
    };
    json!({
        "counts": {
            "restored": stats.restored,
            "total": stats.completed + stats.failed + stats.in_progress,
            "in_progress": stats.in_progress,
            "completed": stats.completed,
            "failed": stats.failed,
        },
        "summary": {
            "state_size": figures(&|c| c.state_size_bytes),
            "end_to_end_duration": figures(&|c| c.duration_ms),
        },
        "latest": {
            "completed": latest("COMPLETED", Some(false)),
            "savepoint": latest("COMPLETED", Some(true)),
            "failed": latest("FAILED", None),
            "restored": stats.last_restored.as_ref().map_or(Value::Null, |r| json!({
                "id": r.id,
                "restore_timestamp": r.latest_ack_timestamp_ms,
                "is_savepoint": r.savepoint,
                "external_path": r.location,
            })),
        },
        "history": stats.history.iter().map(checkpoint_json).collect::<Vec<_>>(),
    })
}

fn exception_json(e: &JobException) -> Value {
    json!({
        "exceptionName": e.kind,
        "stacktrace": e.message,
        "timestamp": e.timestamp_ms,
        "taskName": if e.task_name.is_empty() { Value::Null } else { json!(e.task_name) },
        "endpoint": if e.endpoint.is_empty() { Value::Null } else { json!(e.endpoint) },
        "taskManagerId": if e.task_manager_id.is_empty() {
            Value::Null
        } else {
            json!(e.task_manager_id)
        },
        "failureLabels": { "attempt": e.attempt.to_string() },
    })
}

/// Flink's exception history (`GET /jobs/:id/exceptions`): the failures
/// that restarted or failed the job, newest first.
pub fn exceptions_json(job: &JobDetails) -> Value {
    let entries: Vec<Value> = job
        .exceptions
        .iter()
        .map(|e| {
            let mut entry = exception_json(e);
            entry["concurrentExceptions"] = e.concurrent.iter().map(exception_json).collect();
            entry
        })
        .collect();
    json!({
        "exceptionHistory": {
            "entries": entries,
            "truncated": job.exceptions_truncated,
        },
    })
}

async fn exceptions(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.job(&id) {
        Some(job) => Json(exceptions_json(&job)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("there is no job {id}")),
    }
}

async fn checkpoints(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.job(&id) {
        Some(job) => Json(checkpoints_json(&job.checkpoints.unwrap_or_default())).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("there is no job {id}")),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct SavepointBody {
    #[serde(default, alias = "targetDirectory")]
    target_directory: Option<String>,
    #[serde(default)]
    cancel_job: bool,
}

fn trigger(core: &Core, id: &str, directory: Option<String>, stop: bool) -> Response {
    match core.trigger_savepoint(id, directory, stop, None) {
        Ok(request) => {
            (StatusCode::ACCEPTED, Json(json!({ "request-id": request }))).into_response()
        }
        Err(why @ SavepointError::NoSuchJob { .. }) => {
            error(StatusCode::NOT_FOUND, why.to_string())
        }
        Err(why) => error(StatusCode::CONFLICT, why.to_string()),
    }
}

/// `POST /jobs/:id/savepoints` `{"target-directory": ..., "cancel-job": false}`.
async fn savepoint(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    body: Option<Json<SavepointBody>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    trigger(&core, &id, body.target_directory, body.cancel_job)
}

/// `POST /jobs/:id/stop` `{"targetDirectory": ...}`: stop-with-savepoint.
async fn stop(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    body: Option<Json<SavepointBody>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    trigger(&core, &id, body.target_directory, true)
}

async fn savepoint_status(
    State(core): State<Arc<Core>>,
    Path((id, request)): Path<(String, String)>,
) -> Response {
    let status = match core.savepoint_status(&id, &request) {
        Some(status) => status,
        None => {
            return error(
                StatusCode::NOT_FOUND,
                format!("job {id} has no savepoint request {request}"),
            )
        }
    };
    let body = match status {
        SavepointStatus::InProgress => json!({ "status": { "id": "IN_PROGRESS" } }),
        SavepointStatus::Completed(location) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "location": location },
        }),
        SavepointStatus::Failed(why) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": { "stack-trace": why } },
        }),
    };
    Json(body).into_response()
}

async fn task_managers(State(core): State<Arc<Core>>) -> Json<Value> {
    let tms: Vec<Value> = core
        .task_managers()
        .iter()
        .map(|tm| {
            json!({
                "id": tm.id,
                "path": tm.data_address,
                "dataPort": tm.data_address.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()),
                "metricsAddress": tm.metrics_address,
                "slotsNumber": tm.slots,
                "freeSlots": tm.free_slots,
                "timeSinceLastHeartbeat": tm.since_heartbeat.as_millis() as u64,
                "version": tm.version,
            })
        })
        .collect();
    Json(json!({ "taskmanagers": tms }))
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(core): State<Arc<Core>>) -> impl IntoResponse {
    let tms = core.task_managers();
    let jobs = core.jobs();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP weir_jobmanager_{name} {help}");
        let _ = writeln!(out, "# TYPE weir_jobmanager_{name} gauge");
        let _ = writeln!(out, "weir_jobmanager_{name} {value}");
    };
    gauge(
        "numRegisteredTaskManagers",
        "TaskManagers registered.",
        tms.len() as f64,
    );
    gauge(
        "taskSlotsTotal",
        "Task slots offered by all TaskManagers.",
        tms.iter().map(|t| t.slots).sum::<u32>() as f64,
    );
    gauge(
        "taskSlotsAvailable",
        "Task slots not running a job.",
        tms.iter().map(|t| t.free_slots).sum::<u32>() as f64,
    );
    gauge(
        "numRunningJobs",
        "Jobs not yet finished, failed or cancelled.",
        jobs.iter().filter(|j| !has_ended(j)).count() as f64,
    );
    let series: [(&str, &str, &str); 9] = [
        (
            "lastCheckpointDuration",
            "gauge",
            "Milliseconds the last completed checkpoint took.",
        ),
        (
            "lastCheckpointSize",
            "gauge",
            "Bytes of state in the last completed checkpoint.",
        ),
        (
            "numberOfCompletedCheckpoints",
            "counter",
            "Checkpoints and savepoints completed.",
        ),
        (
            "numberOfFailedCheckpoints",
            "counter",
            "Checkpoints and savepoints that failed.",
        ),
        (
            "numberOfInProgressCheckpoints",
            "gauge",
            "Checkpoints under way.",
        ),
        ("numRestarts", "counter", "Restarts of the job so far."),
        ("numRecordsIn", "counter", "Records the job's source read."),
        ("numRecordsOut", "counter", "Records the job's sink wrote."),
        (
            "uptime",
            "gauge",
            "Milliseconds since the job was submitted.",
        ),
    ];
    let default_stats = CheckpointStats::default();
    let checkpoints: Vec<(&CheckpointStats, Option<&CheckpointSummary>)> = jobs
        .iter()
        .map(|job| {
            let stats = job.checkpoints.as_ref().unwrap_or(&default_stats);
            let last = stats.history.iter().find(|c| c.status == "COMPLETED");
            (stats, last)
        })
        .collect();
    for (name, kind, help) in series {
        let _ = writeln!(out, "# HELP weir_jobmanager_job_{name} {help}");
        let _ = writeln!(out, "# TYPE weir_jobmanager_job_{name} {kind}");
        for (job, (stats, last)) in jobs.iter().zip(&checkpoints) {
            let value = match name {
                "lastCheckpointDuration" => last.map_or(0.0, |c| c.duration_ms as f64),
                "lastCheckpointSize" => last.map_or(0.0, |c| c.state_size_bytes as f64),
                "numberOfCompletedCheckpoints" => stats.completed as f64,
                "numberOfFailedCheckpoints" => stats.failed as f64,
                "numberOfInProgressCheckpoints" => stats.in_progress as f64,
                "numRestarts" => job.restarts as f64,
                "numRecordsIn" => job.source_records as f64,
                "numRecordsOut" => job.sink_records as f64,
                _ => duration_ms(job) as f64,
            };
            let _ = writeln!(
                out,
                "weir_jobmanager_job_{name}{{job_id=\"{}\",job_name=\"{}\",state=\"{}\"}} {value}",
                escape(&job.job_id),
                escape(&job.name),
                job.state_name()
            );
        }
    }
    ([("content-type", "text/plain; version=0.0.4")], out)
}
