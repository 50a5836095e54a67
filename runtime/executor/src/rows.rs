//! Arrow record batches to and from the row encoding of the operator
//! contract. Decoding validates everything a guest returns: tags against the
//! declared schema, nulls against nullability, and the framing.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use weir_row_codec::{tag_name, BatchReader, Value};

/// A column resolved to its concrete array once per batch, so the per-value
/// loops (encoding, key extraction) do no dynamic dispatch.
pub enum Column<'a> {
    Boolean(&'a arrow_array::BooleanArray),
    Int64(&'a arrow_array::Int64Array),
    Float64(&'a arrow_array::Float64Array),
    Utf8(&'a arrow_array::StringArray),
    Binary(&'a arrow_array::BinaryArray),
    TimestampMillis(&'a arrow_array::TimestampMillisecondArray),
    /// A type the contract lacks; schemas are checked at open, so unused.
    Other,
}

impl<'a> Column<'a> {
    pub fn of(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Boolean => Column::Boolean(array.as_boolean()),
            DataType::Int64 => Column::Int64(array.as_primitive::<Int64Type>()),
            DataType::Float64 => Column::Float64(array.as_primitive::<Float64Type>()),
            DataType::Utf8 => Column::Utf8(array.as_string::<i32>()),
            DataType::Binary => Column::Binary(array.as_binary::<i32>()),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Column::TimestampMillis(array.as_primitive::<TimestampMillisecondType>())
            }
            _ => Column::Other,
        }
    }
}

impl<'a> Column<'a> {
    /// The value at `row`.
    pub fn value(&self, row: usize) -> Value<'a> {
        match self {
            Column::Boolean(a) if a.is_valid(row) => Value::Boolean(a.value(row)),
            Column::Int64(a) if a.is_valid(row) => Value::Int64(a.value(row)),
            Column::Float64(a) if a.is_valid(row) => Value::Float64(a.value(row)),
            Column::Utf8(a) if a.is_valid(row) => Value::Utf8(a.value(row)),
            Column::Binary(a) if a.is_valid(row) => Value::Binary(a.value(row)),
            Column::TimestampMillis(a) if a.is_valid(row) => Value::TimestampMillis(a.value(row)),
            _ => Value::Null,
        }
    }
}

/// The columns at `indices`, resolved for key extraction.
pub fn key_columns<'a>(batch: &'a RecordBatch, indices: &[usize]) -> Vec<Column<'a>> {
    indices
        .iter()
        .map(|&i| Column::of(batch.column(i).as_ref()))
        .collect()
}

