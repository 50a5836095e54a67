//! What REST, the CLI and the controller see of a job.

use weir_proto::v1::{JobCounters, JobDetails, OperatorDetails, TaskState, VertexDetails};
use weir_types::JobGraph;
use weir_types::JobState;

use super::*;

pub(super) fn details(job: &Job) -> JobDetails {
    let sum = |f: &dyn Fn(&JobCounters) -> u64| job.counters.values().map(f).sum::<u64>();
    let op_in = |i: usize| sum(&|c| c.operator_records_in.get(i).copied().unwrap_or(0));
    let op_out = |i: usize| sum(&|c| c.operator_records_out.get(i).copied().unwrap_or(0));
    let source_records = sum(&|c| c.source_records);
    let sink_records = sum(&|c| c.sink_records);
    let vertices = job
        .graph
        .vertices
        .iter()
        .enumerate()
        .map(|(v, vertex)| {
            let states: Vec<TaskState> = job
                .tasks
                .iter()
                .filter(|((tv, _), _)| *tv as usize == v)
                .map(|(_, s)| *s)
                .collect();
            let records_in = match (vertex.reads_source, vertex.operators.first()) {
                (true, _) => 0,
                (false, Some(&first)) => op_in(first),
                (false, None) => sink_records,
            };
            let records_out = match vertex.operators.last() {
                Some(&last) => op_out(last),
                None if vertex.reads_source => source_records,
                None => 0,
            };
            VertexDetails {
                id: format!("v{v}"),
                name: vertex.name.clone(),
                parallelism: vertex.parallelism,
                state: vertex_state(job.state, &states).to_string(),
                records_in,
                records_out,
                task_managers: (0..vertex.parallelism as usize)
                    .map(|s| job.hosts.get(s).cloned().unwrap_or_default())
                    .collect(),
            }
        })
        .collect();
    let operators = job
        .spec
        .operators
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let totals = job.operators.get(&(i as u32));
            OperatorDetails {
                name: op.name.clone(),
                kind: op.kind(op.sha256.as_deref()),
                parallelism: job.spec.operator_parallelism(op),
                records_in: op_in(i),
                records_out: op_out(i),
                user_metrics: totals
                    .map(|t| t.user_metrics.clone().into_iter().collect())
                    .unwrap_or_default(),
                instance_recycles: totals.map(|t| t.recycles).unwrap_or(0),
                peak_memory_bytes: totals.map(|t| t.peak_memory).unwrap_or(0),
            }
        })
        .collect();
    JobDetails {
        job_id: job.id.clone(),
        name: job.spec.name.clone(),
        state: weir_proto::v1::JobState::from(job.state) as i32,
        status_message: job.status_message.clone(),
        start_time_ms: job.submitted_ms,
        end_time_ms: job.end_ms,
        restarts: job.history.restarts,
        attempt: job.attempt,
        vertices,
        source_records,
        sink_records,
        operators,
        required_slots: job.graph.required_slots(),
        checkpoints: Some(job.checkpoints.stats()),
        exceptions: job.exceptions.entries(),
        exceptions_truncated: job.exceptions.truncated(),
    }
}

/// "name (subtask/parallelism)", as tasks are named everywhere.
pub(super) fn task_name(graph: &JobGraph, vertex: u32, subtask: u32) -> String {
    match graph.vertices.get(vertex as usize) {
        Some(v) => format!("{} ({}/{})", v.name, subtask + 1, v.parallelism),
        None => format!("vertex {vertex} ({})", subtask + 1),
    }
}

pub(super) fn vertex_state(job: JobState, tasks: &[TaskState]) -> &'static str {
    let all = |s: TaskState| !tasks.is_empty() && tasks.iter().all(|t| *t == s);
    if all(TaskState::Finished) {
        "FINISHED"
    } else if tasks.contains(&TaskState::Failed) {
        "FAILED"
    } else if tasks.contains(&TaskState::Running) {
        "RUNNING"
    } else if tasks.contains(&TaskState::Deploying) {
        "DEPLOYING"
    } else if all(TaskState::Canceled) {
        "CANCELED"
    } else if job == JobState::Created || job == JobState::Restarting {
        "CREATED"
    } else {
        job.name()
    }
}
