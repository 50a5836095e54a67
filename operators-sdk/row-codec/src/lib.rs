//! Weir's row encoding: the batch layout for operators without an Arrow
//! library. The specification is the `encoding.rows` comment of the
//! `weir:operator` WIT package; `docs/row-encoding.md` has worked examples.
//!
//! ```text
//! batch := row-count: u32, column-count: u32, value{row-count * column-count}
//! value := tag: u8, payload
//! ```
//!
//! The host and the Rust SDK both use this crate; the test vectors below pin
//! the bytes so that other languages' SDKs can check themselves against them.

use std::fmt;

/// Tag of a null value (no payload).
pub const TAG_NULL: u8 = 0;
/// Tag of a boolean (1 byte, 0 or 1).
pub const TAG_BOOLEAN: u8 = 1;
/// Tag of a 64-bit signed integer (8 bytes little-endian).
pub const TAG_INT64: u8 = 2;
/// Tag of a 64-bit float (8 bytes little-endian IEEE 754).
pub const TAG_FLOAT64: u8 = 3;
/// Tag of UTF-8 text (u32 length, then the bytes).
pub const TAG_UTF8: u8 = 4;
/// Tag of raw bytes (u32 length, then the bytes).
pub const TAG_BINARY: u8 = 5;
/// Tag of a timestamp in milliseconds since the Unix epoch (8 bytes).
pub const TAG_TIMESTAMP_MILLIS: u8 = 6;

/// Size of the batch header (row count and column count).
pub const HEADER_LEN: usize = 8;

/// One decoded value, borrowing text and bytes from the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Utf8(&'a str),
    Binary(&'a [u8]),
    TimestampMillis(i64),
}

impl Value<'_> {
    /// The tag this value is written with.
    pub fn tag(&self) -> u8 {
        match self {
            Value::Null => TAG_NULL,
            Value::Boolean(_) => TAG_BOOLEAN,
            Value::Int64(_) => TAG_INT64,
            Value::Float64(_) => TAG_FLOAT64,
            Value::Utf8(_) => TAG_UTF8,
            Value::Binary(_) => TAG_BINARY,
            Value::TimestampMillis(_) => TAG_TIMESTAMP_MILLIS,
        }
    }
}

/// A human name for a tag, for error messages.
pub fn tag_name(tag: u8) -> &'static str {
    match tag {
        TAG_NULL => "null",
        TAG_BOOLEAN => "boolean",
        TAG_INT64 => "int64",
        TAG_FLOAT64 => "float64",
        TAG_UTF8 => "utf8",
        TAG_BINARY => "binary",
        TAG_TIMESTAMP_MILLIS => "timestamp-millis",
        _ => "unknown",
    }
}

/// Appends one value (tag and payload) to `out`. Also the canonical encoding
/// of a state key component (see the `keyed-state` interface).
pub fn write_value(out: &mut Vec<u8>, value: &Value<'_>) {
    out.push(value.tag());
    match *value {
        Value::Null => {}
        Value::Boolean(b) => out.push(u8::from(b)),
        Value::Int64(v) | Value::TimestampMillis(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Float64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Utf8(s) => write_bytes(out, s.as_bytes()),
        Value::Binary(b) => write_bytes(out, b),
    }
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths beyond u32 cannot be represented; the writer refuses them.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..len as usize]);
}

/// Why encoding a batch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The number of values written is not a whole number of rows.
    PartialRow { values: u64, columns: u32 },
    /// A text or binary value longer than 4 GiB - 1.
    ValueTooLong { len: usize },
    /// More than `u32::MAX` rows.
    TooManyRows,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::PartialRow { values, columns } => write!(
                f,
                "{values} values do not make whole rows of {columns} columns"
            ),
            EncodeError::ValueTooLong { len } => {
                write!(
                    f,
                    "a value of {len} bytes exceeds the 4 GiB limit of the row encoding"
                )
            }
            EncodeError::TooManyRows => write!(f, "more than 4294967295 rows in one batch"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Builds one batch, value by value, row by row.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    buf: Vec<u8>,
    columns: u32,
    values: u64,
    error: Option<EncodeError>,
}

impl BatchWriter {
    /// A writer for rows of `columns` values.
    pub fn new(columns: u32) -> Self {
        Self::with_capacity(columns, 256)
    }