/// Appends the canonical key of `row` (its key values in the row encoding,
/// without a header) to `out`: what state keys and the hash exchange use.
pub fn write_key(columns: &[Column<'_>], row: usize, out: &mut Vec<u8>) {
    for column in columns {
        weir_row_codec::write_value(out, &column.value(row));
    }
}

/// What is wrong with row-encoded bytes, and where.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    #[error("{0}")]
    Codec(#[from] weir_row_codec::DecodeError),
    #[error("the schema has a column type the row encoding cannot carry")]
    UnsupportedSchema,
    #[error("batch ends before row {row}, column {column}")]
    Truncated { row: usize, column: usize },
    #[error("row {row}, column '{column}': null in a column that is not nullable")]
    NullNotAllowed { row: usize, column: String },
    #[error("row {row}, column '{column}': expected {expected}, found {found}")]
    WrongType {
        row: usize,
        column: String,
        expected: String,
        found: &'static str,
    },
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Appends to `out` the `columns` values of a key written by `write_key`.
pub fn read_key<'a>(
    key: &'a [u8],
    columns: usize,
    out: &mut Vec<Value<'a>>,
) -> Result<(), RowsError> {
    let mut reader = BatchReader::headerless(key, columns as u32);
    while let Some(value) = reader.next()? {
        out.push(value);
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    // Arrow's 32-bit offsets keep every value below 2 GiB.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes a batch in the row encoding.
pub fn encode(batch: &RecordBatch) -> Vec<u8> {
    let columns: Vec<(Column<'_>, Option<&arrow_buffer::NullBuffer>)> = batch
        .columns()
        .iter()
        .map(|c| {
            (
                Column::of(c.as_ref()),
                c.nulls().filter(|n| n.null_count() > 0),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(
        weir_row_codec::HEADER_LEN
            + batch.get_array_memory_size()
            + batch.num_rows() * columns.len() * 2,
    );
    out.extend_from_slice(&(batch.num_rows() as u32).to_le_bytes());
    out.extend_from_slice(&(columns.len() as u32).to_le_bytes());
    for row in 0..batch.num_rows() {
        for (column, nulls) in &columns {
            if nulls.is_some_and(|n| n.is_null(row)) {
                out.push(weir_row_codec::TAG_NULL);
                continue;
            }
            match column {
                Column::Boolean(a) => {
                    out.extend_from_slice(&[weir_row_codec::TAG_BOOLEAN, u8::from(a.value(row))])
                }
                Column::Int64(a) => {
                    out.push(weir_row_codec::TAG_INT64);
                    out.extend_from_slice(&a.value(row).to_le_bytes());
                }
                Column::Float64(a) => {
                    out.push(weir_row_codec::TAG_FLOAT64);
                    out.extend_from_slice(&a.value(row).to_le_bytes());
                }
                Column::TimestampMillis(a) => {
                    out.push(weir_row_codec::TAG_TIMESTAMP_MILLIS);
                    out.extend_from_slice(&a.value(row).to_le_bytes());
                }
                Column::Utf8(a) => {
                    put_bytes(&mut out, weir_row_codec::TAG_UTF8, a.value(row).as_bytes())
                }
                Column::Binary(a) => put_bytes(&mut out, weir_row_codec::TAG_BINARY, a.value(row)),
                Column::Other => out.push(weir_row_codec::TAG_NULL),
            }
        }
    }
    out
}

/// One column under construction, of a contract type.
pub enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    TimestampMillis(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    pub fn new(data_type: &DataType, capacity: usize) -> Option<Self> {
        Some(match data_type {
            DataType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            DataType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Utf8 => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 8))
            }
            DataType::Binary => {
                ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 8))
            }
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                ColumnBuilder::TimestampMillis(TimestampMillisecondBuilder::with_capacity(capacity))
            }
            _ => return None,
        })
    }

    /// Appends a value; `Err` names the value's type when it does not fit.
    pub fn push(&mut self, value: &Value<'_>) -> Result<(), &'static str> {
        match (self, value) {
            (ColumnBuilder::Boolean(b), Value::Boolean(v)) => b.append_value(*v),
            (ColumnBuilder::Int64(b), Value::Int64(v)) => b.append_value(*v),
            (ColumnBuilder::Float64(b), Value::Float64(v)) => b.append_value(*v),
            (ColumnBuilder::Utf8(b), Value::Utf8(v)) => b.append_value(v),
            (ColumnBuilder::Binary(b), Value::Binary(v)) => b.append_value(v),
            (ColumnBuilder::TimestampMillis(b), Value::TimestampMillis(v)) => b.append_value(*v),
            (builder, Value::Null) => builder.push_null(),
            (_, other) => return Err(tag_name(other.tag())),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        match self {
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::TimestampMillis(b) => b.append_null(),
        }
    }

    pub fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Boolean(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(mut b) => Arc::new(b.finish()),
            ColumnBuilder::TimestampMillis(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Builders for every column of `schema`.
pub fn builders(schema: &SchemaRef, capacity: usize) -> Vec<ColumnBuilder> {
    schema
        .fields()
        .iter()
        .filter_map(|f| ColumnBuilder::new(f.data_type(), capacity))
        .collect()
}

/// Decodes a row-encoded batch that must match `schema`. Values are parsed
/// straight into typed builders; on the first problem the slower generic
/// reader runs again to say exactly what and where.
pub fn decode(bytes: &[u8], schema: &SchemaRef) -> Result<RecordBatch, RowsError> {
    decode_fast(bytes, schema)
        .map(Ok)
        .unwrap_or_else(|| decode_checked(bytes, schema))
}

/// Reads `N` bytes at `pos`, advancing it.
#[inline]
fn take<const N: usize>(bytes: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let out = bytes.get(*pos..*pos + N)?.try_into().ok()?;
    *pos += N;
    Some(out)
}

#[inline]
fn take_slice<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = u32::from_le_bytes(take::<4>(bytes, pos)?) as usize;
    let out = bytes.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(out)
}

/// The happy path: `None` on any problem, which `decode_checked` explains.
fn decode_fast(bytes: &[u8], schema: &SchemaRef) -> Option<RecordBatch> {
    use weir_row_codec::{
        TAG_BINARY, TAG_BOOLEAN, TAG_FLOAT64, TAG_INT64, TAG_NULL, TAG_TIMESTAMP_MILLIS, TAG_UTF8,
    };
    let fields = schema.fields();
    let mut pos = 0;
    let rows = u32::from_le_bytes(take::<4>(bytes, &mut pos)?) as usize;
    let columns = u32::from_le_bytes(take::<4>(bytes, &mut pos)?) as usize;
    if columns != fields.len() {
        return None;
    }
    let mut builders = builders(schema, rows.min(64 * 1024));
    if builders.len() != columns {
        return None;
    }
    let nullable: Vec<bool> = fields.iter().map(|f| f.is_nullable()).collect();
    for _ in 0..rows {
        for (builder, nullable) in builders.iter_mut().zip(&nullable) {
            let tag = *bytes.get(pos)?;
            pos += 1;
            match (builder, tag) {
                (builder, TAG_NULL) if *nullable => builder.push_null(),
                (ColumnBuilder::Int64(b), TAG_INT64) => {
                    b.append_value(i64::from_le_bytes(take::<8>(bytes, &mut pos)?))
                }
                (ColumnBuilder::Float64(b), TAG_FLOAT64) => {
                    b.append_value(f64::from_le_bytes(take::<8>(bytes, &mut pos)?))
                }
                (ColumnBuilder::TimestampMillis(b), TAG_TIMESTAMP_MILLIS) => {
                    b.append_value(i64::from_le_bytes(take::<8>(bytes, &mut pos)?))
                }
                (ColumnBuilder::Boolean(b), TAG_BOOLEAN) => match take::<1>(bytes, &mut pos)?[0] {
                    0 => b.append_value(false),
                    1 => b.append_value(true),
                    _ => return None,
                },
                (ColumnBuilder::Utf8(b), TAG_UTF8) => {
                    b.append_value(std::str::from_utf8(take_slice(bytes, &mut pos)?).ok()?)
                }
                (ColumnBuilder::Binary(b), TAG_BINARY) => {
                    b.append_value(take_slice(bytes, &mut pos)?)
                }
                _ => return None,
            }
        }
    }
    if pos != bytes.len() {
        return None;
    }
    let arrays = builders.into_iter().map(ColumnBuilder::finish).collect();
    RecordBatch::try_new(schema.clone(), arrays).ok()
}

/// Decodes value by value, naming the row, column and cause of a problem.
fn decode_checked(bytes: &[u8], schema: &SchemaRef) -> Result<RecordBatch, RowsError> {
    let fields = schema.fields();
    let mut reader = BatchReader::with_columns(bytes, fields.len() as u32)?;
    let rows = reader.rows() as usize;
    // The row count comes from the guest: cap what is reserved up front.
    let mut columns = builders(schema, rows.min(64 * 1024));
    if columns.len() != fields.len() {
        return Err(RowsError::UnsupportedSchema);
    }
    for row in 0..rows {
        for (column, builder) in columns.iter_mut().enumerate() {
            let field = &fields[column];
            let value = reader.next()?.ok_or(RowsError::Truncated { row, column })?;
            if value == Value::Null && !field.is_nullable() {
                return Err(RowsError::NullNotAllowed {
                    row,
                    column: field.name().clone(),
                });
            }
            builder.push(&value).map_err(|found| RowsError::WrongType {
                row,
                column: field.name().clone(),
                expected: field.data_type().to_string(),
                found,
            })?;
        }
    }
    reader.finish()?;
    let arrays = columns.into_iter().map(ColumnBuilder::finish).collect();
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use weir_row_codec::BatchWriter;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("count", DataType::Int64, true),
            Field::new("ok", DataType::Boolean, false),
            Field::new("score", DataType::Float64, false),
        ]))
    }

    fn batch() -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec!["a", "weir"])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(BooleanArray::from(vec![true, false])),
                Arc::new(Float64Array::from(vec![0.5, -2.0])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&batch());
        assert_eq!(decode(&bytes, &schema()).unwrap(), batch());
        // The fast path and the checked path agree.
        assert_eq!(decode_checked(&bytes, &schema()).unwrap(), batch());
        assert_eq!(decode_fast(&bytes, &schema()).unwrap(), batch());
    }

    #[test]
    fn encodes_the_bytes_the_codec_writes() {
        let mut writer = BatchWriter::new(4);
        for row in 0..2 {
            let b = batch();
            for column in b.columns() {
                writer.push(&Column::of(column.as_ref()).value(row));
            }
        }
        assert_eq!(encode(&batch()), writer.finish().unwrap());
    }

    #[test]
    fn names_a_type_mismatch() {
        let other = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Int64, false),
            Field::new("count", DataType::Int64, true),
            Field::new("ok", DataType::Boolean, false),
            Field::new("score", DataType::Float64, false),
        ]));
        let err = decode(&encode(&batch()), &other).unwrap_err().to_string();
        assert_eq!(err, "row 0, column 'word': expected Int64, found utf8");
    }

    #[test]
    fn refuses_null_where_not_nullable() {
        let nullable = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("count", DataType::Int64, false),
            Field::new("ok", DataType::Boolean, false),
            Field::new("score", DataType::Float64, false),
        ]));
        let err = decode(&encode(&batch()), &nullable)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "row 1, column 'count': null in a column that is not nullable"
        );
    }

    #[test]
    fn refuses_garbage() {
        assert!(decode(&[1, 2, 3], &schema())
            .unwrap_err()
            .to_string()
            .contains("header"));
        let err = decode(&[1, 0, 0, 0, 1, 0, 0, 0, 99], &schema())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has 1 columns, the schema has 4"), "{err}");
    }
}
