//! `window`: event-time windows over a keyed input, with built-in
//! aggregates, as Flink's window operator with its event-time trigger.
//!
//! ```yaml
//! builtin: window
//! keyBy: [user]
//! config:
//!   type: tumbling            # tumbling (size), sliding (size, slide) or session (gap)
//!   size: 1m
//!   aggregates:
//!     - {fn: count}                         # column `count`
//!     - {fn: sum, column: amount, as: total} # also min, max, avg
//!   allowedLateness: 0s
//! ```
//!
//! Output, one record per window and key when the watermark passes the
//! window's end: the key columns, `window_start` and `window_end`
//! (timestamp-millis, end exclusive), then the aggregates. Within allowed
//! lateness a late record updates its window, which is emitted again; a
//! record later than that is dropped and counted (`numLateRecordsDropped`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_row_codec::Value;
use weir_types::{AggregateFunction, UserMetric, WindowAssigner, WindowConfig, LATE_RECORDS};

use crate::operator::{OpenInfo, Operator, OperatorError, SideRecords};
use crate::rows::{self, ColumnBuilder};
use crate::schema::column_indices;
use crate::user::UserAggregates;

mod accumulators;
mod snapshot;
#[cfg(test)]
mod tests;
mod udf;

use accumulators::{Acc, Aggregate, Function, Numeric};
use udf::Udf;

/// An output column after the window bounds: a built-in aggregate or a
/// user one, by index, in the order of the config.
#[derive(Debug, Clone, Copy)]
enum OutputColumn {
    Builtin(usize),
    Udf(usize),
}

struct Pane {
    end: i64,
    accs: Vec<Acc>,
    fired: bool,
    /// One accumulator per user aggregate.
    udf: Vec<Vec<u8>>,
}

pub struct Window {
    name: String,
    assigner: WindowAssigner,
    aggregates: Vec<Aggregate>,
    udfs: Vec<Udf>,
    columns: Vec<OutputColumn>,
    /// Makes the user aggregates' instances (the operator's `module`).
    user_aggregates: Option<Arc<dyn UserAggregates>>,
    lateness: i64,
    keys: Vec<usize>,
    time: usize,
    output: Option<SchemaRef>,
    panes: HashMap<Vec<u8>, BTreeMap<i64, Pane>>,
    /// Windows waiting for the watermark: (max timestamp, key, start).
    pending: BTreeSet<(i64, Vec<u8>, i64)>,
    /// Fired windows kept for late records: (last moment, key, start).
    expiring: BTreeSet<(i64, Vec<u8>, i64)>,
    watermark: i64,
    late_dropped: u64,
    /// Whether the task writes late records to a side output (`lateRecords`);
    /// without one they are dropped and counted.
    late_to_side_output: bool,
    /// Late records set aside since the task last took them.
    late_records: Vec<RecordBatch>,
    late_set_aside: u64,
    scratch: Vec<u8>,
    /// One record's values, reused from record to record.
    row_accs: Vec<Acc>,
}

