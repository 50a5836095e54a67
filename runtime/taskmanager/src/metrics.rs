//! `/metrics` in Prometheus text format, with Flink's metric names under a
//! `weir_taskmanager_` prefix (`..._job_task_numRecordsIn` and so on).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use crate::tasks::Tasks;

pub async fn serve(address: SocketAddr, tasks: Arc<Tasks>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let ready = tasks.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let tasks = tasks.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        render(&tasks),
                    )
                }
            }),
        )
        // Liveness: the process answers. Readiness: it is registered with
        // a JobManager, so it can be given tasks.
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.is_connected();
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not registered with the JobManager\n",
                        )
                    }
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(bound)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(tasks: &Tasks) -> String {
    let slots = tasks.shared.slots;
    let mut out = String::new();
    let id = escape(&tasks.shared.id);
    let used = tasks.slots_in_use();
    let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP weir_taskmanager_{name} {help}");
        let _ = writeln!(out, "# TYPE weir_taskmanager_{name} gauge");
        let _ = writeln!(out, "weir_taskmanager_{name}{{tm_id=\"{id}\"}} {value}");
    };
    gauge(
        &mut out,
        "taskSlotsTotal",
        "Task slots this TaskManager offers.",
        f64::from(slots),
    );
    gauge(
        &mut out,
        "taskSlotsAvailable",
        "Task slots not running a job.",
        f64::from(slots.saturating_sub(used)),
    );
    gauge(
        &mut out,
        "keyedStateBytes",
        "Bytes of keyed state all jobs hold here, as its limit (taskmanager.stateSize) counts them.",
        tasks.shared.state_budget.used() as f64,
    );
    gauge(
        &mut out,
        "keyedStateBytesMax",
        "The limit of keyed state on this TaskManager (taskmanager.stateSize).",
        tasks.shared.state_budget.limit() as f64,
    );
    gauge(
        &mut out,
        "dataplane_bufferedBytes",
        "Bytes the data plane holds: coalescing, in flight, or waiting for an input gate.",
        tasks.shared.buffered.current() as f64,
    );
    gauge(
        &mut out,
        "dataplane_sentBytes",
        "Bytes of data frames sent to other TaskManagers.",
        tasks.shared.buffered.sent_bytes() as f64,
    );
    gauge(
        &mut out,
        "dataplane_bufferedBytesMax",
        "The most bytes the data plane has held at once.",
        tasks.shared.buffered.max() as f64,
    );

    let series: [(&str, &str, &str); 6] = [
        ("numRecordsIn", "counter", "Records the task received."),
        ("numRecordsOut", "counter", "Records the task emitted."),
        (
            "numRecordsInPerSecond",
            "gauge",
            "Records received per second.",
        ),
        (
            "numRecordsOutPerSecond",
            "gauge",
            "Records emitted per second.",
        ),
        (
            "busyTimeMsPerSecond",
            "gauge",
            "Milliseconds per second the task was working.",
        ),
        (
            "backPressuredTimeMsPerSecond",
            "gauge",
            "Milliseconds per second the task waited on a full consumer.",
        ),
    ];
    tasks.with_jobs(|jobs| {
        for (name, kind, help) in series {
            let _ = writeln!(out, "# HELP weir_taskmanager_job_task_{name} {help}");
            let _ = writeln!(out, "# TYPE weir_taskmanager_job_task_{name} {kind}");
            for job in jobs.values() {
                for task in &job.tasks {
                    let value = match name {
                        "numRecordsIn" => task.metrics.records_in.load(Ordering::Relaxed) as f64,
                        "numRecordsOut" => task.metrics.records_out.load(Ordering::Relaxed) as f64,
                        "numRecordsInPerSecond" => task.rates.records_in_per_second,
                        "numRecordsOutPerSecond" => task.rates.records_out_per_second,
                        "busyTimeMsPerSecond" => task.rates.busy_ms_per_second,
                        _ => task.rates.backpressured_ms_per_second,
                    };
                    let _ = writeln!(
                        out,
                        "weir_taskmanager_job_task_{name}{{tm_id=\"{id}\",job_id=\"{}\",job_name=\"{}\",attempt=\"{}\",task_name=\"{}\",subtask_index=\"{}\"}} {value}",
                        escape(&job.job_id),
                        escape(&job.job_name),
                        job.attempt,
                        escape(&task.name),
                        task.subtask,
                    );
                }
            }
        }
    });
    out
}
