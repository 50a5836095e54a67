//! The configurations of the built-in operators (`count`, `window`), typed
//! and checked with the job spec: a bad window is refused at submit, with
//! its path, not when a TaskManager opens it.

use std::fmt;

use serde::Deserialize;

use crate::quantity::parse_duration;
use crate::spec::OutputFormat;

/// A built-in operator's configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum BuiltinConfig {
    Count(CountConfig),
    Window(WindowConfig),
}

/// What a built-in's configuration got wrong: `field` is its path within
/// `config` (`aggregates[1]`, `size`), empty for the whole of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BuiltinConfigError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for BuiltinConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn error(field: impl Into<String>, message: impl Into<String>) -> BuiltinConfigError {
    BuiltinConfigError {
        field: field.into(),
        message: message.into(),
    }
}

impl BuiltinConfig {
    /// Reads the `config` of built-in `builtin`; `has_module` says whether
    /// the operator names a `module` (a window's user aggregate function).
    pub fn parse(
        builtin: &str,
        config: &serde_json::Value,
        has_module: bool,
    ) -> Result<Self, BuiltinConfigError> {
        match builtin {
            "count" if has_module => Err(error("", "count takes no `module`")),
            "count" => CountConfig::parse(config).map(BuiltinConfig::Count),
            "window" => WindowConfig::parse(config, has_module).map(BuiltinConfig::Window),
            other => Err(error("", format!("unknown built-in '{other}'"))),
        }
    }
}

/// The tag of a window's late records among its side outputs (Flink's
/// `sideOutputLateData`).
pub const LATE_RECORDS: &str = "late-records";

/// Where one side output of an operator goes: records the operator sets
/// aside beside its output, which its task writes to a file of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideOutputSpec {
    /// Names the side output to the operator ([`LATE_RECORDS`]).
    pub tag: &'static str,
    /// The field of the operator's `config` that names the file, for errors.
    pub field: &'static str,
    pub path: String,
    pub format: OutputFormat,
}

impl BuiltinConfig {
    /// The side outputs the configuration gives a destination.
    pub fn side_outputs(&self) -> Vec<SideOutputSpec> {
        match self {
            BuiltinConfig::Window(WindowConfig {
                late_records: Some(late),
                ..
            }) => vec![SideOutputSpec {
                tag: LATE_RECORDS,
                field: "lateRecords.path",
                path: late.path.clone(),
                format: late.format,
            }],
            _ => Vec::new(),
        }
    }
}

/// What `count` emits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CountEmit {
    /// The key and its running count, per record.
    #[default]
    Running,
    /// Only the final counts, when the input ends.
    Final,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountConfig {
    pub emit: CountEmit,
}

impl CountConfig {
    pub fn parse(config: &serde_json::Value) -> Result<Self, BuiltinConfigError> {
        let object = config
            .as_object()
            .ok_or_else(|| error("", "config must be a mapping"))?;
        let mut parsed = CountConfig::default();
        for (key, value) in object {
            parsed.emit = match (key.as_str(), value.as_str()) {
                ("emit", Some("running")) => CountEmit::Running,
                ("emit", Some("final")) => CountEmit::Final,
                ("emit", _) => {
                    return Err(error(
                        "",
                        format!("emit must be 'running' or 'final', got {value}"),
                    ))
                }
                (other, _) => {
                    return Err(error(
                        "",
                        format!("unknown config key '{other}' (known: emit)"),
                    ))
                }
            };
        }
        Ok(parsed)
    }
}

/// Which windows a record belongs to. Sizes in milliseconds of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAssigner {
    Tumbling { size: i64 },
    Sliding { size: i64, slide: i64 },
    Session { gap: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// The window's `module`, an aggregate-function component.
    Udf,
}

impl AggregateFunction {
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Udf => "udf",
        }
    }
}

/// One output column of a window after its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAggregate {
    pub function: AggregateFunction,
    /// The input column (sum, min, max, avg).
    pub column: Option<String>,
    /// The output column: `as`, or `count`, `sum_amount`, `udf_0`.
    pub name: String,
    /// `fn: udf` only: the function's own configuration, as JSON text.
    pub udf_config: Option<String>,
}

/// Where records too late for their windows go instead of being dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRecords {
    pub path: String,
    pub format: OutputFormat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowConfig {
    pub assigner: WindowAssigner,
    pub aggregates: Vec<WindowAggregate>,
    /// Milliseconds a window keeps taking late records after it fires.
    pub allowed_lateness: i64,
    pub late_records: Option<LateRecords>,
}