impl Window {
    /// `config` was checked with the job spec; `user_aggregates`: the
    /// operator's `module`, when its aggregates include `fn: udf`. Where
    /// late records go (`lateRecords`) is the task's: it tells the window
    /// at open whether they have a side output.
    pub fn new(
        name: &str,
        config: WindowConfig,
        user_aggregates: Option<Arc<dyn UserAggregates>>,
    ) -> Result<Self, OperatorError> {
        let invalid = |message: String| OperatorError::InvalidConfig {
            operator: name.to_string(),
            message,
        };
        let mut aggregates = Vec::new();
        let mut udfs = Vec::new();
        let mut columns = Vec::new();
        for agg in config.aggregates {
            let function = match agg.function {
                AggregateFunction::Udf => {
                    columns.push(OutputColumn::Udf(udfs.len()));
                    udfs.push(Udf {
                        name: agg.name,
                        config: agg.udf_config.unwrap_or_else(|| "{}".to_string()),
                        instance: None,
                        empty: Vec::new(),
                    });
                    continue;
                }
                AggregateFunction::Count => Function::Count,
                AggregateFunction::Sum => Function::Sum,
                AggregateFunction::Min => Function::Min,
                AggregateFunction::Max => Function::Max,
                AggregateFunction::Avg => Function::Avg,
            };
            columns.push(OutputColumn::Builtin(aggregates.len()));
            aggregates.push(Aggregate {
                function,
                name: agg.name,
                column: agg.column.map(|c| (c, Numeric::Int)),
                index: 0,
            });
        }
        // The spec was checked without the module's bytes; the module that
        // arrived is what runs.
        if udfs.is_empty() != user_aggregates.is_none() {
            return Err(invalid(
                "a window runs its `module` exactly when an aggregate has fn udf".into(),
            ));
        }
        Ok(Window {
            name: name.to_string(),
            assigner: config.assigner,
            aggregates,
            udfs,
            columns,
            user_aggregates,
            lateness: config.allowed_lateness,
            keys: Vec::new(),
            time: 0,
            output: None,
            panes: HashMap::new(),
            pending: BTreeSet::new(),
            expiring: BTreeSet::new(),
            watermark: i64::MIN,
            late_dropped: 0,
            late_to_side_output: false,
            late_records: Vec::new(),
            late_set_aside: 0,
            scratch: Vec::new(),
            row_accs: Vec::new(),
        })
    }

    /// Records no window takes any more: set aside for the side output,
    /// or dropped and counted.
    fn late(&mut self, batch: &RecordBatch, rows: Vec<u32>) -> Result<(), OperatorError> {
        if rows.is_empty() {
            return Ok(());
        }
        let count = rows.len() as u64;
        if !self.late_to_side_output {
            self.late_dropped += count;
            return Ok(());
        }
        let indices = arrow_array::UInt32Array::from(rows);
        let late = arrow_select::take::take_record_batch(batch, &indices)
            .map_err(|e| self.failed(format!("cannot take the late records: {e}")))?;
        self.late_records.push(late);
        self.late_set_aside += count;
        Ok(())
    }

    fn failed(&self, message: String) -> OperatorError {
        OperatorError::Failed {
            operator: self.name.clone(),
            message,
        }
    }

