//! What the runtime tells an operator instance when it opens.

use serde::de::DeserializeOwned;

use crate::{Error, Schema};

/// The operator's name, configuration, input schema and place in the job.
#[derive(Debug, Clone)]
pub struct OpenContext {
    pub(crate) operator_name: String,
    pub(crate) config: String,
    pub(crate) input_schema: Schema,
    pub(crate) key_fields: Vec<String>,
    pub(crate) subtask_index: u32,
    pub(crate) parallelism: u32,
    pub(crate) attempt: u32,
}

impl OpenContext {
    /// A context as the runtime would pass it for the first run of subtask 0
    /// of 1, with an empty configuration and no key. Useful to test operators
    /// natively; adjust it with the `with_` methods.
    pub fn new(operator_name: impl Into<String>, input_schema: Schema) -> Self {
        OpenContext {
            operator_name: operator_name.into(),
            config: "{}".to_owned(),
            input_schema,
            key_fields: Vec::new(),
            subtask_index: 0,
            parallelism: 1,
            attempt: 0,
        }
    }

    /// Sets the configuration, as JSON text.
    pub fn with_config(mut self, config_json: impl Into<String>) -> Self {
        self.config = config_json.into();
        self
    }

    /// Sets the key columns.
    pub fn with_key_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.key_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the subtask index and the parallelism.
    pub fn with_subtask(mut self, index: u32, parallelism: u32) -> Self {
        self.subtask_index = index;
        self.parallelism = parallelism;
        self
    }

    /// Sets the restart attempt.
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The operator's name in the job spec.
    pub fn operator_name(&self) -> &str {
        &self.operator_name
    }

    /// The operator's `config` from the job spec, parsed into `T`.
    ///
    /// A configuration left out of the job spec arrives as `{}`, which gives
    /// `T::default()` when `T` is `#[serde(default)]`. Errors are
    /// `invalid-config` and name the offending field, so the job fails before
    /// any record flows. Use `#[serde(deny_unknown_fields)]` to catch typos.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let text = if self.config.trim().is_empty() {
            "{}"
        } else {
            self.config.as_str()
        };
        let de = &mut serde_json::Deserializer::from_str(text);
        let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
        let value = parsed.map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.to_string();
            // The runtime hands over JSON it generated from the job spec, so a
            // position in that text means nothing to the user; the field path
            // says where the problem is.
            if inner.classify() == serde_json::error::Category::Data {
                if let Some(at) = message.rfind(" at line ") {
                    message.truncate(at);
                }
            }
            let name = &self.operator_name;
            if path == "." || path.is_empty() {
                Error::invalid_config(format!("invalid config of operator `{name}`: {message}"))
            } else {
                Error::invalid_config(format!(
                    "invalid config of operator `{name}`: field `{path}`: {message}"
                ))
            }
        })?;
        Ok(value)
    }

    /// The raw configuration, as JSON text (`{}` when the job spec has none).
    pub fn config_json(&self) -> &str {
        &self.config
    }

    /// The schema of the batches the operator will receive.
    pub fn input_schema(&self) -> &Schema {
        &self.input_schema
    }

    /// The columns the input is keyed by, in order (empty when the input is
    /// not keyed). Keyed state and timers need a keyed input.
    pub fn key_fields(&self) -> &[String] {
        &self.key_fields
    }

    /// The input column indexes of [`key_fields`](Self::key_fields), for
    /// [`state::key_of`](crate::state::key_of).
    pub fn key_indexes(&self) -> Result<Vec<usize>, Error> {
        self.key_fields
            .iter()
            .map(|name| self.input_schema.index_of(name))
            .collect()
    }

    /// This instance's subtask, from 0 to `parallelism() - 1`.
    pub fn subtask_index(&self) -> u32 {
        self.subtask_index
    }

    /// How many instances of the operator run in parallel.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// How many times the task has been restarted (0 on the first run).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}
