//! What the client commands print, and how: a job as a table and its
//! failures, written to standard output so that a reader that goes away
//! (`weir list | head -2`) ends the output quietly, as Unix tools do.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};
use weir_proto::v1::{JobDetails, JobException};

/// Writes `text` to standard output; a closed pipe ends it without an error.
pub fn print_out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn duration_text(job: &JobDetails) -> String {
    let end = if job.end_time_ms < 0 {
        now_ms()
    } else {
        job.end_time_ms
    };
    format!("{:.1} s", (end - job.start_time_ms).max(0) as f64 / 1e3)
}

/// `weir list`'s table.
pub fn jobs_table(jobs: &[JobDetails]) -> String {
    let mut out = format!(
        "{:<32}  {:<11}  {:>8}  {:>10}  NAME\n",
        "JOB ID", "STATE", "RESTARTS", "DURATION"
    );
    for job in jobs {
        let _ = writeln!(
            out,
            "{:<32}  {:<11}  {:>8}  {:>10}  {}",
            job.job_id,
            job.state_name(),
            job.restarts,
            duration_text(job),
            job.name
        );
    }
    out
}

/// Where a failure came from: "count (2/3) on tm-1 (127.0.0.1:6121)".
fn failure_origin(e: &JobException) -> String {
    let place = match (e.task_name.as_str(), e.task_manager_id.as_str()) {
        ("", "") => String::new(),
        ("", tm) => format!("TaskManager {tm}"),
        (task, "") => task.to_string(),
        (task, tm) => format!("{task} on {tm}"),
    };
    match (place.is_empty(), e.endpoint.is_empty()) {
        (false, false) => format!("{place} ({})", e.endpoint),
        _ => place,
    }
}

/// `weir status`'s text.
pub fn job_text(job: &JobDetails) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Job {} '{}'", job.job_id, job.name);
    let _ = writeln!(out, "  state      {}", job.state_name());
    if !job.status_message.is_empty() {
        let _ = writeln!(out, "  status     {}", job.status_message);
    }
    let _ = writeln!(out, "  duration   {}", duration_text(job));
    let _ = writeln!(out, "  restarts   {}", job.restarts);
    let _ = writeln!(
        out,
        "  records    {} from the source, {} to the sink",
        job.source_records, job.sink_records
    );
    if let Some(stats) = &job.checkpoints {
        if stats.completed + stats.failed + stats.in_progress > 0 {
            let last = stats.history.iter().find(|c| c.status == "COMPLETED");
            let _ = writeln!(
                out,
                "  checkpoints {} completed, {} failed{}",
                stats.completed,
                stats.failed,
                last.map(|c| format!(
                    "; last {} ({} bytes, {} ms) at {}",
                    c.id, c.state_size_bytes, c.duration_ms, c.location
                ))
                .unwrap_or_default()
            );
        }
        if let Some(restored) = &stats.last_restored {
            let _ = writeln!(
                out,
                "  restored   {} from {}",
                restored.id, restored.location
            );
        }
    }
    let _ = writeln!(
        out,
        "  {:<4}  {:<24}  {:>11}  {:<10}  {:>12}  {:>12}",
        "", "VERTEX", "PARALLELISM", "STATE", "RECORDS IN", "RECORDS OUT"
    );
    for vertex in &job.vertices {
        let _ = writeln!(
            out,
            "  {:<4}  {:<24}  {:>11}  {:<10}  {:>12}  {:>12}",
            vertex.id,
            vertex.name,
            vertex.parallelism,
            vertex.state,
            vertex.records_in,
            vertex.records_out
        );
    }
    if !job.exceptions.is_empty() {
        let now = now_ms();
        let _ = writeln!(
            out,
            "  failures, newest first{}:",
            if job.exceptions_truncated {
                " (older ones dropped)"
            } else {
                ""
            }
        );
        for e in &job.exceptions {
            let ago = (now - e.timestamp_ms).max(0) as f64 / 1e3;
            let origin = failure_origin(e);
            let _ = writeln!(
                out,
                "    {ago:.1} s ago, attempt {}: {}{}",
                e.attempt,
                e.kind,
                if origin.is_empty() {
                    String::new()
                } else {
                    format!(" in {origin}")
                }
            );
            let _ = writeln!(out, "      {}", e.message);
            for other in &e.concurrent {
                let _ = writeln!(
                    out,
                    "      also {}: {}",
                    failure_origin(other),
                    other.message
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_show_where_and_why() {
        let job = JobDetails {
            job_id: "j".into(),
            name: "n".into(),
            state: weir_proto::v1::JobState::Restarting as i32,
            end_time_ms: -1,
            exceptions: vec![JobException {
                timestamp_ms: now_ms(),
                kind: "TaskManagerLost".into(),
                task_manager_id: "tm-1".into(),
                endpoint: "127.0.0.1:6121".into(),
                message: "TaskManager tm-1 was lost: it closed its connection".into(),
                attempt: 2,
                concurrent: vec![JobException {
                    task_name: "sink (1/1)".into(),
                    message: "data channel closed".into(),
                    ..JobException::default()
                }],
                ..JobException::default()
            }],
            ..JobDetails::default()
        };
        let text = job_text(&job);
        assert!(
            text.contains("attempt 2: TaskManagerLost in TaskManager tm-1 (127.0.0.1:6121)")
                && text.contains("it closed its connection")
                && text.contains("also sink (1/1): data channel closed"),
            "{text}"
        );
    }
}