    fn empty_accs_iter(&self) -> impl Iterator<Item = Acc> + '_ {
        self.aggregates.iter().map(|a| match a.column {
            None => Acc::Count(0),
            Some((_, Numeric::Int)) => Acc::Int {
                sum: 0,
                min: i64::MAX,
                max: i64::MIN,
                n: 0,
            },
            Some((_, Numeric::Float)) => Acc::Float {
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                n: 0,
            },
        })
    }

    /// The windows `ts` belongs to, as (start, end).
    fn assign(&self, ts: i64) -> Vec<(i64, i64)> {
        match self.assigner {
            WindowAssigner::Tumbling { size } => {
                let start = ts - ts.rem_euclid(size);
                vec![(start, start + size)]
            }
            WindowAssigner::Sliding { size, slide } => {
                let mut windows = Vec::new();
                let mut start = ts - ts.rem_euclid(slide);
                while start > ts - size {
                    windows.push((start, start + size));
                    start -= slide;
                }
                windows
            }
            WindowAssigner::Session { gap } => vec![(ts, ts + gap)],
        }
    }

    /// Whether a window ending at `end` can take no more records.
    fn is_late(&self, end: i64) -> bool {
        end - 1 + self.lateness <= self.watermark
    }

    /// Adds one record's values to the window (start, end) of `key`,
    /// merging sessions; returns whether the window had fired already.
    fn add(
        &mut self,
        key: &[u8],
        mut start: i64,
        mut end: i64,
        values: &[Acc],
    ) -> Result<bool, OperatorError> {
        if !matches!(self.assigner, WindowAssigner::Session { .. }) {
            // The common case first, without allocating: the window exists.
            if let Some(pane) = self.panes.get_mut(key).and_then(|p| p.get_mut(&start)) {
                for (acc, value) in pane.accs.iter_mut().zip(values) {
                    *acc = acc.merge(*value);
                }
                return Ok(pane.fired);
            }
        }
        let mut accs = values.to_vec();
        let mut udf: Vec<Vec<u8>> = self.udfs.iter().map(|u| u.empty.clone()).collect();
        let mut fired = false;
        if !self.panes.contains_key(key) {
            self.panes.insert(key.to_vec(), BTreeMap::new());
        }
        if matches!(self.assigner, WindowAssigner::Session { .. }) {
            let overlapping: Vec<i64> = self.panes[key]
                .iter()
                .filter(|(s, p)| **s < end && start < p.end)
                .map(|(s, _)| *s)
                .collect();
            for s in overlapping {
                let Some(pane) = self.panes.get_mut(key).and_then(|p| p.remove(&s)) else {
                    continue;
                };
                self.pending.remove(&(pane.end - 1, key.to_vec(), s));
                self.expiring
                    .remove(&(pane.end - 1 + self.lateness, key.to_vec(), s));
                start = start.min(s);
                end = end.max(pane.end);
                fired |= pane.fired;
                accs = accs
                    .into_iter()
                    .zip(pane.accs)
                    .map(|(a, b)| a.merge(b))
                    .collect();
                udf = self.merge_udf(udf, pane.udf)?;
            }
            // A merged session that had fired fires again at once if the
            // watermark is past its (new) end; otherwise it waits again.
            fired = fired && end - 1 <= self.watermark;
            if fired {
                self.expiring
                    .insert((end - 1 + self.lateness, key.to_vec(), start));
            }
        }
        if let Some(panes) = self.panes.get_mut(key) {
            panes.insert(
                start,
                Pane {
                    end,
                    accs,
                    fired,
                    udf,
                },
            );
        }
        if !fired {
            self.pending.insert((end - 1, key.to_vec(), start));
        }
        Ok(fired)
    }

    fn emit(
        &mut self,
        fired: &[(Vec<u8>, i64)],
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        if fired.is_empty() {
            return Ok(());
        }
        let schema = self
            .output
            .clone()
            .ok_or_else(|| self.failed("emit before open".into()))?;
        let udf_results = self.finish_udf(fired)?;
        let udf_columns: Vec<rows::Column<'_>> = udf_results
            .iter()
            .map(|a| rows::Column::of(a.as_ref()))
            .collect();
        let mut builders: Vec<ColumnBuilder> = rows::builders(&schema, fired.len());
        for (position, (key, start)) in fired.iter().enumerate() {
            let pane = self
                .panes
                .get(key)
                .and_then(|p| p.get(start))
                .ok_or_else(|| self.failed("a fired window is gone".into()))?;
            let mut values: Vec<Value<'_>> = Vec::new();
            rows::read_key(key, self.keys.len(), &mut values)
                .map_err(|e| self.failed(e.to_string()))?;
            values.push(Value::TimestampMillis(*start));
            values.push(Value::TimestampMillis(pane.end));
            for column in &self.columns {
                let b = match *column {
                    OutputColumn::Builtin(b) => b,
                    OutputColumn::Udf(u) => {
                        values.push(udf_columns[u].value(position));
                        continue;
                    }
                };
                let (agg, acc) = (&self.aggregates[b], &pane.accs[b]);
                values.push(match (agg.function, *acc) {
                    (_, Acc::Count(n)) => Value::Int64(n),
                    (_, Acc::Int { n: 0, .. }) | (_, Acc::Float { n: 0, .. }) => Value::Null,
                    (Function::Sum, Acc::Int { sum, .. }) => Value::Int64(sum),
                    (Function::Min, Acc::Int { min, .. }) => Value::Int64(min),
                    (Function::Max, Acc::Int { max, .. }) => Value::Int64(max),
                    (Function::Avg, Acc::Int { sum, n, .. }) => {
                        Value::Float64(sum as f64 / n as f64)
                    }
                    (Function::Sum, Acc::Float { sum, .. }) => Value::Float64(sum),
                    (Function::Min, Acc::Float { min, .. }) => Value::Float64(min),
                    (Function::Max, Acc::Float { max, .. }) => Value::Float64(max),
                    (Function::Avg, Acc::Float { sum, n, .. }) => Value::Float64(sum / n as f64),
                    (Function::Count, _) => Value::Null,
                });
            }
            for (builder, value) in builders.iter_mut().zip(&values) {
                builder.push(value).map_err(|found| {
                    self.failed(format!("a value of type {found} does not fit its column"))
                })?;
            }
        }
        let arrays = builders.into_iter().map(ColumnBuilder::finish).collect();
        out.push(RecordBatch::try_new(schema, arrays).map_err(|e| self.failed(e.to_string()))?);
        Ok(())
    }
}

