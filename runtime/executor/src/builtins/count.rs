//! `count`: counts records per key of its keyed input. Emits, per record,
//! the key and its running count (`emit: running`, the default, as Flink's
//! keyed running aggregates do), or only the final counts when the input
//! ends (`emit: final`, for bounded inputs), ordered by count descending then
//! key ascending so that the output is deterministic.

use std::cmp::Ordering;
use std::collections::HashMap;

use std::sync::Arc;
use weir_state::codec::{put_bytes, put_i64, put_u32, Reader};

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use weir_row_codec::Value;
use weir_types::{CountConfig, CountEmit};

use crate::operator::{OpenInfo, Operator, OperatorError};
use crate::rows::{self, ColumnBuilder};
use crate::schema::column_indices;

pub struct Count {
    name: String,
    emit: CountEmit,
    keys: Vec<usize>,
    output: Option<SchemaRef>,
    counts: HashMap<Vec<u8>, i64>,
    scratch: Vec<u8>,
}

impl Count {
    pub fn new(name: &str, config: CountConfig) -> Self {
        Count {
            name: name.to_string(),
            emit: config.emit,
            keys: Vec::new(),
            output: None,
            counts: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    fn increment(&mut self) -> i64 {
        if let Some(count) = self.counts.get_mut(&self.scratch) {
            *count += 1;
            *count
        } else {
            self.counts.insert(self.scratch.clone(), 1);
            1
        }
    }
}

impl Operator for Count {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&mut self, input: SchemaRef, info: &OpenInfo) -> Result<SchemaRef, OperatorError> {
        let failed = |message: String| OperatorError::InvalidConfig {
            operator: self.name.clone(),
            message,
        };
        if info.key_fields.is_empty() {
            return Err(failed(
                "count needs `keyBy`: the columns to count by".into(),
            ));
        }
        self.keys =
            column_indices(&input, &info.key_fields).map_err(|e| failed(format!("keyBy: {e}")))?;
        if info.key_fields.iter().any(|k| k == "count") {
            return Err(failed(
                "a key column named 'count' would clash with the output column".into(),
            ));
        }
        let mut fields: Vec<Field> = self.keys.iter().map(|&k| input.field(k).clone()).collect();
        fields.push(Field::new("count", DataType::Int64, false));
        let output = Arc::new(Schema::new(fields));
        self.output = Some(output.clone());
        Ok(output)
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let mut running = Vec::with_capacity(match self.emit {
            CountEmit::Running => batch.num_rows(),
            CountEmit::Final => 0,
        });
        let key_columns = rows::key_columns(&batch, &self.keys);
        for row in 0..batch.num_rows() {
            self.scratch.clear();
            rows::write_key(&key_columns, row, &mut self.scratch);
            let count = self.increment();
            if self.emit == CountEmit::Running {
                running.push(count);
            }
        }
        if self.emit == CountEmit::Running && !running.is_empty() {
            let Some(schema) = self.output.clone() else {
                return Err(OperatorError::Failed {
                    operator: self.name.clone(),
                    message: "process before open".into(),
                });
            };
            let mut columns: Vec<ArrayRef> =
                self.keys.iter().map(|&k| batch.column(k).clone()).collect();
            columns.push(Arc::new(Int64Array::from(running)));
            let batch =
                RecordBatch::try_new(schema, columns).map_err(|e| OperatorError::Failed {
                    operator: self.name.clone(),
                    message: e.to_string(),
                })?;
            out.push(batch);
        }
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Vec<u8>, OperatorError> {
        let mut out = Vec::new();
        put_u32(&mut out, self.counts.len() as u32);
        for (key, count) in &self.counts {
            put_bytes(&mut out, key);
            put_i64(&mut out, *count);
        }
        Ok(out)
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), OperatorError> {
        let damaged = |e: weir_state::StateError| OperatorError::Failed {
            operator: self.name.clone(),
            message: format!("cannot restore its counts: {e}"),
        };
        let mut r = Reader::new(state);
        let mut counts = HashMap::new();
        for _ in 0..r.u32().map_err(damaged)? {
            let key = r.bytes().map_err(damaged)?;
            counts.insert(key, r.i64().map_err(damaged)?);
        }
        r.finish().map_err(damaged)?;
        self.counts = counts;
        Ok(())
    }

    fn close(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        if self.emit == CountEmit::Running || self.counts.is_empty() {
            return Ok(());
        }
        let failed = |message: String| OperatorError::Failed {
            operator: self.name.clone(),
            message,
        };
        let schema = self
            .output
            .clone()
            .ok_or_else(|| failed("close before open".into()))?;
        let columns = self.keys.len();
        let mut entries = Vec::with_capacity(self.counts.len());
        for (key, count) in &self.counts {
            let mut values = Vec::with_capacity(columns);
            rows::read_key(key, columns, &mut values).map_err(|e| failed(e.to_string()))?;
            entries.push((values, *count));
        }
        entries.sort_by(|(a_key, a_count), (b_key, b_count)| {
            b_count
                .cmp(a_count)
                .then_with(|| compare_keys(a_key, b_key))
        });
        let mut builders: Vec<ColumnBuilder> = rows::builders(&schema, entries.len());
        for (values, count) in &entries {
            for (builder, value) in builders
                .iter_mut()
                .zip(values.iter().chain([&Value::Int64(*count)]))
            {
                builder.push(value).map_err(|found| {
                    failed(format!("key of type {found} does not fit its column"))
                })?;
            }
        }
        let arrays = builders.into_iter().map(ColumnBuilder::finish).collect();
        out.push(RecordBatch::try_new(schema, arrays).map_err(|e| failed(e.to_string()))?);
        self.counts.clear();
        Ok(())
    }
}

fn compare_keys(a: &[Value<'_>], b: &[Value<'_>]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// A total order over values: nulls first, then by value within a type.
fn compare_values(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    match (a, b) {
        (Value::Boolean(x), Value::Boolean(y)) => x.cmp(y),
        (Value::Int64(x), Value::Int64(y)) => x.cmp(y),
        (Value::TimestampMillis(x), Value::TimestampMillis(y)) => x.cmp(y),
        (Value::Float64(x), Value::Float64(y)) => x.total_cmp(y),
        (Value::Utf8(x), Value::Utf8(y)) => x.cmp(y),
        (Value::Binary(x), Value::Binary(y)) => x.cmp(y),
        _ => a.tag().cmp(&b.tag()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::StringArray;

    /// A count from its written config, as `builtins::create` makes one.
    fn new_count(name: &str, config: &serde_json::Value) -> Result<Count, OperatorError> {
        let config = CountConfig::parse(config).map_err(|e| OperatorError::InvalidConfig {
            operator: name.to_string(),
            message: e.to_string(),
        })?;
        Ok(Count::new(name, config))
    }

    fn words(words: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("word", DataType::Utf8, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(words.to_vec()))]).unwrap()
    }

    fn opened(emit: &str) -> Count {
        let mut count = new_count("count", &serde_json::json!({ "emit": emit })).unwrap();
        let info = OpenInfo {
            key_fields: vec!["word".into()],
            ..OpenInfo::default()
        };
        count.open(words(&[]).schema(), &info).unwrap();
        count
    }

    #[test]
    fn running_counts_per_record() {
        let mut count = opened("running");
        let mut out = Vec::new();
        count.process(words(&["a", "b", "a"]), &mut out).unwrap();
        count.process(words(&["a"]), &mut out).unwrap();
        let counts: Vec<i64> = out
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(counts, vec![1, 1, 2, 3]);
    }

    #[test]
    fn final_counts_sorted_by_count_then_key() {
        let mut count = opened("final");
        let mut out = Vec::new();
        count
            .process(words(&["b", "a", "c", "b", "a", "b"]), &mut out)
            .unwrap();
        assert!(out.is_empty());
        count.close(&mut out).unwrap();
        let batch = &out[0];
        let keys: Vec<&str> = batch
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        let counts = batch
            .column(1)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert_eq!(keys, vec!["b", "a", "c"]);
        assert_eq!(counts, vec![3, 2, 1]);
    }

    #[test]
    fn config_and_keys_are_checked() {
        let err = new_count("c", &serde_json::json!({ "emit": "sometimes" }))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("emit must be 'running' or 'final'"),
            "{err}"
        );
        let err = new_count("c", &serde_json::json!({ "mode": "x" }))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("unknown config key 'mode'"),
            "{err}"
        );
        let mut count = new_count("c", &serde_json::json!({})).unwrap();
        let info = OpenInfo {
            key_fields: vec!["wrod".into()],
            ..OpenInfo::default()
        };
        let err = count
            .open(words(&[]).schema(), &info)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no column 'wrod' (the input has: word)"),
            "{err}"
        );
        let err = count
            .open(words(&[]).schema(), &OpenInfo::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("count needs `keyBy`"), "{err}");
    }
}
