//! Turning a job spec into running tasks, and running them.
//!
//! Planning does everything that can fail on bad input before a record
//! flows: it reads and compiles modules, opens every operator instance (so an
//! operator refuses its configuration up front), checks `keyBy` columns
//! against the schemas operators declare, opens the source and creates the
//! sink. Running then starts one thread per task.
//!
//! Operators are chained into one task while the data can stay in place:
//! same parallelism and no `keyBy`. A `keyBy` starts a new stage fed by a
//! hash exchange over key groups (unless everything on both sides runs with
//! parallelism 1); a change of parallelism starts one fed by a rebalance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use weir_types::{JobSpec, ModuleRef, OperatorSpec, SinkSpec, SourceSpec};
use weir_wasm_host::{Capabilities, InstanceLimits, LoadError, Module, UserMetric, WasmHost};

use crate::builtins;
use crate::exchange::{Downstream, Message, SendError};
use crate::metrics::{merge_user_metrics, JobMetrics};
use crate::operator::{InstanceStats, OpenInfo, Operator, OperatorError};
use crate::schema::{self, column_indices};
use crate::sink::{BlackholeSink, JsonlSink, Sink, StdoutSink};
use crate::source::{GeneratorSource, JsonlSource, Source, TextSource};
use crate::wasm::WasmOperator;

/// Batches buffered per channel between two tasks.
const CHANNEL_CAPACITY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("operators[{index}] '{operator}': {message}")]
    Plan {
        index: usize,
        operator: String,
        message: String,
    },
    #[error("operators[{index}] '{operator}': {source}")]
    Module {
        index: usize,
        operator: String,
        #[source]
        source: LoadError,
    },
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("source: {0}")]
    Source(String),
    #[error("sink: {0}")]
    Sink(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Another task failed first; this one stopped because of it.
    #[error("the job was cancelled")]
    Cancelled,
}

impl JobError {
    /// Whether restarting could help.
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Operator(e) => e.is_retryable(),
            JobError::Plan { .. } | JobError::Module { .. } => false,
            _ => true,
        }
    }
}

/// How the runtime fills in what a job spec leaves out.
#[derive(Debug, Clone, Default)]
pub struct RunDefaults {
    pub limits: InstanceLimits,
}

/// What a job did, for the summary `weir run` prints.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub name: String,
    pub duration: Duration,
    pub source_records: u64,
    pub sink_records: u64,
    pub operators: Vec<OperatorSummary>,
}

#[derive(Debug, Clone)]
pub struct OperatorSummary {
    pub name: String,
    /// `wasm sha256:...` or `builtin NAME`.
    pub kind: String,
    pub parallelism: u32,
    pub records_in: u64,
    pub records_out: u64,
    pub user_metrics: BTreeMap<String, UserMetric>,
    /// Instance recycling and peak memory over all subtasks (WASM only).
    pub instances: InstanceStats,
}

struct Link {
    operator: Box<dyn Operator>,
    /// Index of the operator in the job spec (and in the metrics).
    index: usize,
}

enum Input {
    Source(Box<dyn Source>),
    Channel {
        receiver: Receiver<Message>,
        producers: usize,
    },
}

struct Task {
    name: String,
    input: Input,
    chain: Vec<Link>,
    downstream: Downstream,
}

/// One stage: a chain of operators run by `parallelism` tasks.
struct StagePlan {
    parallelism: u32,
    /// The key columns of the hash exchange feeding this stage, if any.
    hash_by: Option<Vec<String>>,
    operators: Vec<usize>,
}

/// A job ready to run: every instance open, every file open.
pub struct PreparedJob {
    name: String,
    tasks: Vec<Task>,
    metrics: Arc<JobMetrics>,
    operators: Vec<(String, String, u32)>,
}

