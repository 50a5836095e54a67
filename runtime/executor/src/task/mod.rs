//! One task: a subtask of a vertex of the job graph. It reads its source or
//! its input gate, runs its chain of operators, and writes its sink or its
//! outboxes. `weir run`, the TaskManager and the tests run tasks the same way;
//! only where the outboxes lead differs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use weir_state::StateBudget;
use weir_types::{EventTimeSpec, JobGraph, JobSpec, UserMetric};

use crate::checkpoint::TaskCheckpoints;
use crate::exchange::{Downstream, Message, OpenError, Outbox, SendError};
use crate::gate::{GateReceiver, RecvError};
use crate::job::{JobError, RunDefaults};
use crate::metrics::{JobMetrics, TaskMetrics};
use crate::operator::{InstanceStats, OpenInfo, Operator};
use crate::paths::PathPolicy;
use crate::schema::column_indices;
use crate::source::Source;
use crate::time::{InputWatermarks, WatermarkGenerator, MAX_WATERMARK};
use crate::user::UserOperators;

mod alignment;
mod build;
mod chain;
mod checkpointing;
mod side_outputs;

use alignment::{producer_of, Alignment};
pub use build::source_schema;
use build::{create_operator, create_sink, create_source};
use side_outputs::SideOutputs;

/// How often a task blocked on its input looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(100);
/// How often a running task lets its operators fire processing-time timers
/// (at most: a task blocked on its input does so every `CANCEL_POLL`).
const PROCESSING_TIME_TICK: Duration = Duration::from_millis(10);

/// Which task to build, and from what.
pub struct TaskSetup<'a> {
    pub spec: &'a JobSpec,
    pub graph: &'a JobGraph,
    pub vertex: usize,
    pub subtask: u32,
    pub attempt: u32,
    /// Relative file paths in the spec resolve against it.
    pub base_dir: &'a Path,
    /// Makes the operators that run user code.
    pub operators: &'a dyn UserOperators,
    pub defaults: &'a RunDefaults,
    /// Which files sources and sinks may touch.
    pub paths: &'a PathPolicy,
    /// Bounds the keyed state of the task's operators shares (the job's on
    /// this TaskManager, the TaskManager's).
    pub state_budgets: &'a [Arc<StateBudget>],
}

/// Where a task's records come from when it does not read the source: one
/// bounded channel that every producer of the previous vertex sends to.
pub struct InputGate {
    pub receiver: GateReceiver,
    pub producers: usize,
}

enum Input {
    Source(Box<dyn Source>),
    Gate(InputGate),
}

struct Link {
    operator: Box<dyn Operator>,
    /// Index of the operator in the job spec (and in the metrics).
    index: usize,
    /// Whether the task writes side outputs of the operator: it takes them
    /// after each call.
    has_side_outputs: bool,
}

/// What a finished task reports per operator: index, user metrics, stats.
pub type OperatorReports = Vec<(usize, Vec<(String, UserMetric)>, InstanceStats)>;

pub struct Task {
    name: String,
    input: Input,
    chain: Vec<Link>,
    side_outputs: SideOutputs,
    downstream: Downstream,
    /// Known once the task is open.
    input_schema: Option<SchemaRef>,
    opened: bool,
    subtask: u32,
    parallelism: u32,
    max_parallelism: u32,
    attempt: u32,
    key_fields: BTreeMap<usize, Vec<String>>,
    operator_names: Vec<String>,
    next_key_operator: Option<usize>,
    event_time: Option<EventTimeSpec>,
    /// Source tasks with event time: their watermarks.
    watermarks: Option<WatermarkGenerator>,
    /// Tasks fed by producers, with event time: the producers' watermarks.
    input_watermarks: Option<InputWatermarks>,
    last_processing_time: Instant,
    checkpoints: Option<TaskCheckpoints>,
    alignment: Alignment,
    /// Source tasks: how long without a record makes them idle.
    idle_timeout: Option<Duration>,
    last_record: Instant,
    /// The consumers were told this task is idle.
    idle: bool,
    checkpointing: bool,
}

