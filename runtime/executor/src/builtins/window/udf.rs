//! The window's user aggregate functions (`fn: udf`), run through what the
//! window's `module` provides: accumulators per window, fed batch by batch.

use std::collections::HashMap;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{Field, SchemaRef};

use super::Window;
use crate::operator::{OpenInfo, OperatorError};
use crate::user::UserAggregate;

/// One user aggregate of a window, as its config names it.
pub(super) struct Udf {
    pub(super) name: String,
    pub(super) config: String,
    pub(super) instance: Option<Box<dyn UserAggregate>>,
    /// What `init` returned: the accumulator of a new window.
    pub(super) empty: Vec<u8>,
}

/// The open instance of a user aggregate of window `operator`.
pub(super) fn opened<'a>(
    operator: &str,
    udf: &'a mut Udf,
) -> Result<&'a mut dyn UserAggregate, OperatorError> {
    match udf.instance.as_mut() {
        Some(instance) => Ok(instance.as_mut()),
        None => Err(OperatorError::Failed {
            operator: operator.to_string(),
            message: format!("user aggregate '{}' was called before open", udf.name),
        }),
    }
}

impl Window {
    /// Instantiates and opens each user aggregate; returns their output
    /// fields.
    pub(super) fn open_udfs(
        &mut self,
        input: &SchemaRef,
        info: &OpenInfo,
    ) -> Result<Vec<Field>, OperatorError> {
        let Some(aggregates) = self.user_aggregates.clone() else {
            return Ok(Vec::new());
        };
        let mut fields = Vec::new();
        for udf in &mut self.udfs {
            let mut instance = aggregates.instantiate(&self.name, &udf.name)?;
            let data_type = instance.open(&udf.config, input)?;
            udf.empty = instance.init()?;
            udf.instance = Some(instance);
            fields.push(Field::new(udf.name.clone(), data_type, true));
        }
        let _ = info;
        Ok(fields)
    }

    /// Accumulator `u` of each of `windows`, in order.
    pub(super) fn udf_accumulators(&self, u: usize, windows: &[(Vec<u8>, i64)]) -> Vec<Vec<u8>> {
        windows
            .iter()
            .map(|(key, start)| {
                self.panes
                    .get(key)
                    .and_then(|p| p.get(start))
                    .map(|pane| pane.udf[u].clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The user aggregates' accumulators of two merging windows, merged.
    pub(super) fn merge_udf(
        &mut self,
        a: Vec<Vec<u8>>,
        b: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, OperatorError> {
        let mut merged = Vec::with_capacity(a.len());
        for ((udf, a), b) in self.udfs.iter_mut().zip(a).zip(b) {
            merged.push(opened(&self.name, udf)?.merge(a, b)?);
        }
        Ok(merged)
    }

    /// Feeds the rows of `batch` that landed in windows to the user
    /// aggregates: one `accumulate` call per aggregate for the batch.
    /// `landed` holds (row, key, window start) in order.
    pub(super) fn accumulate_udf(
        &mut self,
        batch: &RecordBatch,
        landed: &[(u32, Vec<u8>, i64)],
    ) -> Result<(), OperatorError> {
        if self.udfs.is_empty() || landed.is_empty() {
            return Ok(());
        }
        // Each row's window now (a session may have merged since).
        let mut windows: Vec<(Vec<u8>, i64)> = Vec::new();
        let mut targets: Vec<u32> = Vec::with_capacity(landed.len());
        let mut index: HashMap<(Vec<u8>, i64), u32> = HashMap::new();
        for (_, key, start) in landed {
            let current = self
                .panes
                .get(key)
                .and_then(|p| p.range(..=*start).next_back())
                .map(|(s, _)| *s)
                .ok_or_else(|| self.failed("a window went missing".into()))?;
            let slot = *index.entry((key.clone(), current)).or_insert_with(|| {
                windows.push((key.clone(), current));
                (windows.len() - 1) as u32
            });
            targets.push(slot);
        }
        let rows =
            arrow_array::UInt32Array::from(landed.iter().map(|(r, _, _)| *r).collect::<Vec<_>>());
        let input = arrow_select::take::take_record_batch(batch, &rows)
            .map_err(|e| self.failed(e.to_string()))?;
        for u in 0..self.udfs.len() {
            let accumulators = self.udf_accumulators(u, &windows);
            let udf = &mut self.udfs[u];
            let updated = opened(&self.name, udf)?.accumulate(&accumulators, &input, &targets)?;
            if updated.len() != windows.len() {
                return Err(OperatorError::Malformed {
                    operator: self.name.clone(),
                    call: "accumulate",
                    detail: format!(
                        "{}: {} accumulators were due, got {}",
                        udf.name,
                        windows.len(),
                        updated.len()
                    ),
                });
            }
            for ((key, start), acc) in windows.iter().zip(updated) {
                if let Some(pane) = self.panes.get_mut(key).and_then(|p| p.get_mut(start)) {
                    pane.udf[u] = acc;
                }
            }
        }
        Ok(())
    }

    /// The user aggregates' results for the fired windows, a column each.
    pub(super) fn finish_udf(
        &mut self,
        fired: &[(Vec<u8>, i64)],
    ) -> Result<Vec<arrow_array::ArrayRef>, OperatorError> {
        let mut columns = Vec::with_capacity(self.udfs.len());
        for u in 0..self.udfs.len() {
            let accumulators = self.udf_accumulators(u, fired);
            let name = self.name.clone();
            let udf = &mut self.udfs[u];
            let malformed = |detail: String| OperatorError::Malformed {
                operator: name.clone(),
                call: "finish",
                detail,
            };
            let column = opened(&name, udf)?.finish(&accumulators)?;
            if column.len() != fired.len() {
                return Err(malformed(format!(
                    "{}: {} results were due, got {}",
                    udf.name,
                    fired.len(),
                    column.len()
                )));
            }
            columns.push(column);
        }
        Ok(columns)
    }
}
