//! The job spec: the YAML document that `weir run` and `weir submit` take and
//! that a `WeirJob` resource's `spec` holds. Field names are camelCase, as in
//! Kubernetes resources. `docs/job-spec.md` documents every field.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::SpecLimits;
use crate::quantity::{parse_bytes, parse_duration};
use crate::restart::RestartStrategy;

pub const DEFAULT_MAX_PARALLELISM: u32 = 128;
/// Key groups cap parallelism; Flink's upper bound, for the same reason.
pub const MAX_MAX_PARALLELISM: u32 = 32_768;
pub const DEFAULT_BATCH_SIZE: usize = 1024;
pub const MAX_BATCH_SIZE: usize = 1 << 20;
/// How long a file or stdout sink lets a record wait in its buffer: short
/// enough that a slow stream's records show within a blink, long enough
/// that a fast one is written in large blocks.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// The names of the built-in (native) operators.
pub const BUILTIN_OPERATORS: &[&str] = &["count", "window"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    /// A name for people; need not be unique. Required in a `job.yaml`; a
    /// WeirJob's job takes the resource's name when it has none.
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub name: String,
    /// Default parallelism of every operator.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = MAX_MAX_PARALLELISM))]
    pub parallelism: u32,
    /// Number of key groups: the upper bound of any keyed operator's
    /// parallelism, fixed for the life of the job's state.
    #[serde(default = "default_max_parallelism")]
    #[schemars(range(min = 1, max = MAX_MAX_PARALLELISM))]
    pub max_parallelism: u32,
    /// Records per batch produced by the source.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1, max = MAX_BATCH_SIZE))]
    pub batch_size: usize,
    /// Default limits of every WASM operator instance.
    #[serde(default)]
    pub resources: ResourceSpec,
    pub source: SourceSpec,
    #[serde(default)]
    pub operators: Vec<OperatorSpec>,
    pub sink: SinkSpec,
    /// What a cluster does when a task fails in a way a restart could cure;
    /// `none` by default, `exponential-delay` with checkpointing (as in Flink).
    #[serde(default, rename = "restartStrategy")]
    pub restart: Option<RestartStrategy>,
    /// Periodic checkpoints; without it none are taken (savepoints still
    /// can be).
    #[serde(default)]
    pub checkpointing: Option<CheckpointingSpec>,
    /// Event time: which source column holds it and how watermarks follow
    /// it. Without it, no watermarks flow.
    #[serde(default)]
    pub event_time: Option<EventTimeSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTimeSpec {
    /// The source's column of event times: `timestamp-millis`, or `int64`
    /// milliseconds since the Unix epoch.
    pub column: String,
    #[serde(default)]
    pub watermarks: WatermarkSpec,
    /// A source subtask that has read nothing for this long is idle: its
    /// consumers stop waiting for its watermark until it reads again
    /// (Flink's `withIdleness`). Never idle when absent.
    #[serde(default)]
    pub idle_timeout: Option<String>,
}

impl EventTimeSpec {
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
    }
}

/// How a source subtask derives its watermark from the event times it has
/// read (Flink's `WatermarkStrategy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(transform = crate::schema::one_object_of_variants)]
pub enum WatermarkSpec {
    /// Event times never decrease: the watermark follows the largest one.
    #[default]
    Monotonous,
    /// Records may arrive up to `maxOutOfOrderness` later than a record with
    /// a greater event time.
    #[serde(rename_all = "camelCase")]
    BoundedOutOfOrderness { max_out_of_orderness: String },
}

impl WatermarkSpec {
    /// How far the watermark stays behind the largest event time seen.
    pub fn bound(&self) -> Duration {
        match self {
            WatermarkSpec::Monotonous => Duration::ZERO,
            WatermarkSpec::BoundedOutOfOrderness {
                max_out_of_orderness,
            } => parse_duration(max_out_of_orderness).unwrap_or_default(),
        }
    }
}

fn one() -> u32 {
    1
}

