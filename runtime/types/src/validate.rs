//! Checks a parsed job spec as a whole: every problem with its path,
//! reported together.

use std::collections::BTreeSet;

use crate::builtins::BuiltinConfig;
use crate::digest::Digest;
use crate::module_ref::ModuleRef;
use crate::quantity::{parse_bytes, parse_duration};
use crate::spec::*;

impl JobSpec {
    /// Checks what the types alone cannot: ranges, names, references.
    pub fn validate(&self) -> Result<(), SpecErrors> {
        let mut errors = Vec::new();
        let mut fail = |path: String, message: String| errors.push(SpecError { path, message });

        if self.name.trim().is_empty() {
            fail("name".into(), "must not be empty".into());
        }
        if !(1..=MAX_MAX_PARALLELISM).contains(&self.max_parallelism) {
            fail(
                "maxParallelism".into(),
                format!(
                    "must be between 1 and {MAX_MAX_PARALLELISM}, got {}",
                    self.max_parallelism
                ),
            );
        }
        check_parallelism(
            self.parallelism,
            self.max_parallelism,
            "parallelism",
            &mut fail,
        );
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            fail(
                "batchSize".into(),
                format!(
                    "must be between 1 and {MAX_BATCH_SIZE}, got {}",
                    self.batch_size
                ),
            );
        }
        check_resources(&self.resources, "resources", &mut fail);

        let rate = match &self.source {
            SourceSpec::Text(text) => text.rate,
            SourceSpec::Jsonl(jsonl) => jsonl.rate,
            SourceSpec::Generator(generator) => generator.rate,
        };
        if let Some(rate) = rate {
            if !(rate.is_finite() && rate > 0.0) {
                fail(
                    "source.rate".into(),
                    format!("must be a positive number of records per second, got {rate}"),
                );
            }
        }
        match &self.source {
            SourceSpec::Text(text) => check_path(&text.path, "source.path", &mut fail),
            SourceSpec::Jsonl(jsonl) => {
                check_path(&jsonl.path, "source.path", &mut fail);
                check_fields(&jsonl.schema, "source.schema", &mut fail);
            }
            SourceSpec::Generator(generator) => {
                if generator.keys == 0 {
                    fail("source.keys".into(), "must be at least 1".into());
                }
            }
        }

        let mut names = BTreeSet::new();
        for (i, op) in self.operators.iter().enumerate() {
            let at = |field: &str| format!("operators[{i}].{field}");
            if op.name.trim().is_empty() {
                fail(at("name"), "must not be empty".into());
            } else if !names.insert(op.name.as_str()) {
                fail(
                    at("name"),
                    format!(
                        "'{}' is used by an earlier operator; names must be unique",
                        op.name
                    ),
                );
            }
            match (&op.module, &op.builtin) {
                // A window's module is its user aggregate function.
                (Some(module), Some(builtin)) if builtin == "window" => {
                    if let Err(e) = ModuleRef::parse(module) {
                        fail(at("module"), e.to_string());
                    }
                }
                (Some(_), Some(_)) => fail(
                    format!("operators[{i}]"),
                    "has both `module` and `builtin`; give exactly one (only a window \
                     takes both: its module is an aggregate function)"
                        .into(),
                ),
                (None, None) => fail(
                    format!("operators[{i}]"),
                    format!(
                        "needs `module` (a WASM component) or `builtin` (one of: {})",
                        BUILTIN_OPERATORS.join(", ")
                    ),
                ),
                (Some(module), None) => {
                    if let Err(e) = ModuleRef::parse(module) {
                        fail(at("module"), e.to_string());
                    }
                }
                (None, Some(builtin)) => {
                    if !BUILTIN_OPERATORS.contains(&builtin.as_str()) {
                        fail(
                            at("builtin"),
                            format!(
                                "unknown built-in '{builtin}' (known: {})",
                                BUILTIN_OPERATORS.join(", ")
                            ),
                        );
                    }
                    if op.sha256.is_some() {
                        fail(at("sha256"), "applies to `module` only".into());
                    }
                }
            }
            if let Some(builtin) = op.builtin.as_deref() {
                let known = BUILTIN_OPERATORS.contains(&builtin);
                // `count` with a module is refused above.
                let alone = op.module.is_none() || builtin == "window";
                if known && alone && op.config.is_object() {
                    if let Err(e) = BuiltinConfig::parse(builtin, &op.config, op.module.is_some()) {
                        let field = match e.field.as_str() {
                            "" => at("config"),
                            field => at(&format!("config.{field}")),
                        };
                        fail(field, e.message);
                    }
                }
            }
            if let Some(digest) = &op.sha256 {
                if let Err(e) = Digest::parse(digest) {
                    fail(at("sha256"), e.to_string());
                }
            }
            if !op.config.is_object() {
                fail(at("config"), "must be a mapping".into());
            }
            let mut keys = BTreeSet::new();
            for (k, key) in op.key_by.iter().enumerate() {
                if key.trim().is_empty() {
                    fail(
                        format!("operators[{i}].keyBy[{k}]"),
                        "must not be empty".into(),
                    );
                } else if !keys.insert(key) {
                    fail(
                        format!("operators[{i}].keyBy[{k}]"),
                        format!("'{key}' is listed twice"),
                    );
                }
            }
            if op.partition.is_some() && !op.key_by.is_empty() {
                fail(
                    at("partition"),
                    "a keyed operator is partitioned by its keyBy; give one of the two".into(),
                );
            }
            if let Some(parallelism) = op.parallelism {
                check_parallelism(
                    parallelism,
                    self.max_parallelism,
                    &at("parallelism"),
                    &mut fail,
                );
            }
            if let Some(resources) = &op.resources {
                check_resources(resources, &at("resources"), &mut fail);
            }
        }

