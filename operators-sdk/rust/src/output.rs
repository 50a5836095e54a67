//! Output records: validated and encoded into batches as they are emitted.

use std::sync::Arc;

use weir_row_codec::{self as codec, BatchWriter};

use crate::{Error, Schema, Value};

/// A new output batch starts once the current one reaches this size: large
/// enough that per-batch costs vanish, small enough to keep guest memory and
/// downstream latency bounded.
pub const TARGET_BATCH_BYTES: usize = 1 << 20;

/// Where an operator emits its records during one call.
///
/// Every record is checked against the output schema declared at `open`
/// (number of values, types, nulls only where nullable): the runtime would
/// reject a malformed batch anyway, but only the SDK can say which column of
/// which `emit` was wrong.
#[derive(Debug)]
pub struct Output {
    schema: Arc<Schema>,
    writer: Option<BatchWriter>,
    batches: Vec<Vec<u8>>,
    emitted: u64,
    target_bytes: usize,
}

impl Output {
    /// An output for records of `schema`. Useful to test operators natively;
    /// read what was emitted with [`Output::take_batches`] or
    /// [`Output::decoded`].
    pub fn new(schema: Schema) -> Self {
        Self::with_schema(Arc::new(schema))
    }

    pub(crate) fn with_schema(schema: Arc<Schema>) -> Self {
        Output {
            schema,
            writer: None,
            batches: Vec::new(),
            emitted: 0,
            target_bytes: TARGET_BATCH_BYTES,
        }
    }

    /// Appends one record: one value per column of the output schema, in
    /// order.
    pub fn emit(&mut self, values: &[Value<'_>]) -> Result<(), Error> {
        let fields = self.schema.fields();
        if values.len() != fields.len() {
            return Err(Error::internal(format!(
                "emitted a record of {} values, the output schema has {} columns ({})",
                values.len(),
                fields.len(),
                self.schema.column_list()
            )));
        }
        if fields.is_empty() {
            // The row encoding derives the row count from the values, so rows
            // without columns cannot be represented.
            return Err(Error::internal(
                "cannot emit records: the output schema has no columns",
            ));
        }
        for (field, value) in fields.iter().zip(values) {
            if !field.accepts(value) {
                return Err(Error::internal(format!(
                    "emitted a record whose column `{}` is {}, the output schema says {}",
                    field.name(),
                    codec::tag_name(value.tag()),
                    field.describe()
                )));
            }
        }
        let columns = fields.len() as u32;
        let writer = self
            .writer
            .get_or_insert_with(|| BatchWriter::with_capacity(columns, 4096));
        for value in values {
            writer.push(value);
        }
        self.emitted += 1;
        if writer.len() >= self.target_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends `batch` to the call's output as it is, without any check. Only
    /// for testing how a runtime copes with malformed output; not part of the
    /// supported API.
    #[doc(hidden)]
    pub fn __emit_unchecked_batch(&mut self, batch: Vec<u8>) -> Result<(), Error> {
        self.flush()?;
        self.batches.push(batch);
        Ok(())
    }

    /// Records emitted during the current call (outside a runtime: since the
    /// last [`Output::take_batches`]).
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// The output schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Closes the current batch, so that the next record starts a new one.
    fn flush(&mut self) -> Result<(), Error> {
        if let Some(writer) = self.writer.take() {
            let batch = writer
                .finish()
                .map_err(|e| Error::internal(format!("cannot encode an output batch: {e}")))?;
            self.batches.push(batch);
        }
        Ok(())
    }

    /// Finishes the current batch and hands over every batch emitted so far,
    /// in order, in the `rows` encoding.
    pub fn take_batches(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        self.flush()?;
        self.emitted = 0;
        Ok(std::mem::take(&mut self.batches))
    }

    /// Drops whatever was emitted, after a failed call: the runtime discards a
    /// failed call's output, and the next call must not resend it.
    pub(crate) fn discard(&mut self) {
        self.writer = None;
        self.batches.clear();
        self.emitted = 0;
    }

    /// Every record emitted so far, decoded: a convenience for tests.
    pub fn decoded(&mut self) -> Result<Vec<Vec<OwnedValue>>, Error> {
        self.flush()?;
        let mut rows = Vec::new();
        let mut values = Vec::new();
        for batch in &self.batches {
            let n = crate::row::decode_batch(batch, &self.schema, &mut values)?;
            let columns = self.schema.len();
            for r in 0..n {
                rows.push(
                    values[r * columns..(r + 1) * columns]
                        .iter()
                        .map(OwnedValue::from)
                        .collect(),
                );
            }
        }
        Ok(rows)
    }

    #[cfg(test)]
    pub(crate) fn set_target_bytes(&mut self, bytes: usize) {
        self.target_bytes = bytes;
    }
}

/// A [`Value`] that owns its text and bytes, for tests and for holding values
/// across calls.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    Null,
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Utf8(String),
    Binary(Vec<u8>),
    TimestampMillis(i64),
}

impl OwnedValue {
    /// Borrows this value as a [`Value`], for example to emit it.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Null => Value::Null,
            OwnedValue::Boolean(v) => Value::Boolean(*v),
            OwnedValue::Int64(v) => Value::Int64(*v),
            OwnedValue::Float64(v) => Value::Float64(*v),
            OwnedValue::Utf8(v) => Value::Utf8(v),
            OwnedValue::Binary(v) => Value::Binary(v),
            OwnedValue::TimestampMillis(v) => Value::TimestampMillis(*v),
        }
    }
}

impl From<&Value<'_>> for OwnedValue {
    fn from(value: &Value<'_>) -> Self {
        match *value {
            Value::Null => OwnedValue::Null,
            Value::Boolean(v) => OwnedValue::Boolean(v),
            Value::Int64(v) => OwnedValue::Int64(v),
            Value::Float64(v) => OwnedValue::Float64(v),
            Value::Utf8(v) => OwnedValue::Utf8(v.to_owned()),
            Value::Binary(v) => OwnedValue::Binary(v.to_vec()),
            Value::TimestampMillis(v) => OwnedValue::TimestampMillis(v),
        }
    }
}

impl From<Value<'_>> for OwnedValue {
    fn from(value: Value<'_>) -> Self {
        OwnedValue::from(&value)
    }
}