impl Operator for Window {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&mut self, input: SchemaRef, info: &OpenInfo) -> Result<SchemaRef, OperatorError> {
        let operator = self.name.clone();
        let invalid = |message: String| OperatorError::InvalidConfig {
            operator: operator.clone(),
            message,
        };
        if info.key_fields.is_empty() {
            return Err(invalid(
                "window needs `keyBy`: the columns to window by".into(),
            ));
        }
        let Some(time_column) = &info.event_time_column else {
            return Err(invalid(
                "window needs event time: give the job an `eventTime` (column and watermarks)"
                    .into(),
            ));
        };
        self.keys =
            column_indices(&input, &info.key_fields).map_err(|e| invalid(format!("keyBy: {e}")))?;
        self.time = input.index_of(time_column).map_err(|_| {
            invalid(format!(
                "the event time column '{time_column}' is not in its input"
            ))
        })?;
        match input.field(self.time).data_type() {
            DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _) => {}
            other => {
                return Err(invalid(format!(
                    "the event time column '{time_column}' is {other}"
                )))
            }
        }
        let mut fields: Vec<Field> = self.keys.iter().map(|&k| input.field(k).clone()).collect();
        fields.push(Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ));
        fields.push(Field::new(
            "window_end",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ));
        let mut builtin_fields: Vec<Field> = Vec::new();
        for agg in &mut self.aggregates {
            let data_type = match &mut agg.column {
                None => DataType::Int64,
                Some((column, numeric)) => {
                    agg.index = input.index_of(column).map_err(|_| {
                        invalid(format!("{}: there is no column '{column}'", agg.name))
                    })?;
                    *numeric = match input.field(agg.index).data_type() {
                        DataType::Int64 => Numeric::Int,
                        DataType::Float64 => Numeric::Float,
                        other => {
                            return Err(invalid(format!(
                            "{}: column '{column}' is {other}; aggregates take int64 or float64",
                            agg.name
                        )))
                        }
                    };
                    match (agg.function, *numeric) {
                        (Function::Avg, _) | (_, Numeric::Float) => DataType::Float64,
                        _ => DataType::Int64,
                    }
                }
            };
            builtin_fields.push(Field::new(
                agg.name.clone(),
                data_type,
                agg.function != Function::Count,
            ));
        }
        let udf_fields = self.open_udfs(&input, info)?;
        for column in &self.columns {
            let field = match *column {
                OutputColumn::Builtin(b) => builtin_fields[b].clone(),
                OutputColumn::Udf(u) => udf_fields[u].clone(),
            };
            if fields.iter().any(|f| f.name() == field.name()) {
                return Err(invalid(format!(
                    "two output columns are named '{}'",
                    field.name()
                )));
            }
            fields.push(field);
        }
        let output = Arc::new(Schema::new(fields));
        self.output = Some(output.clone());
        self.late_to_side_output = info.side_outputs.contains(&LATE_RECORDS);
        Ok(output)
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let key_columns = rows::key_columns(&batch, &self.keys);
        let times = batch.column(self.time);
        let time_at = |row: usize| -> Option<i64> {
            if times.is_null(row) {
                return None;
            }
            Some(match times.data_type() {
                DataType::Int64 => times.as_primitive::<Int64Type>().value(row),
                _ => times.as_primitive::<TimestampMillisecondType>().value(row),
            })
        };
        let mut refired: Vec<(Vec<u8>, i64)> = Vec::new();
        let mut late_rows: Vec<u32> = Vec::new();
        // Rows that went into windows, for the user aggregates.
        let mut landed: Vec<(u32, Vec<u8>, i64)> = Vec::new();
        for row in 0..batch.num_rows() {
            let Some(ts) = time_at(row) else {
                late_rows.push(row as u32);
                continue;
            };
            let mut key = std::mem::take(&mut self.scratch);
            key.clear();
            rows::write_key(&key_columns, row, &mut key);
            let mut values = std::mem::take(&mut self.row_accs);
            values.clear();
            values.extend(self.empty_accs_iter());
            for (acc, agg) in values.iter_mut().zip(&self.aggregates) {
                let column = batch.column(agg.index);
                *acc = match *acc {
                    Acc::Count(_) => Acc::Count(1),
                    _ if column.is_null(row) => *acc,
                    Acc::Int { .. } => {
                        let v = column.as_primitive::<Int64Type>().value(row);
                        Acc::Int {
                            sum: v,
                            min: v,
                            max: v,
                            n: 1,
                        }
                    }
                    Acc::Float { .. } => {
                        let v = column.as_primitive::<Float64Type>().value(row);
                        Acc::Float {
                            sum: v,
                            min: v,
                            max: v,
                            n: 1,
                        }
                    }
                };
            }
            let windows: Vec<(i64, i64)> = self
                .assign(ts)
                .into_iter()
                .filter(|(_, end)| !self.is_late(*end))
                .collect();
            if windows.is_empty() {
                late_rows.push(row as u32);
                self.scratch = key;
                self.row_accs = values;
                continue;
            }
            for (start, end) in windows {
                if !self.udfs.is_empty() {
                    landed.push((row as u32, key.clone(), start));
                }
                if self.add(&key, start, end, &values)? {
                    // Late but within the allowed lateness: emit again.
                    let start = self
                        .panes
                        .get(&key)
                        .and_then(|p| p.range(..=start).next_back().map(|(s, _)| *s))
                        .unwrap_or(start);
                    if !refired.contains(&(key.clone(), start)) {
                        refired.push((key.clone(), start));
                    }
                }
            }
            self.scratch = key;
            self.row_accs = values;
        }
        self.late(&batch, late_rows)?;
        self.accumulate_udf(&batch, &landed)?;
        self.emit(&refired, out)
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.watermark = self.watermark.max(watermark);
        let mut fired = Vec::new();
        while let Some(first) = self.pending.first() {
            if first.0 > self.watermark {
                break;
            }
            if let Some((max_ts, key, start)) = self.pending.pop_first() {
                if let Some(pane) = self.panes.get_mut(&key).and_then(|p| p.get_mut(&start)) {
                    pane.fired = true;
                    self.expiring.insert((
                        max_ts.saturating_add(self.lateness),
                        key.clone(),
                        start,
                    ));
                    fired.push((key, start));
                }
            }
        }
        self.emit(&fired, out)?;
        while let Some(first) = self.expiring.first() {
            if first.0 > self.watermark {
                break;
            }
            if let Some((_, key, start)) = self.expiring.pop_first() {
                if let Some(panes) = self.panes.get_mut(&key) {
                    panes.remove(&start);
                    if panes.is_empty() {
                        self.panes.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Vec<u8>, OperatorError> {
        Ok(self.encode_state())
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), OperatorError> {
        self.decode_state(state)
    }

    fn take_side_output(&mut self) -> Vec<SideRecords> {
        self.late_records
            .drain(..)
            .map(|batch| SideRecords {
                tag: LATE_RECORDS,
                batch,
            })
            .collect()
    }

    fn close(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        Ok(())
    }

    fn user_metrics(&self) -> Vec<(String, UserMetric)> {
        let mut metrics = vec![(
            "numLateRecordsDropped".into(),
            UserMetric::Counter(self.late_dropped),
        )];
        if self.late_to_side_output {
            metrics.push((
                "numLateRecordsSideOutput".into(),
                UserMetric::Counter(self.late_set_aside),
            ));
        }
        metrics
    }
}