impl Task {
    /// Creates the task's source or takes its gate, instantiates its
    /// operators (not yet open) and creates its sink or takes its outboxes
    /// (one per subtask of the next vertex).
    pub fn new(
        setup: &TaskSetup<'_>,
        gate: Option<InputGate>,
        outboxes: Vec<Box<dyn Outbox>>,
    ) -> Result<Task, JobError> {
        let spec = setup.spec;
        let vertex =
            setup.graph.vertices.get(setup.vertex).ok_or_else(|| {
                JobError::Internal(format!("the job has no vertex {}", setup.vertex))
            })?;
        let input = match (vertex.reads_source, gate) {
            (true, _) => Input::Source(create_source(setup, setup.subtask, vertex.parallelism)?),
            (false, Some(gate)) => Input::Gate(gate),
            (false, None) => {
                return Err(JobError::Internal(format!(
                    "task {} of vertex {} has no input",
                    setup.subtask, vertex.name
                )))
            }
        };
        let mut chain = Vec::new();
        let mut side_outputs = SideOutputs::default();
        for &index in &vertex.operators {
            let op = &spec.operators[index];
            let operator =
                create_operator(setup, vertex.parallelism, index, op, &mut side_outputs)?;
            chain.push(Link {
                operator,
                index,
                has_side_outputs: false,
            });
        }
        let downstream = match setup.graph.output_of(setup.vertex) {
            None => Downstream::Sink(create_sink(setup)?),
            Some(partitioning) => {
                Downstream::channels(&partitioning, outboxes, spec.max_parallelism, setup.subtask)
            }
        };
        let next_key_operator = setup
            .graph
            .vertices
            .get(setup.vertex + 1)
            .and_then(|next| next.operators.first().copied());
        Ok(Task {
            name: format!(
                "{} ({}/{})",
                vertex.name,
                setup.subtask + 1,
                vertex.parallelism
            ),
            input,
            chain,
            side_outputs,
            downstream,
            input_schema: vertex.reads_source.then(|| source_schema(spec)),
            opened: false,
            subtask: setup.subtask,
            parallelism: vertex.parallelism,
            max_parallelism: spec.max_parallelism,
            attempt: setup.attempt,
            key_fields: spec
                .operators
                .iter()
                .enumerate()
                .map(|(i, op)| (i, op.key_by.clone()))
                .collect(),
            operator_names: spec.operators.iter().map(|op| op.name.clone()).collect(),
            next_key_operator,
            event_time: spec.event_time.clone(),
            watermarks: None,
            input_watermarks: spec
                .event_time
                .as_ref()
                .filter(|_| !vertex.reads_source)
                .map(|_| InputWatermarks::new(setup.graph.producers_of(setup.vertex))),
            last_processing_time: Instant::now(),
            checkpoints: None,
            alignment: Alignment::default(),
            idle_timeout: spec
                .event_time
                .as_ref()
                .and_then(|e| e.idle_timeout())
                .filter(|_| vertex.reads_source),
            last_record: Instant::now(),
            idle: false,
            checkpointing: spec.checkpointing.is_some(),
        })
    }