fn resolve_path(base_dir: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

fn plan_stages(spec: &JobSpec) -> Vec<StagePlan> {
    let source_parallelism = match spec.source {
        SourceSpec::Generator(_) => spec.parallelism,
        // Files are read by one task; their records are spread downstream.
        SourceSpec::Text(_) | SourceSpec::Jsonl(_) => 1,
    };
    let mut stages = vec![StagePlan {
        parallelism: source_parallelism,
        hash_by: None,
        operators: Vec::new(),
    }];
    for (index, op) in spec.operators.iter().enumerate() {
        let parallelism = spec.operator_parallelism(op);
        let current = stages.last().map(|s| s.parallelism).unwrap_or(1);
        let chainable = if op.key_by.is_empty() {
            parallelism == current
        } else {
            parallelism == 1 && current == 1
        };
        if chainable {
            if let Some(stage) = stages.last_mut() {
                stage.operators.push(index);
            }
        } else {
            stages.push(StagePlan {
                parallelism,
                hash_by: (!op.key_by.is_empty()).then(|| op.key_by.clone()),
                operators: vec![index],
            });
        }
    }
    let single_sink = matches!(spec.sink, SinkSpec::Stdout(_) | SinkSpec::Jsonl(_));
    if single_sink && stages.last().map(|s| s.parallelism) != Some(1) {
        stages.push(StagePlan {
            parallelism: 1,
            hash_by: None,
            operators: Vec::new(),
        });
    }
    stages
}

/// Prepares `spec` to run in this process. Relative paths resolve against
/// `base_dir` (the job spec's directory).
pub fn prepare(
    spec: &JobSpec,
    base_dir: &Path,
    host: &WasmHost,
    defaults: &RunDefaults,
) -> Result<PreparedJob, JobError> {
    let plan_error = |index: usize, op: &OperatorSpec, message: String| JobError::Plan {
        index,
        operator: op.name.clone(),
        message,
    };

    // Modules first: a missing or broken module fails before anything opens.
    let mut modules: BTreeMap<usize, Arc<Module>> = BTreeMap::new();
    for (index, op) in spec.operators.iter().enumerate() {
        let Some(reference) = &op.module else {
            continue;
        };
        let parsed =
            ModuleRef::parse(reference).map_err(|e| plan_error(index, op, e.to_string()))?;
        let ModuleRef::Path(path) = parsed else {
            return Err(plan_error(
                index,
                op,
                format!(
                    "module '{reference}': `weir run` loads modules from files; {} references \
                     are resolved by a cluster's TaskManagers",
                    if matches!(parsed, ModuleRef::Oci(_)) {
                        "oci://"
                    } else {
                        "configmap://"
                    }
                ),
            ));
        };
        let path = resolve_path(base_dir, &path);
        let module = host
            .load_file(&op.name, &path, op.sha256.as_deref())
            .map_err(|source| JobError::Module {
                index,
                operator: op.name.clone(),
                source,
            })?;
        modules.insert(index, module);
    }

    let stages = plan_stages(spec);
    let metrics = Arc::new(JobMetrics::new(
        spec.operators.iter().map(|o| o.name.clone()),
    ));

    // Source tasks and their schema.
    let mut inputs: Vec<Input> = Vec::new();
    let source_schema: SchemaRef = match &spec.source {
        SourceSpec::Text(text) => {
            let path = resolve_path(base_dir, &text.path);
            inputs.push(Input::Source(Box::new(
                TextSource::open(&path, spec.batch_size).map_err(JobError::Source)?,
            )));
            TextSource::schema_of()
        }
        SourceSpec::Jsonl(jsonl) => {
            let path = resolve_path(base_dir, &jsonl.path);
            let schema = schema::from_spec(&jsonl.schema);
            inputs.push(Input::Source(Box::new(
                JsonlSource::open(&path, schema.clone(), spec.batch_size)
                    .map_err(JobError::Source)?,
            )));
            schema
        }
        SourceSpec::Generator(generator) => {
            let parallelism = stages[0].parallelism;
            for subtask in 0..parallelism {
                inputs.push(Input::Source(Box::new(GeneratorSource::new(
                    subtask,
                    parallelism,
                    generator.count,
                    generator.rate,
                    generator.keys,
                    spec.batch_size,
                ))));
            }
            GeneratorSource::schema_of()
        }
    };

    let mut tasks = Vec::new();
    let mut schema = source_schema;
    for (s, stage) in stages.iter().enumerate() {
        // Open every subtask's chain; all subtasks must agree on schemas.
        let mut chains: Vec<Vec<Link>> = Vec::new();
        let mut out_schema = schema.clone();
        for subtask in 0..stage.parallelism {
            let mut chain = Vec::new();
            let mut input_schema = schema.clone();
            for &index in &stage.operators {
                let op = &spec.operators[index];
                if !op.key_by.is_empty() {
                    column_indices(&input_schema, &op.key_by)
                        .map_err(|e| plan_error(index, op, format!("keyBy: {e}")))?;
                }
                let mut operator = create_operator(spec, index, op, &modules, defaults)?;
                let info = OpenInfo {
                    key_fields: op.key_by.clone(),
                    subtask_index: subtask,
                    parallelism: stage.parallelism,
                    attempt: 0,
                };
                let output = operator.open(input_schema.clone(), &info)?;
                input_schema = output;
                chain.push(Link { operator, index });
            }
            if subtask == 0 {
                out_schema = input_schema;
            } else if input_schema.fields() != out_schema.fields() {
                let index = stage.operators.last().copied().unwrap_or(0);
                return Err(plan_error(
                    index,
                    &spec.operators[index],
                    format!("subtask {subtask} declared a different output schema than subtask 0"),
                ));
            }
            chains.push(chain);
        }

        // Where this stage's output goes.
        let next = stages.get(s + 1);
        let mut downstreams: Vec<Downstream> = Vec::new();
        let mut next_inputs: Vec<Input> = Vec::new();
        match next {
            None => {
                for _ in 0..stage.parallelism {
                    downstreams.push(Downstream::Sink(create_sink(spec, base_dir)?));
                }
            }
            Some(next) => {
                let mut senders: Vec<SyncSender<Message>> = Vec::new();
                for _ in 0..next.parallelism {
                    let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
                    senders.push(sender);
                    next_inputs.push(Input::Channel {
                        receiver,
                        producers: stage.parallelism as usize,
                    });
                }
                let keys = match &next.hash_by {
                    Some(key_by) => {
                        let index = next.operators[0];
                        Some(column_indices(&out_schema, key_by).map_err(|e| {
                            plan_error(index, &spec.operators[index], format!("keyBy: {e}"))
                        })?)
                    }
                    None => None,
                };
                for subtask in 0..stage.parallelism {
                    downstreams.push(match (&keys, senders.len()) {
                        (_, 1) => Downstream::Forward(senders[0].clone()),
                        (Some(keys), _) => Downstream::Hash {
                            senders: senders.clone(),
                            keys: keys.clone(),
                            max_parallelism: spec.max_parallelism,
                            scratch: Vec::new(),
                            targets: Vec::new(),
                        },
                        (None, _) => Downstream::Rebalance {
                            senders: senders.clone(),
                            // Spread the producers' first batches apart.
                            next: subtask as usize,
                        },
                    });
                }
            }
        }

        for (subtask, ((chain, input), downstream)) in chains
            .into_iter()
            .zip(inputs.drain(..))
            .zip(downstreams)
            .enumerate()
        {
            let label = if stage.operators.is_empty() {
                "sink".to_string()
            } else {
                stage
                    .operators
                    .iter()
                    .map(|&i| spec.operators[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join("+")
            };
            tasks.push(Task {
                name: format!("{label} ({}/{})", subtask + 1, stage.parallelism),
                input,
                chain,
                downstream,
            });
        }
        inputs = next_inputs;
        schema = out_schema;
    }

    let operators = spec
        .operators
        .iter()
        .enumerate()
        .map(|(index, op)| {
            let kind = match (&op.builtin, modules.get(&index)) {
                (Some(builtin), _) => format!("builtin {builtin}"),
                (None, Some(module)) => format!("wasm {}", module.digest()),
                (None, None) => "unknown".to_string(),
            };
            (op.name.clone(), kind, spec.operator_parallelism(op))
        })
        .collect();
    Ok(PreparedJob {
        name: spec.name.clone(),
        tasks,
        metrics,
        operators,
    })
}

fn create_operator(
    spec: &JobSpec,
    index: usize,
    op: &OperatorSpec,
    modules: &BTreeMap<usize, Arc<Module>>,
    defaults: &RunDefaults,
) -> Result<Box<dyn Operator>, JobError> {
    if let Some(builtin) = &op.builtin {
        return Ok(builtins::create(builtin, &op.name, &op.config)?);
    }
    let module = modules.get(&index).ok_or_else(|| JobError::Plan {
        index,
        operator: op.name.clone(),
        message: "has no module".into(),
    })?;
    let limits = spec.operator_limits(op);
    let limits = InstanceLimits {
        memory_bytes: limits.memory_bytes.unwrap_or(defaults.limits.memory_bytes),
        call_timeout: limits.call_timeout.unwrap_or(defaults.limits.call_timeout),
    };
    let capabilities = Capabilities {
        wall_clock: op.capabilities.wall_clock,
    };
    let config =
        serde_json::to_string(&op.config).map_err(|e| JobError::Internal(e.to_string()))?;
    Ok(Box::new(WasmOperator::new(
        &op.name,
        module,
        limits,
        capabilities,
        config,
    )?))
}

fn create_sink(spec: &JobSpec, base_dir: &Path) -> Result<Box<dyn Sink>, JobError> {
    Ok(match &spec.sink {
        SinkSpec::Stdout(stdout) => Box::new(StdoutSink::new(stdout.format)),
        SinkSpec::Jsonl(jsonl) => Box::new(
            JsonlSink::create(&resolve_path(base_dir, &jsonl.path)).map_err(JobError::Sink)?,
        ),
        SinkSpec::Blackhole(_) => Box::new(BlackholeSink),
    })
}

impl PreparedJob {
    /// Live counters, for progress displays; valid before and during `run`.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        self.metrics.clone()
    }

    /// The number of tasks (threads) the job runs as.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Runs the job to its end, or to its first failure.
    pub fn run(self) -> Result<JobSummary, JobError> {
        let started = Instant::now();
        let cancelled = Arc::new(AtomicBool::new(false));
        let failure: Arc<Mutex<Option<JobError>>> = Arc::new(Mutex::new(None));
        let mut handles = Vec::new();
        for task in self.tasks {
            let metrics = self.metrics.clone();
            let cancelled = cancelled.clone();
            let failure = failure.clone();
            let name = task.name.clone();
            let handle = std::thread::Builder::new()
                .name(format!("weir-task {name}"))
                .spawn(move || {
                    let result = run_task(task, &metrics, &cancelled);
                    if let Err(error) = &result {
                        cancelled.store(true, Ordering::Relaxed);
                        if !matches!(error, JobError::Cancelled) {
                            tracing::debug!(task = %name, "task failed: {error}");
                        }
                    }
                    match result {
                        Ok(user_metrics) => user_metrics,
                        Err(JobError::Cancelled) => Vec::new(),
                        Err(error) => {
                            let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
                            first.get_or_insert(error);
                            Vec::new()
                        }
                    }
                })
                .map_err(|e| JobError::Internal(format!("cannot start a task thread: {e}")))?;
            handles.push(handle);
        }

        let mut user_metrics: Vec<BTreeMap<String, UserMetric>> =
            vec![BTreeMap::new(); self.operators.len()];
        let mut instances = vec![InstanceStats::default(); self.operators.len()];
        for handle in handles {
            match handle.join() {
                Ok(reported) => {
                    for (index, metrics, stats) in reported {
                        merge_user_metrics(&mut user_metrics[index], metrics);
                        instances[index] = instances[index].merge(stats);
                    }
                }
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(JobError::Internal(format!("a task panicked: {message}")));
                }
            }
        }
        let failed = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(error) = failed {
            return Err(error);
        }

        let operators = self
            .operators
            .into_iter()
            .zip(user_metrics)
            .zip(instances)
            .zip(&self.metrics.operators)
            .map(
                |((((name, kind, parallelism), user_metrics), instances), counters)| {
                    OperatorSummary {
                        name,
                        kind,
                        parallelism,
                        records_in: counters.records_in.load(Ordering::Relaxed),
                        records_out: counters.records_out.load(Ordering::Relaxed),
                        user_metrics,
                        instances,
                    }
                },
            )
            .collect();
        Ok(JobSummary {
            name: self.name,
            duration: started.elapsed(),
            source_records: self.metrics.source_records(),
            sink_records: self.metrics.sink_records(),
            operators,
        })
    }
}

/// Per operator of a task: its index in the job, user metrics, instance stats.
type ReportedMetrics = Vec<(usize, Vec<(String, UserMetric)>, InstanceStats)>;

fn run_task(
    mut task: Task,
    metrics: &Arc<JobMetrics>,
    cancelled: &AtomicBool,
) -> Result<ReportedMetrics, JobError> {
    let mut ended = 0;
    loop {
        if cancelled.load(Ordering::Relaxed) {
            return Err(JobError::Cancelled);
        }
        let batch = match &mut task.input {
            Input::Source(source) => match source.next_batch().map_err(JobError::Source)? {
                Some(batch) => {
                    metrics
                        .source_records
                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    batch
                }
                None => break,
            },
            Input::Channel {
                receiver,
                producers,
            } => match receiver.recv() {
                Ok(Message::Batch(batch)) => batch,
                Ok(Message::End) => {
                    ended += 1;
                    if ended == *producers {
                        break;
                    }
                    continue;
                }
                // Every producer is gone without ending: one of them failed.
                Err(_) => return Err(JobError::Cancelled),
            },
        };
        push(&mut task, 0, vec![batch], metrics)?;
    }
    for position in 0..task.chain.len() {
        let mut out = Vec::new();
        let link = &mut task.chain[position];
        link.operator.close(&mut out)?;
        let produced: usize = out.iter().map(RecordBatch::num_rows).sum();
        metrics.operators[link.index]
            .records_out
            .fetch_add(produced as u64, Ordering::Relaxed);
        push(&mut task, position + 1, out, metrics)?;
    }
    task.downstream.finish().map_err(send_error)?;
    Ok(task
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

fn send_error(error: SendError) -> JobError {
    match error {
        SendError::Disconnected => JobError::Cancelled,
        SendError::Sink(message) => JobError::Sink(message),
    }
}

/// Runs `batches` through the chain from `from` on, then downstream.
fn push(
    task: &mut Task,
    from: usize,
    mut batches: Vec<RecordBatch>,
    metrics: &Arc<JobMetrics>,
) -> Result<(), JobError> {
    for link in &mut task.chain[from..] {
        if batches.is_empty() {
            return Ok(());
        }
        let counters = &metrics.operators[link.index];
        let mut next = Vec::new();
        for batch in batches {
            counters
                .records_in
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            link.operator.process(batch, &mut next)?;
        }
        let produced: usize = next.iter().map(RecordBatch::num_rows).sum();
        counters
            .records_out
            .fetch_add(produced as u64, Ordering::Relaxed);
        batches = next;
    }
    for batch in batches {
        if batch.num_rows() > 0 {
            task.downstream.emit(batch, metrics).map_err(send_error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> JobSpec {
        JobSpec::from_yaml(yaml).unwrap()
    }

    #[test]
    fn chains_until_a_key_by_or_a_parallelism_change() {
        let job = spec(
            "name: t\nparallelism: 2\nsource: {type: generator, count: 10}\n\
             operators:\n  - {name: a, builtin: count, keyBy: [key]}\n  - {name: b, builtin: count, keyBy: [key], parallelism: 3}\n\
             sink: {type: stdout}\n",
        );
        let stages = plan_stages(&job);
        let shape: Vec<(u32, Option<Vec<String>>, Vec<usize>)> = stages
            .into_iter()
            .map(|s| (s.parallelism, s.hash_by, s.operators))
            .collect();
        assert_eq!(
            shape,
            vec![
                (2, None, vec![]),
                (2, Some(vec!["key".to_string()]), vec![0]),
                (3, Some(vec!["key".to_string()]), vec![1]),
                (1, None, vec![]),
            ]
        );
    }

    #[test]
    fn everything_chains_at_parallelism_one() {
        let job = spec(
            "name: t\nsource: {type: text, path: x}\n\
             operators:\n  - {name: a, builtin: count, keyBy: [line]}\nsink: {type: stdout}\n",
        );
        let stages = plan_stages(&job);
        assert_eq!(stages.len(), 1);
        assert_eq!(stages[0].operators, vec![0]);
    }
}
