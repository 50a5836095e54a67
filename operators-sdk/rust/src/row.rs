//! Input records: typed access to the values of a decoded batch.

use weir_row_codec::{self as codec, BatchReader};

use crate::{Error, Schema, Value};

/// One input record: its values in schema order, with typed accessors.
///
/// Accessors take a column index, which [`Schema::index_of`] resolves once in
/// [`Operator::open`](crate::Operator::open). A value of another type than the
/// accessor's, or a null, is an `invalid-input` error naming the column.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    values: &'a [Value<'a>],
    schema: &'a Schema,
}

macro_rules! accessors {
    ($($(#[$doc:meta])* $name:ident, $opt_name:ident, $variant:ident, $ty:ty, $expected:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, column: usize) -> Result<$ty, Error> {
                match self.get(column)? {
                    Value::$variant(v) => Ok(v),
                    other => Err(self.mismatch(column, $expected, &other)),
                }
            }

            /// Like the accessor without `opt_`, with `None` for a null.
            pub fn $opt_name(&self, column: usize) -> Result<Option<$ty>, Error> {
                match self.get(column)? {
                    Value::$variant(v) => Ok(Some(v)),
                    Value::Null => Ok(None),
                    other => Err(self.mismatch(column, $expected, &other)),
                }
            }
        )*
    };
}

impl<'a> Row<'a> {
    /// A record over `values`, which must hold one value per column of
    /// `schema`. Useful to test operators natively.
    pub fn new(values: &'a [Value<'a>], schema: &'a Schema) -> Self {
        Row { values, schema }
    }

    /// The value of `column`, whatever its type.
    pub fn get(&self, column: usize) -> Result<Value<'a>, Error> {
        self.values.get(column).copied().ok_or_else(|| {
            Error::internal(format!(
                "column index {column} is out of range: the input has {} columns ({})",
                self.values.len(),
                self.schema.column_list()
            ))
        })
    }

    /// Whether the value of `column` is null.
    pub fn is_null(&self, column: usize) -> Result<bool, Error> {
        Ok(matches!(self.get(column)?, Value::Null))
    }

    accessors! {
        /// The text of a `utf8` column.
        str, opt_str, Utf8, &'a str, "utf8";
        /// The bytes of a `binary` column.
        bytes, opt_bytes, Binary, &'a [u8], "binary";
        /// An `int64` column.
        i64, opt_i64, Int64, i64, "int64";
        /// A `float64` column.
        f64, opt_f64, Float64, f64, "float64";
        /// A `boolean` column.
        bool, opt_bool, Boolean, bool, "boolean";
        /// A `timestamp-millis` column, in milliseconds since the Unix epoch.
        timestamp_millis, opt_timestamp_millis, TimestampMillis, i64, "timestamp-millis";
    }

    /// All the values, in schema order. `out.emit(row.values())` passes a
    /// record through unchanged when the schemas are equal.
    pub fn values(&self) -> &'a [Value<'a>] {
        self.values
    }

    /// The input schema.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// The number of values (the input schema's number of columns).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn mismatch(&self, column: usize, expected: &str, found: &Value<'_>) -> Error {
        Error::invalid_input(format!(
            "column `{}`: expected {expected}, found {}",
            self.schema.column_name(column),
            codec::tag_name(found.tag())
        ))
    }
}

impl std::fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (i, value) in self.values.iter().enumerate() {
            map.entry(&self.schema.column_name(i), value);
        }
        map.finish()
    }
}

/// The records of one input batch, in order.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    /// Row-major: `len * schema.len()` values.
    values: &'a [Value<'a>],
    schema: &'a Schema,
    len: usize,
}

impl<'a> Rows<'a> {
    /// Records over `values`, row after row, each one value per column of
    /// `schema`. Useful to test operators natively; a trailing partial row is
    /// ignored.
    pub fn new(values: &'a [Value<'a>], schema: &'a Schema) -> Self {
        let len = match schema.len() {
            0 => 0,
            columns => values.len() / columns,
        };
        Rows {
            values,
            schema,
            len,
        }
    }

    /// Rows of a decoded batch; `len` is explicit because rows of an empty
    /// schema hold no values to count.
    pub(crate) fn decoded(values: &'a [Value<'a>], schema: &'a Schema, len: usize) -> Self {
        Rows {
            values,
            schema,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<Row<'a>> {
        if index >= self.len {
            return None;
        }
        let columns = self.schema.len();
        let start = index * columns;
        Some(Row {
            values: &self.values[start..start + columns],
            schema: self.schema,
        })
    }

    pub fn iter(&self) -> RowsIter<'a> {
        RowsIter {
            rows: *self,
            next: 0,
        }
    }

    /// The input schema.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }
}

impl<'a> IntoIterator for &Rows<'a> {
    type Item = Row<'a>;
    type IntoIter = RowsIter<'a>;

    fn into_iter(self) -> RowsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for Rows<'a> {
    type Item = Row<'a>;
    type IntoIter = RowsIter<'a>;

    fn into_iter(self) -> RowsIter<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over the records of [`Rows`].
#[derive(Debug, Clone)]
pub struct RowsIter<'a> {
    rows: Rows<'a>,
    next: usize,
}

impl<'a> Iterator for RowsIter<'a> {
    type Item = Row<'a>;

    fn next(&mut self) -> Option<Row<'a>> {
        let row = self.rows.get(self.next)?;
        self.next += 1;
        Some(row)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.rows.len - self.next.min(self.rows.len);
        (left, Some(left))
    }
}

impl ExactSizeIterator for RowsIter<'_> {}

/// Decodes a `rows`-encoded batch of `schema` into `values` (cleared first),
/// checking every value against its column. Returns the number of rows.
///
/// A malformed batch is the host's fault, but it must never crash the guest:
/// it becomes an `invalid-input` error carrying the codec's message.
pub(crate) fn decode_batch<'a>(
    data: &'a [u8],
    schema: &Schema,
    values: &mut Vec<Value<'a>>,
) -> Result<usize, Error> {
    values.clear();
    let columns = u32::try_from(schema.len())
        .map_err(|_| Error::internal("the input schema has more than 2^32 columns"))?;
    let malformed =
        |e: codec::DecodeError| Error::invalid_input(format!("malformed input batch: {e}"));
    let mut reader = BatchReader::with_columns(data, columns).map_err(malformed)?;
    // The header's row count is untrusted: every value takes at least one
    // byte, so the data length bounds what is worth reserving.
    let claimed = (reader.rows() as usize).saturating_mul(schema.len());
    values.reserve(claimed.min(data.len()));
    let fields = schema.fields();
    let mut column = 0;
    while let Some(value) = reader.next().map_err(malformed)? {
        let field = &fields[column];
        if !field.accepts(&value) {
            return Err(Error::invalid_input(format!(
                "malformed input batch: row {}, column `{}`: expected {}, found {}",
                values.len() / fields.len(),
                field.name(),
                field.describe(),
                codec::tag_name(value.tag())
            )));
        }
        values.push(value);
        column += 1;
        if column == fields.len() {
            column = 0;
        }
    }
    reader.finish().map_err(malformed)?;
    Ok(reader.rows() as usize)
}