    /// Like [`BatchWriter::new`], reserving `bytes` up front.
    pub fn with_capacity(columns: u32, bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(HEADER_LEN));
        buf.extend_from_slice(&[0; HEADER_LEN]);
        buf[4..8].copy_from_slice(&columns.to_le_bytes());
        BatchWriter {
            buf,
            columns,
            values: 0,
            error: None,
        }
    }

    /// Appends the next value of the current row.
    pub fn push(&mut self, value: &Value<'_>) {
        if let Value::Utf8(s) = value {
            self.check_len(s.len());
        } else if let Value::Binary(b) = value {
            self.check_len(b.len());
        }
        write_value(&mut self.buf, value);
        self.values += 1;
    }

    fn check_len(&mut self, len: usize) {
        if u32::try_from(len).is_err() && self.error.is_none() {
            self.error = Some(EncodeError::ValueTooLong { len });
        }
    }

    /// Rows completed so far.
    pub fn rows(&self) -> u64 {
        if self.columns == 0 {
            0
        } else {
            self.values / u64::from(self.columns)
        }
    }

    /// Whether no value has been written.
    pub fn is_empty(&self) -> bool {
        self.values == 0
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Finishes the batch and returns its bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let columns = u64::from(self.columns);
        let rows = if columns == 0 {
            0
        } else {
            if !self.values.is_multiple_of(columns) {
                return Err(EncodeError::PartialRow {
                    values: self.values,
                    columns: self.columns,
                });
            }
            self.values / columns
        };
        let rows = u32::try_from(rows).map_err(|_| EncodeError::TooManyRows)?;
        self.buf[0..4].copy_from_slice(&rows.to_le_bytes());
        Ok(self.buf)
    }
}

/// What is wrong with a batch that failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Shorter than the 8-byte header.
    MissingHeader,
    /// The data ended inside a value.
    Truncated,
    /// A tag outside 0..=6.
    UnknownTag(u8),
    /// A boolean byte other than 0 or 1.
    InvalidBoolean(u8),
    /// A utf8 value that is not valid UTF-8.
    InvalidUtf8,
    /// Bytes after the last value.
    TrailingBytes(usize),
    /// The header's column count differs from the schema's.
    ColumnCountMismatch { expected: u32, found: u32 },
}