    /// Lets the task take part in checkpoints (and restore one).
    pub fn with_checkpoints(mut self, checkpoints: TaskCheckpoints) -> Task {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// "name (subtask/parallelism)".
    pub fn name(&self) -> &str {
        &self.name
    }

    fn plan_error(&self, index: usize, message: String) -> JobError {
        JobError::Plan {
            index,
            operator: self.operator_names.get(index).cloned().unwrap_or_default(),
            message,
        }
    }

    /// Opens the chain for `input` and tells the consumers the output
    /// schema; returns it.
    pub fn open(&mut self, input: SchemaRef) -> Result<SchemaRef, JobError> {
        if let (Input::Source(_), Some(event_time)) = (&self.input, &self.event_time) {
            self.watermarks = Some(
                WatermarkGenerator::new(event_time, &input)
                    .map_err(|e| JobError::Config(format!("eventTime.column: {e}")))?,
            );
        }
        let mut schema = input.clone();
        for link in &mut self.chain {
            let key_fields = self
                .key_fields
                .get(&link.index)
                .cloned()
                .unwrap_or_default();
            if !key_fields.is_empty() {
                if let Err(e) = column_indices(&schema, &key_fields) {
                    let operator = self.operator_names.get(link.index).cloned();
                    return Err(JobError::Plan {
                        index: link.index,
                        operator: operator.unwrap_or_default(),
                        message: format!("keyBy: {e}"),
                    });
                }
            }
            let info = OpenInfo {
                key_fields,
                subtask_index: self.subtask,
                parallelism: self.parallelism,
                max_parallelism: self.max_parallelism,
                event_time_column: self.event_time.as_ref().map(|e| e.column.clone()),
                attempt: self.attempt,
                checkpointing: self.checkpointing,
                side_outputs: self.side_outputs.tags_of(link.index),
            };
            link.has_side_outputs = !info.side_outputs.is_empty();
            schema = link.operator.open(schema, &info)?;
        }
        match self.downstream.open(&schema) {
            Ok(()) => {}
            Err(OpenError::KeyBy(e)) => {
                let index = self.next_key_operator.unwrap_or(0);
                return Err(self.plan_error(index, format!("keyBy: {e}")));
            }
            Err(OpenError::Send(e)) => return Err(send_error(e)),
        }
        self.input_schema = Some(input);
        self.opened = true;
        if let Some(snapshot) = self.checkpoints.as_mut().and_then(|c| c.restore.take()) {
            self.restore(&snapshot)?;
        }
        Ok(schema)
    }

    /// The next input message and the number of producers: what alignment
    /// released first, then the gate's; messages of producers being
    /// aligned are held back.
    fn next_message(&mut self) -> (Result<Message, RecvError>, usize) {
        let Input::Gate(gate) = &mut self.input else {
            return (Err(RecvError::Disconnected), 0);
        };
        let producers = gate.producers;
        loop {
            let message = match self.alignment.replay.pop_front() {
                Some(message) => message,
                None => match gate.receiver.recv_timeout(CANCEL_POLL) {
                    Ok(message) => message,
                    Err(e) => return (Err(e), producers),
                },
            };
            if producer_of(&message).is_some_and(|p| self.alignment.is_held(p)) {
                self.alignment.held.push_back(message);
                continue;
            }
            return (Ok(message), producers);
        }
    }

    /// The task was idle and has input again: its current watermark tells
    /// the consumers it is active.
    fn reactivate(&mut self) -> Result<(), JobError> {
        self.idle = false;
        let current = match &self.watermarks {
            Some(generator) => generator.current(),
            None => self.input_watermarks.as_ref().and_then(|w| w.current()),
        };
        match current {
            Some(at) => self.downstream.emit_watermark(at).map_err(send_error),
            None => Ok(()),
        }
    }

    /// Runs the task to its end, or to its first failure. A task that is not
    /// open yet opens when its source or first producer tells the schema.
    pub fn run(
        mut self,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
        cancelled: &AtomicBool,
    ) -> Result<OperatorReports, JobError> {
        let result = self.run_to_end(metrics, task_metrics, cancelled);
        if result.is_err() {
            self.commit_completed();
        }
        result
    }

    fn run_to_end(
        &mut self,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
        cancelled: &AtomicBool,
    ) -> Result<OperatorReports, JobError> {
        if !self.opened {
            if let Some(schema) = self.input_schema.clone() {
                self.open(schema)?;
            }
        }
        loop {
            self.control()?;
            if cancelled.load(Ordering::Relaxed) {
                return Err(JobError::Cancelled);
            }
            let now = Instant::now();
            if let Some(sink) = self.downstream.sink() {
                sink.flush_if_due(now).map_err(JobError::Sink)?;
            }
            self.side_outputs.flush_if_due(now)?;
            if self.opened && self.last_processing_time.elapsed() >= PROCESSING_TIME_TICK {
                self.fire_processing_time(metrics, task_metrics)?;
            }
            if let Input::Source(source) = &self.input {
                let wait = source
                    .ready_at()
                    .map(|at| at.saturating_duration_since(Instant::now()))
                    .unwrap_or_default();
                if !wait.is_zero() {
                    // A paced source: wait in slices, taking checkpoints
                    // and firing timers meanwhile.
                    if !self.idle
                        && self
                            .idle_timeout
                            .is_some_and(|t| self.last_record.elapsed() >= t)
                    {
                        self.idle = true;
                        self.downstream.emit_idle().map_err(send_error)?;
                    }
                    std::thread::sleep(wait.min(PROCESSING_TIME_TICK));
                    continue;
                }
            }
            let batch = match &mut self.input {
                Input::Source(source) => match source.next_batch().map_err(JobError::Source)? {
                    Some(batch) => {
                        metrics
                            .source_records
                            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                        batch
                    }
                    None => {
                        if self.watermarks.is_some() {
                            // A bounded source has ended: event time is over.
                            self.advance_watermark(MAX_WATERMARK, metrics, task_metrics)?;
                        }
                        break;
                    }
                },
                Input::Gate(_) => {
                    let (message, producers) = self.next_message();
                    match message {
                        Ok(Message::Batch(_, batch)) => batch,
                        Ok(Message::Schema(schema)) => {
                            self.check_input_schema(schema)?;
                            continue;
                        }
                        Ok(Message::Idle(producer)) => {
                            let advanced = self
                                .input_watermarks
                                .as_mut()
                                .and_then(|w| w.set_idle(producer as usize));
                            if let Some(watermark) = advanced {
                                self.advance_watermark(watermark, metrics, task_metrics)?;
                            }
                            let all_idle =
                                self.input_watermarks.as_ref().is_some_and(|w| w.all_idle());
                            if all_idle && !self.idle {
                                self.idle = true;
                                self.downstream.emit_idle().map_err(send_error)?;
                            }
                            continue;
                        }
                        Ok(Message::Barrier(producer, barrier)) => {
                            self.on_barrier(producer, barrier, producers)?;
                            continue;
                        }
                        Ok(Message::Watermark { producer, at }) => {
                            let advanced = self
                                .input_watermarks
                                .as_mut()
                                .and_then(|w| w.update(producer as usize, at));
                            match advanced {
                                Some(watermark) => {
                                    self.idle = false;
                                    self.advance_watermark(watermark, metrics, task_metrics)?;
                                }
                                None if self.idle => self.reactivate()?,
                                None => {}
                            }
                            continue;
                        }
                        Ok(Message::End(producer)) => {
                            self.alignment.ended.insert(producer);
                            if self.alignment.ended.len() >= producers {
                                break;
                            }
                            self.finish_alignment(producers)?;
                            continue;
                        }
                        Err(RecvError::Timeout) => continue,
                        // Every producer is gone without ending: one of them failed.
                        Err(RecvError::Disconnected) => return Err(JobError::Cancelled),
                    }
                }
            };
            task_metrics
                .records_in
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            if self.watermarks.is_some() {
                self.last_record = Instant::now();
                if self.idle {
                    self.reactivate()?;
                }
            }
            let watermark = self.watermarks.as_mut().and_then(|w| w.observe(&batch));
            // Busy is working time: blocked on a full consumer does not count.
            let started = Instant::now();
            let blocked_before = task_metrics.backpressured_nanos.load(Ordering::Relaxed);
            self.push(0, vec![batch], metrics, task_metrics)?;
            let blocked = task_metrics.backpressured_nanos.load(Ordering::Relaxed) - blocked_before;
            task_metrics.add_busy(
                started
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(blocked)),
            );
            if let Some(watermark) = watermark {
                self.advance_watermark(watermark, metrics, task_metrics)?;
            }
        }
        if !self.opened {
            // No producer ever opened: the input was empty of everything.
            return Err(JobError::Internal(format!(
                "task {} ended before its input told its schema",
                self.name
            )));
        }
        self.close_chain(metrics, task_metrics)?;
        self.side_outputs.finish()?;
        self.downstream.finish().map_err(send_error)?;
        Ok(self
            .chain
            .iter()
            .map(|link| {
                (
                    link.index,
                    link.operator.user_metrics(),
                    link.operator.instance_stats(),
                )
            })
            .collect())
    }