/// The window's `config` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WrittenWindow {
    #[serde(rename = "type")]
    kind: String,
    size: Option<String>,
    slide: Option<String>,
    gap: Option<String>,
    aggregates: Vec<WrittenAggregate>,
    allowed_lateness: Option<String>,
    late_records: Option<WrittenLateRecords>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenLateRecords {
    path: String,
    #[serde(default)]
    format: OutputFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenAggregate {
    #[serde(rename = "fn")]
    function: String,
    column: Option<String>,
    #[serde(rename = "as")]
    name: Option<String>,
    config: Option<serde_json::Value>,
}

/// The duration in `field`, in milliseconds; `positive` refuses zero.
fn millis(
    field: &str,
    value: &Option<String>,
    positive: bool,
) -> Result<Option<i64>, BuiltinConfigError> {
    let Some(text) = value.as_deref() else {
        return Ok(None);
    };
    let duration = parse_duration(text).map_err(|e| error(field, e.to_string()))?;
    let ms = i64::try_from(duration.as_millis()).map_err(|_| error(field, "too long"))?;
    if positive && ms <= 0 {
        return Err(error("", format!("{field} must be more than 0 ms")));
    }
    Ok(Some(ms))
}

impl WindowConfig {
    pub fn parse(config: &serde_json::Value, has_module: bool) -> Result<Self, BuiltinConfigError> {
        let written: WrittenWindow =
            serde_json::from_value(config.clone()).map_err(|e| error("", e.to_string()))?;
        let size = millis("size", &written.size, true)?;
        let slide = millis("slide", &written.slide, true)?;
        let gap = millis("gap", &written.gap, true)?;
        let assigner = match (written.kind.as_str(), size, slide, gap) {
            ("tumbling", Some(size), None, None) => WindowAssigner::Tumbling { size },
            ("sliding", Some(size), Some(slide), None) => WindowAssigner::Sliding { size, slide },
            ("session", None, None, Some(gap)) => WindowAssigner::Session { gap },
            ("tumbling", ..) => return Err(error("", "a tumbling window takes `size` only")),
            ("sliding", ..) => return Err(error("", "a sliding window takes `size` and `slide`")),
            ("session", ..) => return Err(error("", "a session window takes `gap` only")),
            (other, ..) => {
                return Err(error(
                    "type",
                    format!("unknown window type '{other}' (known: tumbling, sliding, session)"),
                ))
            }
        };
        if written.aggregates.is_empty() {
            return Err(error("", "list at least one aggregate"));
        }
        let mut aggregates = Vec::new();
        let mut udfs = 0;
        for (i, agg) in written.aggregates.iter().enumerate() {
            let at = format!("aggregates[{i}]");
            let function = match agg.function.as_str() {
                "count" => AggregateFunction::Count,
                "sum" => AggregateFunction::Sum,
                "min" => AggregateFunction::Min,
                "max" => AggregateFunction::Max,
                "avg" => AggregateFunction::Avg,
                "udf" => AggregateFunction::Udf,
                other => {
                    return Err(error(
                        at,
                        format!("unknown fn '{other}' (known: count, sum, min, max, avg, udf)"),
                    ))
                }
            };
            let name = match (function, &agg.column) {
                (AggregateFunction::Udf, _) if !has_module => {
                    return Err(error(
                        at,
                        "fn udf runs the operator's `module`, an aggregate-function component, \
                         and this window has none",
                    ))
                }
                (AggregateFunction::Udf, Some(_)) => {
                    return Err(error(
                        at,
                        "fn udf takes its columns in its `config`, not `column`",
                    ))
                }
                (AggregateFunction::Udf, None) => {
                    udfs += 1;
                    format!("udf_{}", udfs - 1)
                }
                (_, _) if agg.config.is_some() => {
                    return Err(error(at, "`config` is for fn udf only"))
                }
                (AggregateFunction::Count, None) => "count".to_string(),
                (AggregateFunction::Count, Some(_)) => {
                    return Err(error(at, "count takes no column"))
                }
                (_, Some(column)) => format!("{}_{column}", agg.function),
                (_, None) => return Err(error(at, format!("{} needs a `column`", agg.function))),
            };
            aggregates.push(WindowAggregate {
                function,
                column: agg.column.clone(),
                name: agg.name.clone().unwrap_or(name),
                udf_config: (function == AggregateFunction::Udf).then(|| {
                    agg.config
                        .as_ref()
                        .map_or_else(|| "{}".to_string(), |c| c.to_string())
                }),
            });
        }
        if udfs == 0 && has_module {
            return Err(error(
                "",
                "the window has a `module` but no aggregate with fn udf to run it",
            ));
        }
        Ok(WindowConfig {
            assigner,
            aggregates,
            allowed_lateness: millis("allowedLateness", &written.allowed_lateness, false)?
                .unwrap_or(0),
            late_records: written.late_records.map(|late| LateRecords {
                path: late.path,
                format: late.format,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn window(config: serde_json::Value) -> Result<WindowConfig, String> {
        WindowConfig::parse(&config, false).map_err(|e| e.to_string())
    }

    #[test]
    fn a_window_reads_its_assigner_aggregates_and_lateness() {
        let parsed = window(json!({
            "type": "sliding", "size": "1m", "slide": "10s", "allowedLateness": "2s",
            "aggregates": [{"fn": "count"}, {"fn": "sum", "column": "amount", "as": "total"},
                           {"fn": "max", "column": "amount"}],
            "lateRecords": {"path": "late.jsonl"},
        }))
        .unwrap();
        assert_eq!(
            parsed.assigner,
            WindowAssigner::Sliding {
                size: 60_000,
                slide: 10_000
            }
        );
        let names: Vec<_> = parsed.aggregates.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["count", "total", "max_amount"]);
        assert_eq!(parsed.allowed_lateness, 2_000);
        assert_eq!(parsed.late_records.unwrap().format, OutputFormat::Json);
    }

    #[test]
    fn each_mistake_names_its_field() {
        let cases = [
            (
                json!({"type": "hopping", "size": "1s", "aggregates": [{"fn": "count"}]}),
                "type: unknown window type 'hopping'",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "gap": "1s", "aggregates": [{"fn": "count"}]}),
                "a tumbling window takes `size` only",
            ),
            (
                json!({"type": "session", "gap": "0s", "aggregates": [{"fn": "count"}]}),
                "gap must be more than 0 ms",
            ),
            (
                json!({"type": "tumbling", "size": "soon", "aggregates": [{"fn": "count"}]}),
                "size: ",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "aggregates": []}),
                "list at least one aggregate",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "aggregates": [{"fn": "count"}, {"fn": "median", "column": "x"}]}),
                "aggregates[1]: unknown fn 'median'",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "aggregates": [{"fn": "sum"}]}),
                "aggregates[0]: sum needs a `column`",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "aggregates": [{"fn": "count", "column": "x"}]}),
                "aggregates[0]: count takes no column",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "aggregates": [{"fn": "udf"}]}),
                "aggregates[0]: fn udf runs the operator's `module`",
            ),
            (
                json!({"type": "tumbling", "size": "1s", "aggregates": [{"fn": "count"}], "colour": 1}),
                "unknown field `colour`",
            ),
        ];
        for (config, expected) in cases {
            let err = window(config.clone()).unwrap_err();
            assert!(
                err.starts_with(expected) || err.contains(expected),
                "{config}: {err}"
            );
        }
    }

    #[test]
    fn a_window_module_needs_an_udf_and_count_needs_none() {
        let counted = json!({"type": "tumbling", "size": "1s", "aggregates": [{"fn": "count"}]});
        let err = WindowConfig::parse(&counted, true).unwrap_err();
        assert!(
            err.to_string().contains("no aggregate with fn udf"),
            "{err}"
        );
        let udf = json!({"type": "tumbling", "size": "1s",
                         "aggregates": [{"fn": "udf", "config": {"column": "x"}}]});
        let parsed = WindowConfig::parse(&udf, true).unwrap();
        assert_eq!(parsed.aggregates[0].name, "udf_0");
        assert_eq!(
            parsed.aggregates[0].udf_config.as_deref(),
            Some(r#"{"column":"x"}"#)
        );
        let err = BuiltinConfig::parse("count", &json!({}), true).unwrap_err();
        assert_eq!(err.to_string(), "count takes no `module`");
        let err = BuiltinConfig::parse("count", &json!({"emit": "sometimes"}), false).unwrap_err();
        assert!(
            err.to_string()
                .contains("emit must be 'running' or 'final'"),
            "{err}"
        );
    }

    #[test]
    fn the_job_spec_refuses_a_bad_builtin_config_with_its_path() {
        let yaml = "name: j\nsource: {type: generator}\noperators:\n  - name: c\n    builtin: count\n    config: {emit: sometimes}\n  - name: w\n    builtin: window\n    keyBy: [k]\n    config: {type: tumbling, size: 1s, aggregates: [{fn: count}, {fn: sum}]}\nsink: {type: blackhole}\n";
        let errors = crate::JobSpec::from_yaml(yaml).unwrap_err().to_string();
        assert!(
            errors.contains("operators[0].config: emit must be 'running' or 'final'"),
            "{errors}"
        );
        assert!(
            errors.contains("operators[1].config.aggregates[1]: sum needs a `column`"),
            "{errors}"
        );
    }
}
