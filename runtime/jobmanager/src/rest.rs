//! The REST API, shaped like Flink's (field names included, so that Flink
//! users and tools find what they expect), and `/metrics`.
//! docs/rest-api.md documents every route.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use weir_proto::v1::{user_metric, JobDetails};

use crate::core::{now_ms, Core};

pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/overview", get(overview))
        .route("/jobs", get(jobs))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/{id}", get(job).patch(cancel))
        .route("/taskmanagers", get(task_managers))
        .route("/metrics", get(metrics))
        .with_state(core)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "errors": [message] }))).into_response()
}

async fn overview(State(core): State<Arc<Core>>) -> Json<Value> {
    let tms = core.task_managers();
    let jobs = core.jobs();
    let count = |state: &str| jobs.iter().filter(|j| j.state == state).count();
    Json(json!({
        "taskmanagers": tms.len(),
        "slots-total": tms.iter().map(|t| t.slots).sum::<u32>(),
        "slots-available": tms.iter().map(|t| t.free_slots).sum::<u32>(),
        "jobs-running": jobs.iter().filter(|j| !matches!(j.state.as_str(), "FINISHED" | "FAILED" | "CANCELED")).count(),
        "jobs-finished": count("FINISHED"),
        "jobs-cancelled": count("CANCELED"),
        "jobs-failed": count("FAILED"),
        "weir-version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn jobs(State(core): State<Arc<Core>>) -> Json<Value> {
    let jobs: Vec<Value> = core
        .jobs()
        .iter()
        .map(|j| json!({ "id": j.job_id, "status": j.state }))
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

fn summary(job: &JobDetails) -> Value {
    json!({
        "jid": job.job_id,
        "name": job.name,
        "state": job.state,
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
        jobs.iter()
            .filter(|j| !matches!(j.state.as_str(), "FINISHED" | "FAILED" | "CANCELED"))
            .count() as f64,
    );
    let series: [(&str, &str, &str); 4] = [
        ("numRestarts", "counter", "Restarts of the job so far."),
        ("numRecordsIn", "counter", "Records the job's source read."),
        ("numRecordsOut", "counter", "Records the job's sink wrote."),
        (
            "uptime",
            "gauge",
            "Milliseconds since the job was submitted.",
        ),
    ];
    for (name, kind, help) in series {
        let _ = writeln!(out, "# HELP weir_jobmanager_job_{name} {help}");
        let _ = writeln!(out, "# TYPE weir_jobmanager_job_{name} {kind}");
        for job in &jobs {
            let value = match name {
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
                job.state
            );
        }
    }
    ([("content-type", "text/plain; version=0.0.4")], out)
}