        if let Some(interval) = self.sink.flush_interval_text() {
            match parse_duration(interval) {
                Ok(d) if d.is_zero() => {
                    fail("sink.flushInterval".into(), "must be more than 0".into())
                }
                Ok(_) => {}
                Err(e) => fail("sink.flushInterval".into(), e.to_string()),
            }
        }
        if let Some(path) = self.sink.path() {
            check_path(path, "sink.path", &mut fail);
        }
        if let Some(restart) = &self.restart {
            for (path, message) in restart.validate("restartStrategy") {
                fail(path, message);
            }
        }
        if let Some(checkpointing) = &self.checkpointing {
            for (field, value) in [
                ("interval", &checkpointing.interval),
                ("timeout", &checkpointing.timeout),
            ] {
                match parse_duration(value) {
                    Ok(d) if d.is_zero() => {
                        fail(format!("checkpointing.{field}"), "must be positive".into())
                    }
                    Ok(_) => {}
                    Err(e) => fail(format!("checkpointing.{field}"), e.to_string()),
                }
            }
            if checkpointing.retained == 0 {
                fail("checkpointing.retained".into(), "must be at least 1".into());
            }
            if checkpointing
                .storage
                .as_deref()
                .is_some_and(|s| s.trim().is_empty())
            {
                fail("checkpointing.storage".into(), "must not be empty".into());
            }
        }
        if let Some(event_time) = &self.event_time {
            if event_time.column.trim().is_empty() {
                fail("eventTime.column".into(), "must not be empty".into());
            }
            if let WatermarkSpec::BoundedOutOfOrderness {
                max_out_of_orderness,
            } = &event_time.watermarks
            {
                if let Err(e) = parse_duration(max_out_of_orderness) {
                    fail(
                        "eventTime.watermarks.maxOutOfOrderness".into(),
                        e.to_string(),
                    );
                }
            }
            if let Some(timeout) = &event_time.idle_timeout {
                match parse_duration(timeout) {
                    Ok(d) if d.is_zero() => {
                        fail("eventTime.idleTimeout".into(), "must be positive".into())
                    }
                    Ok(_) => {}
                    Err(e) => fail("eventTime.idleTimeout".into(), e.to_string()),
                }
            }
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(SpecErrors(errors))
        }
    }
}

fn check_parallelism(value: u32, max: u32, path: &str, fail: &mut impl FnMut(String, String)) {
    if value == 0 || value > max {
        fail(
            path.to_string(),
            format!("must be between 1 and maxParallelism ({max}), got {value}"),
        );
    }
}

fn check_path(path: &str, at: &str, fail: &mut impl FnMut(String, String)) {
    if path.trim().is_empty() {
        fail(at.to_string(), "must not be empty".into());
    }
}

fn check_resources(resources: &ResourceSpec, at: &str, fail: &mut impl FnMut(String, String)) {
    if let Some(memory) = &resources.memory {
        match parse_bytes(memory) {
            Ok(0) => fail(format!("{at}.memory"), "must be more than 0".into()),
            Ok(_) => {}
            Err(e) => fail(format!("{at}.memory"), e.to_string()),
        }
    }
    if let Some(bytes) = &resources.max_state_value {
        if let Err(e) = parse_bytes(bytes) {
            fail(format!("{at}.maxStateValue"), e.to_string());
        }
    }
    if let Some(timeout) = &resources.call_timeout {
        match parse_duration(timeout) {
            Ok(d) if d.is_zero() => fail(format!("{at}.callTimeout"), "must be more than 0".into()),
            Ok(_) => {}
            Err(e) => fail(format!("{at}.callTimeout"), e.to_string()),
        }
    }
}

fn check_fields(fields: &[FieldSpec], at: &str, fail: &mut impl FnMut(String, String)) {
    if fields.is_empty() {
        fail(at.to_string(), "must list at least one field".into());
    }
    let mut names = BTreeSet::new();
    for (i, field) in fields.iter().enumerate() {
        if field.name.is_empty() {
            fail(format!("{at}[{i}].name"), "must not be empty".into());
        } else if !names.insert(field.name.as_str()) {
            fail(
                format!("{at}[{i}].name"),
                format!("'{}' is used twice", field.name),
            );
        }
    }
}