/// Flink's `execution.checkpointing.*`, per job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckpointingSpec {
    /// Time between the end of one checkpoint and the start of the next.
    pub interval: String,
    /// A checkpoint not complete after this long has failed.
    #[serde(default = "default_checkpoint_timeout")]
    pub timeout: String,
    /// Completed checkpoints kept; older ones are deleted.
    #[serde(default = "one")]
    pub retained: u32,
    /// Failed checkpoints in a row the job tolerates before it fails (and
    /// restarts from the last completed one).
    #[serde(default)]
    pub tolerable_failures: u32,
    /// Where checkpoints go: a directory path, `file://`, or (in builds with
    /// the `s3` feature) `s3://bucket/prefix`. The cluster's
    /// `--checkpoint-storage` when absent.
    #[serde(default)]
    pub storage: Option<String>,
}

fn default_checkpoint_timeout() -> String {
    "10m".into()
}

impl CheckpointingSpec {
    pub fn interval(&self) -> Duration {
        parse_duration(&self.interval).unwrap_or(Duration::from_secs(10))
    }

    pub fn timeout(&self) -> Duration {
        parse_duration(&self.timeout).unwrap_or(Duration::from_secs(600))
    }
}

fn default_max_parallelism() -> u32 {
    DEFAULT_MAX_PARALLELISM
}

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = crate::schema::one_object_of_variants)]
pub enum SourceSpec {
    /// Lines of a UTF-8 text file, one record per line: `line: utf8`.
    Text(TextSource),
    /// JSON objects, one per line, read with a declared schema.
    Jsonl(JsonlSource),
    /// Synthetic records `id: int64, key: utf8, value: float64,
    /// ts: timestamp-millis`, for tests and benchmarks.
    Generator(GeneratorSource),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TextSource {
    pub path: String,
    /// Records per second to replay the file at; as fast as possible when
    /// absent.
    #[serde(default)]
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonlSource {
    pub path: String,
    pub schema: Vec<FieldSpec>,
    /// Records per second to replay the file at; as fast as possible when
    /// absent.
    #[serde(default)]
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorSource {
    /// Records to produce in all; unbounded when absent.
    #[serde(default)]
    pub count: Option<u64>,
    /// Records per second across all subtasks; as fast as possible when absent.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Distinct values of the `key` column.
    #[serde(default = "default_keys")]
    pub keys: u64,
}

fn default_keys() -> u64 {
    1000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: FieldType,
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

/// The column types of the operator contract (`data-type` in the WIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FieldType {
    Boolean,
    Int64,
    Float64,
    Utf8,
    Binary,
    TimestampMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorSpec {
    /// Unique within the job; names the operator in logs, metrics and errors.
    pub name: String,
    /// A WASM component: a path (relative to the job spec), `oci://...` or
    /// `configmap://NAME/KEY`. Exactly one of `module` and `builtin`, but
    /// for `builtin: window`, whose `module` is a user aggregate function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The module's expected sha256; the run fails if the bytes differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A native operator: `count` or `window` (see [`BUILTIN_OPERATORS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Passed to the operator at open, as JSON.
    #[serde(default = "empty_object")]
    #[schemars(schema_with = "crate::schema::any_object")]
    pub config: serde_json::Value,
    /// Columns to partition the input by: each key reaches one subtask.
    #[serde(default)]
    pub key_by: Vec<String>,
    /// How records reach the operator when it is not keyed: `forward`
    /// (chained to the operator before, the default at equal parallelism),
    /// `rebalance` (round-robin; the default when parallelism changes) or
    /// `broadcast` (every record to every subtask).
    #[serde(default)]
    pub partition: Option<PartitionSpec>,
    /// Overrides the job's parallelism for this operator.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// Overrides the job's instance limits for this operator.
    #[serde(default)]
    pub resources: Option<ResourceSpec>,
    /// What the operator's sandbox may reach beyond Weir's own imports.
    #[serde(default)]
    pub capabilities: CapabilitySpec,
}

impl OperatorSpec {
    /// What runs the operator, for summaries: `builtin NAME`, or
    /// `wasm sha256:HEX` given the module's digest (`sha256:` optional).
    pub fn kind(&self, digest: Option<&str>) -> String {
        match (&self.builtin, digest) {
            (Some(builtin), _) => format!("builtin {builtin}"),
            (None, Some(digest)) => format!("wasm sha256:{}", digest.trim_start_matches("sha256:")),
            (None, None) => "unknown".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartitionSpec {
    Forward,
    Rebalance,
    Broadcast,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    /// Linear memory per instance, e.g. `256Mi`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Wall time one call may take, e.g. `10s`.
    #[serde(default)]
    pub call_timeout: Option<String>,
    /// Largest keyed-state value (and map user key), e.g. `1Mi`.
    #[serde(default)]
    pub max_state_value: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapabilitySpec {
    /// Let the guest read the real wall clock.
    #[serde(default)]
    pub wall_clock: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = crate::schema::one_object_of_variants)]
pub enum SinkSpec {
    /// Writes records to standard output.
    Stdout(StdoutSink),
    /// Writes JSON objects, one per line, to a file.
    Jsonl(JsonlSink),
    /// Writes records to a file as JSON lines or tab-separated text.
    File(FileSink),
    /// Counts records and discards them.
    Blackhole(BlackholeSink),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StdoutSink {
    #[serde(default)]
    pub format: OutputFormat,
    /// Longest a record waits in the sink's buffer before it is written
    /// out; 200ms when absent.
    #[serde(default)]
    pub flush_interval: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// One JSON object per record.
    #[default]
    Json,
    /// Values separated by tabs, one record per line.
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonlSink {
    pub path: String,
    /// Without checkpoints: longest a record waits in the sink's buffer
    /// before it reaches the file. With them, records appear when their
    /// checkpoint completes. 200ms when absent.
    #[serde(default)]
    pub flush_interval: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSink {
    pub path: String,
    #[serde(default)]
    pub format: OutputFormat,
    /// As for `jsonl`.
    #[serde(default)]
    pub flush_interval: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlackholeSink {}

impl SinkSpec {
    /// The file the sink writes, if it writes one.
    pub fn path(&self) -> Option<&str> {
        match self {
            SinkSpec::Jsonl(jsonl) => Some(&jsonl.path),
            SinkSpec::File(file) => Some(&file.path),
            SinkSpec::Stdout(_) | SinkSpec::Blackhole(_) => None,
        }
    }

    /// The `flushInterval` as written, if the sink has one.
    pub(crate) fn flush_interval_text(&self) -> Option<&str> {
        match self {
            SinkSpec::Stdout(stdout) => stdout.flush_interval.as_deref(),
            SinkSpec::Jsonl(jsonl) => jsonl.flush_interval.as_deref(),
            SinkSpec::File(file) => file.flush_interval.as_deref(),
            SinkSpec::Blackhole(_) => None,
        }
    }

    /// Longest a record waits in the sink's buffer (validated with the spec).
    pub fn flush_interval(&self) -> Duration {
        self.flush_interval_text()
            .and_then(|text| parse_duration(text).ok())
            .unwrap_or(DEFAULT_FLUSH_INTERVAL)
    }

    pub fn path_mut(&mut self) -> Option<&mut String> {
        match self {
            SinkSpec::Jsonl(jsonl) => Some(&mut jsonl.path),
            SinkSpec::File(file) => Some(&mut file.path),
            SinkSpec::Stdout(_) | SinkSpec::Blackhole(_) => None,
        }
    }
}

/// One problem in a job spec: where (a path such as `operators[1].keyBy`)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a job spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid job spec: {one}"),
            many => {
                write!(f, "invalid job spec ({} problems):", many.len())?;
                for error in many {
                    write!(f, "\n  - {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl JobSpec {
    /// Parses and validates a YAML job spec within the default limits.
    pub fn from_yaml(text: &str) -> Result<JobSpec, SpecErrors> {
        Self::from_yaml_within(text, &SpecLimits::default())
    }

    /// Parses and validates a YAML job spec, refusing one over `limits`
    /// before parsing it.
    pub fn from_yaml_within(text: &str, limits: &SpecLimits) -> Result<JobSpec, SpecErrors> {
        limits.check(text).map_err(|refused| {
            SpecErrors(vec![SpecError {
                path: String::new(),
                message: refused.to_string(),
            }])
        })?;
        // serde_yaml_ng's messages already start with the path of the
        // offending node and end with its line and column.
        let spec: JobSpec = serde_yaml_ng::from_str(text).map_err(|error| {
            let (path, message) =
                locate_tagged_error(text).unwrap_or_else(|| (String::new(), error.to_string()));
            SpecErrors(vec![SpecError { path, message }])
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and validates a job spec given as a JSON value (a WeirJob's
    /// `spec.job`); errors carry their paths, as [`JobSpec::from_yaml`]'s do.
    pub fn from_json_value(value: serde_json::Value) -> Result<JobSpec, SpecErrors> {
        let spec: JobSpec = serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            SpecErrors(vec![SpecError {
                path: if path == "." { String::new() } else { path },
                message: error.into_inner().to_string(),
            }])
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// The restart strategy in force: the spec's, or, as in Flink, none
    /// without checkpointing and exponential-delay with it.
    pub fn restart_strategy(&self) -> RestartStrategy {
        match (&self.restart, &self.checkpointing) {
            (Some(strategy), _) => strategy.clone(),
            (None, None) => RestartStrategy::None,
            (None, Some(_)) => RestartStrategy::exponential_default(),
        }
    }

    /// The parallelism an operator runs with.
    pub fn operator_parallelism(&self, op: &OperatorSpec) -> u32 {
        op.parallelism.unwrap_or(self.parallelism)
    }

    /// The limits an operator's instances get: its own, else the job's.
    pub fn operator_limits(&self, op: &OperatorSpec) -> Limits {
        let own = op.resources.as_ref();
        let memory = own
            .and_then(|r| r.memory.as_deref())
            .or(self.resources.memory.as_deref())
            .and_then(|m| parse_bytes(m).ok());
        let call_timeout = own
            .and_then(|r| r.call_timeout.as_deref())
            .or(self.resources.call_timeout.as_deref())
            .and_then(|t| parse_duration(t).ok());
        let max_state_value = own
            .and_then(|r| r.max_state_value.as_deref())
            .or(self.resources.max_state_value.as_deref())
            .and_then(|b| parse_bytes(b).ok());
        Limits {
            memory_bytes: memory,
            call_timeout,
            max_state_value,
        }
    }
}

/// Serde reports errors inside internally tagged enums (`source`, `sink`)
/// without their path; deserializing those sections alone says which one.
fn locate_tagged_error(text: &str) -> Option<(String, String)> {
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
    if let Some(source) = document.get("source") {
        if let Err(e) = SourceSpec::deserialize(source.clone()) {
            return Some(("source".into(), e.to_string()));
        }
    }
    if let Some(sink) = document.get("sink") {
        if let Err(e) = SinkSpec::deserialize(sink.clone()) {
            return Some(("sink".into(), e.to_string()));
        }
    }
    None
}

/// Limits resolved from a spec; `None` means the runtime's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub call_timeout: Option<Duration>,
    pub max_state_value: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDCOUNT: &str = r#"
name: wordcount
source:
  type: text
  path: input.txt
operators:
  - name: tokenize
    module: operator/wordcount.wasm
    config:
      lowercase: true
  - name: count
    builtin: count
    keyBy: [word]
    config:
      emit: final
sink:
  type: stdout
  format: text
"#;

    fn errors_of(yaml: &str) -> Vec<String> {
        match JobSpec::from_yaml(yaml) {
            Ok(_) => panic!("expected errors for:\n{yaml}"),
            Err(SpecErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn parses_the_wordcount_job_with_defaults() {
        let spec = JobSpec::from_yaml(WORDCOUNT).unwrap();
        assert_eq!(spec.parallelism, 1);
        assert_eq!(spec.max_parallelism, DEFAULT_MAX_PARALLELISM);
        assert_eq!(spec.batch_size, DEFAULT_BATCH_SIZE);
        assert_eq!(spec.operators.len(), 2);
        assert_eq!(
            spec.operators[0].config["lowercase"],
            serde_json::json!(true)
        );
        assert_eq!(spec.operators[1].key_by, vec!["word".to_string()]);
        assert_eq!(
            spec.sink,
            SinkSpec::Stdout(StdoutSink {
                format: OutputFormat::Text,
                flush_interval: None,
            })
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_path() {
        let yaml = WORDCOUNT.replace("keyBy: [word]", "keyby: [word]");
        let errors = errors_of(&yaml);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("operators[1]: unknown field `keyby`, expected one of"),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("line 13"), "{}", errors[0]);
    }

    #[test]
    fn a_wrong_type_is_named_with_its_path() {
        let yaml = WORDCOUNT.replace("name: wordcount", "name: wordcount\nparallelism: many");
        let errors = errors_of(&yaml);
        assert!(
            errors[0].starts_with("parallelism: invalid type"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn an_unknown_source_type_lists_the_known_ones() {
        let yaml = WORDCOUNT.replace("type: text", "type: kafka");
        let errors = errors_of(&yaml);
        assert!(
            errors[0].contains("unknown variant `kafka`"),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("text"), "{}", errors[0]);
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let yaml = WORDCOUNT
            .replace("builtin: count", "builtin: cuont")
            .replace("name: tokenize", "name: tokenize\n    parallelism: 0")
            .replace("path: input.txt", "path: input.txt\nbatchSize: 0");
        let errors = errors_of(&yaml);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("operators[1].builtin: unknown built-in 'cuont'")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("operators[0].parallelism: must be between 1")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("batchSize: must be between 1")),
            "{errors:?}"
        );
    }

    #[test]
    fn module_and_builtin_are_exclusive() {
        let yaml = WORDCOUNT.replace("builtin: count", "builtin: count\n    module: x.wasm");
        assert!(errors_of(&yaml)[0].contains("has both `module` and `builtin`"));
        let yaml = WORDCOUNT.replace("    builtin: count\n", "");
        assert!(errors_of(&yaml)[0].starts_with("operators[1]: needs `module`"));
    }

    #[test]
    fn resources_are_checked_and_resolved() {
        let yaml = WORDCOUNT.replace(
            "    config:\n      lowercase: true",
            "    resources:\n      memory: 64Mi\n      callTimeout: 200ms",
        );
        let spec = JobSpec::from_yaml(&yaml).unwrap();
        let limits = spec.operator_limits(&spec.operators[0]);
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert_eq!(limits.call_timeout, Some(Duration::from_millis(200)));
        assert_eq!(spec.operator_limits(&spec.operators[1]).memory_bytes, None);

        let yaml = yaml.replace("64Mi", "64 bananas");
        assert!(errors_of(&yaml)[0].starts_with("operators[0].resources.memory:"));
    }

    #[test]
    fn a_bad_digest_is_refused() {
        let yaml = WORDCOUNT.replace(
            "module: operator/wordcount.wasm",
            "module: operator/wordcount.wasm\n    sha256: abc",
        );
        assert!(errors_of(&yaml)[0].starts_with("operators[0].sha256: 'abc' is not a sha256"));
    }

    #[test]
    fn missing_required_fields_are_named() {
        let errors = errors_of("name: x\nsource:\n  type: text\n  path: in.txt\n");
        assert!(errors[0].contains("missing field `sink`"), "{errors:?}");
        let errors =
            errors_of("name: x\nsource:\n  type: jsonl\n  path: a\nsink:\n  type: blackhole\n");
        assert!(errors[0].starts_with("source"), "{errors:?}");
        assert!(errors[0].contains("missing field `schema`"), "{errors:?}");
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn a_job_given_as_json_is_read_with_its_paths_like_yaml() {
        let job = serde_json::json!({
            "name": "j",
            "source": {"type": "generator", "count": 1},
            "operators": [{"name": "a", "builtin": "count", "keyBy": ["key"]},
                          {"name": "b", "builtin": "count", "bogus": 1}],
            "sink": {"type": "stdout"}
        });
        let error = JobSpec::from_json_value(job.clone()).unwrap_err();
        assert_eq!(error.0.len(), 1, "{error}");
        assert!(error.0[0].path.starts_with("operators[1]"), "{error}");
        assert!(error.0[0].message.contains("bogus"), "{error}");

        let mut valid = job;
        valid["operators"][1] =
            serde_json::json!({"name": "b", "builtin": "count", "keyBy": ["key"]});
        valid["parallelism"] = 0.into();
        let error = JobSpec::from_json_value(valid.clone()).unwrap_err();
        assert!(error.0.iter().any(|e| e.path == "parallelism"), "{error}");

        valid["parallelism"] = 2.into();
        let spec = JobSpec::from_json_value(valid).unwrap();
        assert_eq!(spec.parallelism, 2);
        assert_eq!(spec.operators.len(), 2);
    }
}
