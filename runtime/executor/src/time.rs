//! Event time: the watermarks a source subtask derives from the event times
//! it reads, and the watermark a task with several producers holds (the
//! minimum of theirs, as in Flink).

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use weir_types::EventTimeSpec;

/// The watermark a finished input sends: nothing later can arrive.
pub const MAX_WATERMARK: i64 = i64::MAX;

/// Derives a source subtask's watermarks from its batches.
/// What is wrong with the event-time column a spec names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTimeError {
    #[error("there is no column '{column}' (the source has: {available})")]
    NoSuchColumn { column: String, available: String },
    #[error("column '{column}' is {data_type}, not timestamp-millis or int64 milliseconds")]
    WrongType { column: String, data_type: String },
}

#[derive(Debug)]
pub struct WatermarkGenerator {
    column: usize,
    bound_ms: i64,
    max_seen: Option<i64>,
}

impl WatermarkGenerator {
    /// For `schema` (the source's); the error says what is wrong with the
    /// column.
    pub fn new(spec: &EventTimeSpec, schema: &Schema) -> Result<Self, EventTimeError> {
        let column = schema.index_of(&spec.column).map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            EventTimeError::NoSuchColumn {
                column: spec.column.clone(),
                available: names.join(", "),
            }
        })?;
        match schema.field(column).data_type() {
            DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _) => {}
            other => {
                return Err(EventTimeError::WrongType {
                    column: spec.column.clone(),
                    data_type: other.to_string(),
                })
            }
        }
        Ok(WatermarkGenerator {
            column,
            bound_ms: i64::try_from(spec.watermarks.bound().as_millis()).unwrap_or(i64::MAX),
            max_seen: None,
        })
    }

    /// The watermark so far (what `observe` last returned).
    pub fn current(&self) -> Option<i64> {
        self.max_seen
            .map(|max| max.saturating_sub(self.bound_ms).saturating_sub(1))
    }

    /// The largest event time read so far, for a checkpoint.
    pub fn max_seen(&self) -> Option<i64> {
        self.max_seen
    }

    /// Goes on from a checkpoint's largest event time.
    pub fn restore(&mut self, max_seen: Option<i64>) {
        self.max_seen = max_seen;
    }

    /// Looks at a batch; returns the new watermark if it advanced. As in
    /// Flink, the watermark is the largest event time seen, minus the bound,
    /// minus one millisecond: records at the watermark may still come.
    pub fn observe(&mut self, batch: &RecordBatch) -> Option<i64> {
        let column = batch.column(self.column);
        let max = match column.data_type() {
            DataType::Int64 => column.as_primitive::<Int64Type>().iter().flatten().max(),
            _ => column
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .flatten()
                .max(),
        }?;
        if self.max_seen.is_some_and(|seen| seen >= max) {
            return None;
        }
        self.max_seen = Some(max);
        Some(max.saturating_sub(self.bound_ms).saturating_sub(1))
    }
}

/// The watermark of a task fed by several producers: the smallest of
/// theirs, once every producer has sent one.
#[derive(Debug)]
pub struct InputWatermarks {
    per_producer: Vec<Option<i64>>,
    /// Idle producers do not hold the watermark back.
    idle: Vec<bool>,
    current: Option<i64>,
}

impl InputWatermarks {
    pub fn new(producers: usize) -> Self {
        InputWatermarks {
            per_producer: vec![None; producers],
            idle: vec![false; producers],
            current: None,
        }
    }

    /// Producer `producer` is at `watermark`; returns the task's watermark
    /// if it advanced.
    pub fn update(&mut self, producer: usize, watermark: i64) -> Option<i64> {
        let slot = self.per_producer.get_mut(producer)?;
        // A watermark says the producer is active again.
        self.idle[producer] = false;
        if slot.is_none_or(|w| w < watermark) {
            *slot = Some(watermark);
        }
        self.advance()
    }

    /// Producer `producer` went idle; returns the task's watermark if that
    /// let it advance.
    pub fn set_idle(&mut self, producer: usize) -> Option<i64> {
        *self.idle.get_mut(producer)? = true;
        self.advance()
    }

    /// Whether every producer is idle: the task is idle too.
    pub fn all_idle(&self) -> bool {
        self.idle.iter().all(|&idle| idle)
    }