/// A decoding failure with its position, so a message can say where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Byte offset in the batch where the problem starts.
    pub offset: usize,
    /// Row and column of the value being read, when inside a value.
    pub row: Option<u32>,
    pub column: Option<u32>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::MissingHeader => write!(f, "batch shorter than its 8-byte header")?,
            DecodeErrorKind::Truncated => write!(f, "batch ends inside a value")?,
            DecodeErrorKind::UnknownTag(t) => write!(f, "unknown value tag {t}")?,
            DecodeErrorKind::InvalidBoolean(b) => write!(f, "boolean byte {b} is neither 0 nor 1")?,
            DecodeErrorKind::InvalidUtf8 => write!(f, "utf8 value is not valid UTF-8")?,
            DecodeErrorKind::TrailingBytes(n) => write!(f, "{n} bytes after the last value")?,
            DecodeErrorKind::ColumnCountMismatch { expected, found } => {
                write!(f, "batch has {found} columns, the schema has {expected}")?
            }
        }
        write!(f, " (byte {}", self.offset)?;
        if let (Some(row), Some(column)) = (self.row, self.column) {
            write!(f, ", row {row}, column {column}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for DecodeError {}

/// Reads one batch value by value. Values come row by row, columns in order.
#[derive(Debug, Clone)]
pub struct BatchReader<'a> {
    data: &'a [u8],
    pos: usize,
    rows: u32,
    columns: u32,
    read: u64,
}

impl<'a> BatchReader<'a> {
    /// Reads the header of `data`.
    pub fn new(data: &'a [u8]) -> Result<Self, DecodeError> {
        if data.len() < HEADER_LEN {
            return Err(DecodeError {
                kind: DecodeErrorKind::MissingHeader,
                offset: 0,
                row: None,
                column: None,
            });
        }
        let rows = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let columns = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
        Ok(BatchReader {
            data,
            pos: HEADER_LEN,
            rows,
            columns,
            read: 0,
        })
    }

    /// Reads values written one after another without a batch header, as
    /// one row of `columns` values: how state keys are laid out.
    pub fn headerless(data: &'a [u8], columns: u32) -> Self {
        BatchReader {
            data,
            pos: 0,
            rows: 1,
            columns,
            read: 0,
        }
    }

    /// Like [`BatchReader::new`], also checking the column count.
    pub fn with_columns(data: &'a [u8], expected: u32) -> Result<Self, DecodeError> {
        let reader = Self::new(data)?;
        if reader.columns != expected {
            return Err(DecodeError {
                kind: DecodeErrorKind::ColumnCountMismatch {
                    expected,
                    found: reader.columns,
                },
                offset: 4,
                row: None,
                column: None,
            });
        }
        Ok(reader)
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn columns(&self) -> u32 {
        self.columns
    }

    /// Row and column of the next value.
    fn position(&self) -> (Option<u32>, Option<u32>) {
        if self.columns == 0 {
            return (None, None);
        }
        let columns = u64::from(self.columns);
        (
            u32::try_from(self.read / columns).ok(),
            u32::try_from(self.read % columns).ok(),
        )
    }

    fn error(&self, kind: DecodeErrorKind, offset: usize) -> DecodeError {
        let (row, column) = self.position();
        DecodeError {
            kind,
            offset,
            row,
            column,
        }
    }

    fn take(&mut self, n: usize, start: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| self.error(DecodeErrorKind::Truncated, start))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn take8(&mut self, start: usize) -> Result<[u8; 8], DecodeError> {
        let bytes = self.take(8, start)?;
        let mut out = [0u8; 8];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn take_len_prefixed(&mut self, start: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.take(4, start)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        self.take(len, start)
    }

    /// Whether every value of the header's row count has been read.
    pub fn is_done(&self) -> bool {
        self.read >= u64::from(self.rows) * u64::from(self.columns)
    }

    /// The next value, or `None` after the last one.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Value<'a>>, DecodeError> {
        if self.is_done() {
            return Ok(None);
        }
        let start = self.pos;
        let tag = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.error(DecodeErrorKind::Truncated, start))?;
        self.pos += 1;
        let value = match tag {
            TAG_NULL => Value::Null,
            TAG_BOOLEAN => match self.take(1, start)?[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                other => return Err(self.error(DecodeErrorKind::InvalidBoolean(other), start)),
            },
            TAG_INT64 => Value::Int64(i64::from_le_bytes(self.take8(start)?)),
            TAG_FLOAT64 => Value::Float64(f64::from_le_bytes(self.take8(start)?)),
            TAG_TIMESTAMP_MILLIS => Value::TimestampMillis(i64::from_le_bytes(self.take8(start)?)),
            TAG_UTF8 => {
                let bytes = self.take_len_prefixed(start)?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| self.error(DecodeErrorKind::InvalidUtf8, start))?;
                Value::Utf8(text)
            }
            TAG_BINARY => Value::Binary(self.take_len_prefixed(start)?),
            other => return Err(self.error(DecodeErrorKind::UnknownTag(other), start)),
        };
        self.read += 1;
        Ok(Some(value))
    }

    /// Checks that nothing follows the last value. Call after reading all.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let extra = self.data.len() - self.pos;
        if self.is_done() && extra == 0 {
            return Ok(());
        }
        if !self.is_done() {
            return Err(self.error(DecodeErrorKind::Truncated, self.pos));
        }
        Err(DecodeError {
            kind: DecodeErrorKind::TrailingBytes(extra),
            offset: self.pos,
            row: None,
            column: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector published in docs/row-encoding.md: two rows of
    /// (word: utf8, count: int64 nullable).
    const VECTOR: &[u8] = &[
        2, 0, 0, 0, // rows
        2, 0, 0, 0, // columns
        4, 2, 0, 0, 0, b'h', b'i', // "hi"
        2, 3, 0, 0, 0, 0, 0, 0, 0, // 3
        4, 0, 0, 0, 0, // ""
        0, // null
    ];

    #[test]
    fn writes_the_documented_bytes() {
        let mut w = BatchWriter::new(2);
        w.push(&Value::Utf8("hi"));
        w.push(&Value::Int64(3));
        w.push(&Value::Utf8(""));
        w.push(&Value::Null);
        assert_eq!(w.rows(), 2);
        assert_eq!(w.finish().unwrap(), VECTOR);
    }

    #[test]
    fn reads_the_documented_bytes() {
        let mut r = BatchReader::with_columns(VECTOR, 2).unwrap();
        assert_eq!(r.rows(), 2);
        let mut got = Vec::new();
        while let Some(v) = r.next().unwrap() {
            got.push(v);
        }
        r.finish().unwrap();
        assert_eq!(
            got,
            vec![
                Value::Utf8("hi"),
                Value::Int64(3),
                Value::Utf8(""),
                Value::Null
            ]
        );
    }

    #[test]
    fn round_trips_every_type() {
        let values = [
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Int64(i64::MIN),
            Value::Float64(-1.5),
            Value::Utf8("grüße"),
            Value::Binary(&[0, 255, 7]),
            Value::TimestampMillis(1_700_000_000_123),
        ];
        let mut w = BatchWriter::new(values.len() as u32);
        for v in &values {
            w.push(v);
        }
        let bytes = w.finish().unwrap();
        let mut r = BatchReader::new(&bytes).unwrap();
        for expected in &values {
            assert_eq!(r.next().unwrap().as_ref(), Some(expected));
        }
        assert_eq!(r.next().unwrap(), None);
        r.finish().unwrap();
    }

    #[test]
    fn reads_headerless_keys() {
        let mut key = Vec::new();
        write_value(&mut key, &Value::Utf8("k"));
        write_value(&mut key, &Value::Int64(7));
        let mut r = BatchReader::headerless(&key, 2);
        assert_eq!(r.next().unwrap(), Some(Value::Utf8("k")));
        assert_eq!(r.next().unwrap(), Some(Value::Int64(7)));
        assert_eq!(r.next().unwrap(), None);
        r.finish().unwrap();
    }

    #[test]
    fn refuses_a_partial_row() {
        let mut w = BatchWriter::new(2);
        w.push(&Value::Int64(1));
        assert_eq!(
            w.finish(),
            Err(EncodeError::PartialRow {
                values: 1,
                columns: 2
            })
        );
    }

    #[test]
    fn names_where_a_batch_is_malformed() {
        let mut bad = VECTOR.to_vec();
        bad[15] = 9; // the tag of row 0, column 1
        let mut r = BatchReader::new(&bad).unwrap();
        r.next().unwrap();
        let err = r.next().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::UnknownTag(9));
        assert_eq!((err.row, err.column, err.offset), (Some(0), Some(1), 15));
        assert_eq!(
            err.to_string(),
            "unknown value tag 9 (byte 15, row 0, column 1)"
        );

        let truncated = &VECTOR[..VECTOR.len() - 3];
        let mut r = BatchReader::new(truncated).unwrap();
        let mut result = Ok(None);
        for _ in 0..4 {
            result = r.next();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.unwrap_err().kind, DecodeErrorKind::Truncated);

        let mut trailing = VECTOR.to_vec();
        trailing.push(0);
        let mut r = BatchReader::new(&trailing).unwrap();
        while r.next().unwrap().is_some() {}
        assert_eq!(
            r.finish().unwrap_err().kind,
            DecodeErrorKind::TrailingBytes(1)
        );

        assert_eq!(
            BatchReader::with_columns(VECTOR, 3).unwrap_err().kind,
            DecodeErrorKind::ColumnCountMismatch {
                expected: 3,
                found: 2
            }
        );
        assert_eq!(
            BatchReader::new(&[1, 0]).unwrap_err().kind,
            DecodeErrorKind::MissingHeader
        );
    }

    #[test]
    fn rejects_invalid_utf8_and_booleans() {
        let mut w = BatchWriter::new(1);
        w.push(&Value::Binary(&[0xff]));
        let mut bytes = w.finish().unwrap();
        bytes[HEADER_LEN] = TAG_UTF8;
        let mut r = BatchReader::new(&bytes).unwrap();
        assert_eq!(r.next().unwrap_err().kind, DecodeErrorKind::InvalidUtf8);

        let bytes = [1, 0, 0, 0, 1, 0, 0, 0, TAG_BOOLEAN, 2];
        let mut r = BatchReader::new(&bytes).unwrap();
        assert_eq!(
            r.next().unwrap_err().kind,
            DecodeErrorKind::InvalidBoolean(2)
        );
    }
}