    /// The first producer's schema opens the task; every other producer
    /// must send the same one.
    fn check_input_schema(&mut self, schema: SchemaRef) -> Result<(), JobError> {
        match &self.input_schema {
            None => {
                self.open(schema)?;
                Ok(())
            }
            Some(known) if known.fields() == schema.fields() => Ok(()),
            Some(_) => {
                let index = self.chain.first().map(|l| l.index).unwrap_or(0);
                Err(self.plan_error(
                    index,
                    "the subtasks before it declared different output schemas".into(),
                ))
            }
        }
    }
}

fn send_error(error: SendError) -> JobError {
    match error {
        SendError::Disconnected => JobError::Cancelled,
        SendError::Sink(message) => JobError::Sink(message),
        SendError::Channel(message) => JobError::Channel(message),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// An outbox that keeps what it is sent.
    struct Capture(Arc<Mutex<Vec<Message>>>);

    impl Outbox for Capture {
        fn send(&mut self, message: Message) -> Result<(), SendError> {
            self.0.lock().unwrap().push(message);
            Ok(())
        }
    }

    #[test]
    fn a_paced_source_goes_idle_between_records_and_active_with_its_watermark() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("events.jsonl"),
            "{\"k\":\"a\",\"ts\":10}\n{\"k\":\"b\",\"ts\":20}\n{\"k\":\"a\",\"ts\":30}\n",
        )
        .unwrap();
        let spec = JobSpec::from_yaml(
            "name: idle\nbatchSize: 1\n\
             source: {type: jsonl, path: events.jsonl, rate: 10, \
             schema: [{name: k, type: utf8}, {name: ts, type: int64}]}\n\
             eventTime: {column: ts, idleTimeout: 30ms}\n\
             operators: [{name: count, builtin: count, keyBy: [k], parallelism: 2}]\n\
             sink: {type: blackhole}\n",
        )
        .unwrap();
        let graph = JobGraph::of(&spec);
        let defaults = RunDefaults::default();
        let setup = TaskSetup {
            spec: &spec,
            graph: &graph,
            vertex: 0,
            subtask: 0,
            attempt: 0,
            base_dir: dir.path(),
            operators: &crate::NoUserOperators,
            defaults: &defaults,
            paths: &PathPolicy::deny_all().allow(dir.path()),
            state_budgets: &[],
        };
        let captured: Vec<Arc<Mutex<Vec<Message>>>> =
            (0..2).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
        let outboxes: Vec<Box<dyn Outbox>> = captured
            .iter()
            .map(|c| Box::new(Capture(c.clone())) as Box<dyn Outbox>)
            .collect();
        let task = Task::new(&setup, None, outboxes).unwrap();
        let metrics = JobMetrics::new(spec.operators.iter().map(|op| op.name.clone()));
        task.run(&metrics, &TaskMetrics::default(), &AtomicBool::new(false))
            .unwrap();

        let seen: Vec<String> = captured[1]
            .lock()
            .unwrap()
            .iter()
            .map(|m| match m {
                Message::Schema(_) => "schema".to_string(),
                Message::Batch(_, _) => "batch".to_string(),
                Message::Watermark { at, .. } => format!("watermark {at}"),
                Message::Idle(p) => format!("idle {p}"),
                Message::Barrier(_, _) => "barrier".to_string(),
                Message::End(_) => "end".to_string(),
            })
            .collect();
        // Every consumer hears every watermark and idleness, whichever
        // subtask the records go to.
        let idle_at: Vec<usize> = seen
            .iter()
            .enumerate()
            .filter(|(_, m)| m.as_str() == "idle 0")
            .map(|(i, _)| i)
            .collect();
        // Idle after each record (the third one before the source finds
        // its end); each record after idleness comes after the watermark
        // that makes its source active again.
        assert_eq!(idle_at.len(), 3, "{seen:?}");
        assert_eq!(seen[idle_at[0] + 1], "watermark 9", "{seen:?}");
        assert_eq!(seen[idle_at[1] + 1], "watermark 19", "{seen:?}");
        assert_eq!(
            seen[seen.len() - 2..],
            ["watermark 9223372036854775807", "end"],
            "{seen:?}"
        );
    }
}