    /// The smallest watermark of the active producers, once each has sent
    /// one, if it is past the current one.
    fn advance(&mut self) -> Option<i64> {
        let mut min: Option<i64> = None;
        let mut active = false;
        for (watermark, idle) in self.per_producer.iter().zip(&self.idle) {
            if *idle {
                continue;
            }
            active = true;
            let watermark = (*watermark)?;
            min = Some(min.map_or(watermark, |m| m.min(watermark)));
        }
        let min = min.filter(|_| active)?;
        if self.current.is_some_and(|c| c >= min) {
            return None;
        }
        self.current = Some(min);
        Some(min)
    }

    pub fn current(&self) -> Option<i64> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::Field;
    use weir_types::WatermarkSpec;

    use super::*;

    fn batch(times: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("ts", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["x"; times.len()])),
                Arc::new(Int64Array::from(times.to_vec())),
            ],
        )
        .unwrap()
    }

    fn spec(watermarks: WatermarkSpec) -> EventTimeSpec {
        EventTimeSpec {
            column: "ts".into(),
            watermarks,
            idle_timeout: None,
        }
    }

    #[test]
    fn bounded_out_of_orderness_trails_the_largest_time_seen() {
        let bounded = WatermarkSpec::BoundedOutOfOrderness {
            max_out_of_orderness: "2s".into(),
        };
        let mut generator = WatermarkGenerator::new(&spec(bounded), &batch(&[]).schema()).unwrap();
        assert_eq!(
            generator.observe(&batch(&[10_000, 12_000, 11_000])),
            Some(9_999)
        );
        // Late or earlier records do not move it back, nor forward.
        assert_eq!(generator.observe(&batch(&[5_000])), None);
        assert_eq!(generator.observe(&batch(&[13_000])), Some(10_999));
        assert_eq!(generator.observe(&batch(&[])), None);
    }

    #[test]
    fn monotonous_follows_the_largest_time() {
        let mut generator =
            WatermarkGenerator::new(&spec(WatermarkSpec::Monotonous), &batch(&[]).schema())
                .unwrap();
        assert_eq!(generator.observe(&batch(&[1, 5, 3])), Some(4));
    }

    #[test]
    fn the_column_must_exist_and_hold_times() {
        let schema = batch(&[]).schema();
        let mut missing = spec(WatermarkSpec::Monotonous);
        missing.column = "when".into();
        let error = WatermarkGenerator::new(&missing, &schema)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "there is no column 'when' (the source has: name, ts)"
        );
        let mut text = spec(WatermarkSpec::Monotonous);
        text.column = "name".into();
        let error = WatermarkGenerator::new(&text, &schema)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not timestamp-millis or int64"), "{error}");
    }

    #[test]
    fn an_idle_producer_does_not_hold_the_watermark_back() {
        let mut input = InputWatermarks::new(3);
        assert_eq!(input.update(0, 10), None);
        assert_eq!(input.update(1, 20), None, "producer 2 has not spoken");
        assert_eq!(input.set_idle(2), Some(10));
        assert_eq!(input.update(0, 30), Some(20));
        assert!(!input.all_idle());
        // Active again, producer 2 holds it back once more; it never goes back.
        assert_eq!(input.update(2, 5), None);
        assert_eq!(input.update(1, 40), None);
        assert_eq!(input.update(2, 35), Some(30));
        assert_eq!(input.set_idle(0), Some(35));
        assert_eq!(input.set_idle(1), None);
        assert_eq!(input.set_idle(2), None);
        assert!(input.all_idle());
        assert_eq!(input.current(), Some(35));
    }

    #[test]
    fn a_task_holds_the_smallest_watermark_of_its_producers() {
        let mut input = InputWatermarks::new(2);
        assert_eq!(input.update(0, 10), None, "producer 1 has not spoken");
        assert_eq!(input.update(1, 7), Some(7));
        assert_eq!(input.update(1, 12), Some(10));
        assert_eq!(input.update(0, 9), None, "watermarks never go back");
        assert_eq!(input.update(0, MAX_WATERMARK), Some(12));
        assert_eq!(input.update(1, MAX_WATERMARK), Some(MAX_WATERMARK));
        assert_eq!(input.current(), Some(MAX_WATERMARK));
    }
}
