//! What a task is built from: its source, its sink and its operators, as
//! the job spec and the host's policies say.

use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;
use weir_types::{InstanceLimits, JobSpec, OperatorSpec, SinkSpec, SourceSpec};

use super::side_outputs::SideOutputs;
use super::TaskSetup;
use crate::builtins;
use crate::job::JobError;
use crate::operator::Operator;
use crate::paths::PathPolicy;
use crate::schema;
use crate::sink::{BlackholeSink, FileSink, Sink, StdoutSink};
use crate::source::{GeneratorSource, JsonlSource, Source, TextSource};
use crate::user::UserOperatorSetup;

/// `path` of spec field `field`, resolved, if the policy lets jobs touch it.
pub(super) fn checked_path(
    paths: &PathPolicy,
    field: &str,
    base_dir: &Path,
    path: &str,
) -> Result<PathBuf, JobError> {
    paths
        .check(field, base_dir, path)
        .map_err(|e| JobError::Config(e.to_string()))
}

/// The schema the job's source produces.
pub fn source_schema(spec: &JobSpec) -> SchemaRef {
    match &spec.source {
        SourceSpec::Text(_) => TextSource::schema_of(),
        SourceSpec::Jsonl(jsonl) => schema::from_spec(&jsonl.schema),
        SourceSpec::Generator(_) => GeneratorSource::schema_of(),
    }
}

pub(super) fn create_source(
    setup: &TaskSetup<'_>,
    subtask: u32,
    parallelism: u32,
) -> Result<Box<dyn Source>, JobError> {
    let spec = setup.spec;
    let path = |path: &str| checked_path(setup.paths, "source.path", setup.base_dir, path);
    Ok(match &spec.source {
        SourceSpec::Text(text) => Box::new(
            TextSource::open(&path(&text.path)?, spec.batch_size, text.rate)
                .map_err(JobError::Source)?
                .with_max_line_bytes(setup.defaults.max_line_bytes),
        ),
        SourceSpec::Jsonl(jsonl) => Box::new(
            JsonlSource::open(
                &path(&jsonl.path)?,
                schema::from_spec(&jsonl.schema),
                spec.batch_size,
                jsonl.rate,
            )
            .map_err(JobError::Source)?
            .with_max_line_bytes(setup.defaults.max_line_bytes),
        ),
        SourceSpec::Generator(generator) => Box::new(GeneratorSource::new(
            subtask,
            parallelism,
            generator.count,
            generator.rate,
            generator.keys,
            spec.batch_size,
        )),
    })
}

pub(super) fn create_sink(setup: &TaskSetup<'_>) -> Result<Box<dyn Sink>, JobError> {
    let spec = setup.spec;
    let two_phase = spec.checkpointing.is_some();
    let flush_interval = spec.sink.flush_interval();
    let path = |path: &str| checked_path(setup.paths, "sink.path", setup.base_dir, path);
    Ok(match &spec.sink {
        SinkSpec::Stdout(stdout) => Box::new(StdoutSink::new(stdout.format, flush_interval)),
        SinkSpec::Jsonl(jsonl) => Box::new(FileSink::new(
            &path(&jsonl.path)?,
            weir_types::OutputFormat::Json,
            two_phase,
            setup.attempt,
            flush_interval,
        )),
        SinkSpec::File(file) => Box::new(FileSink::new(
            &path(&file.path)?,
            file.format,
            two_phase,
            setup.attempt,
            flush_interval,
        )),
        SinkSpec::Blackhole(_) => Box::new(BlackholeSink),
    })
}

/// Operator `index` of the job (`op`), and the side outputs its
/// configuration names, added to `side_outputs`.
pub(super) fn create_operator(
    setup: &TaskSetup<'_>,
    parallelism: u32,
    index: usize,
    op: &OperatorSpec,
    side_outputs: &mut SideOutputs,
) -> Result<Box<dyn Operator>, JobError> {
    let (spec, defaults) = (setup.spec, setup.defaults);
    let limits = spec.operator_limits(op);
    let user = UserOperatorSetup {
        spec,
        index,
        operator: op,
        limits: InstanceLimits {
            memory_bytes: limits.memory_bytes.unwrap_or(defaults.limits.memory_bytes),
            call_timeout: limits.call_timeout.unwrap_or(defaults.limits.call_timeout),
        },
        state_budgets: setup.state_budgets,
    };
    match &op.builtin {
        Some(builtin) => {
            let user_aggregates = setup.operators.user_aggregates(&user);
            let config =
                builtins::parse_config(builtin, &op.name, &op.config, user_aggregates.is_some())?;
            side_outputs.add(setup, parallelism, index, op, &config)?;
            Ok(builtins::create(&op.name, config, user_aggregates)?)
        }
        None => setup.operators.operator(&user),
    }
}
