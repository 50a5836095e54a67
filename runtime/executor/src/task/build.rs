//! What a task is built from: its source, its sink and its operators, as
//! the job spec and the host's policies say.

use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;
use weir_state::{StateLimits, DEFAULT_MAX_VALUE_BYTES};
use weir_types::{JobSpec, OperatorSpec, SinkSpec, SourceSpec};
use weir_wasm_host::{Capabilities, InstanceLimits};

use super::TaskSetup;
use crate::builtins;
use crate::job::JobError;
use crate::operator::Operator;
use crate::paths::PathPolicy;
use crate::schema;
use crate::sink::{BlackholeSink, FileSink, Sink, StdoutSink};
use crate::source::{GeneratorSource, JsonlSource, Source, TextSource};
use crate::wasm::WasmOperator;

/// `path` of spec field `field`, resolved, if the policy lets jobs touch it.
fn checked_path(
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

pub(super) fn create_operator(
    setup: &TaskSetup<'_>,
    index: usize,
    op: &OperatorSpec,
) -> Result<Box<dyn Operator>, JobError> {
    let (spec, modules, defaults) = (setup.spec, setup.modules, setup.defaults);
    let limits = spec.operator_limits(op);
    let limits = InstanceLimits {
        memory_bytes: limits.memory_bytes.unwrap_or(defaults.limits.memory_bytes),
        call_timeout: limits.call_timeout.unwrap_or(defaults.limits.call_timeout),
    };
    if let Some(builtin) = &op.builtin {
        let module = modules.get(&index).cloned();
        return Ok(builtins::create(
            builtin,
            &op.name,
            &op.config,
            module,
            limits,
            setup.paths,
        )?);
    }
    let module = modules.get(&index).ok_or_else(|| JobError::Plan {
        index,
        operator: op.name.clone(),
        message: "has no module".into(),
    })?;
    let capabilities = Capabilities {
        wall_clock: op.capabilities.wall_clock,
    };
    let config =
        serde_json::to_string(&op.config).map_err(|e| JobError::Internal(e.to_string()))?;
    let state_limits = StateLimits {
        max_value_bytes: spec
            .operator_limits(op)
            .max_state_value
            .map_or(DEFAULT_MAX_VALUE_BYTES, |b| {
                usize::try_from(b).unwrap_or(usize::MAX)
            }),
        budgets: setup.state_budgets.to_vec(),
    };
    Ok(Box::new(
        WasmOperator::new(&op.name, module, limits, capabilities, config)?
            .with_state_limits(state_limits),
    ))
}
