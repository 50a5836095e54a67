//! Schemas: the columns of every batch of a stream.

use std::fmt;

use weir_row_codec as codec;

use crate::{Error, Value};

/// The column types a Weir stream carries, each one Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// Arrow `Boolean`.
    Boolean,
    /// Arrow `Int64`.
    Int64,
    /// Arrow `Float64`.
    Float64,
    /// Arrow `Utf8`.
    Utf8,
    /// Arrow `Binary`.
    Binary,
    /// Arrow `Timestamp(Millisecond, None)`: milliseconds since the Unix epoch,
    /// UTC.
    TimestampMillis,
}

impl DataType {
    /// The row-encoding tag of a non-null value of this type.
    pub fn tag(self) -> u8 {
        match self {
            DataType::Boolean => codec::TAG_BOOLEAN,
            DataType::Int64 => codec::TAG_INT64,
            DataType::Float64 => codec::TAG_FLOAT64,
            DataType::Utf8 => codec::TAG_UTF8,
            DataType::Binary => codec::TAG_BINARY,
            DataType::TimestampMillis => codec::TAG_TIMESTAMP_MILLIS,
        }
    }

    /// The type's name as the WIT contract spells it (`timestamp-millis`, ...).
    pub fn name(self) -> &'static str {
        codec::tag_name(self.tag())
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    name: String,
    data_type: DataType,
    nullable: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        Field {
            name: name.into(),
            data_type,
            nullable,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn data_type(&self) -> DataType {
        self.data_type
    }

    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// Whether `value` may be stored in this column.
    pub fn accepts(&self, value: &Value<'_>) -> bool {
        match value {
            Value::Null => self.nullable,
            other => other.tag() == self.data_type.tag(),
        }
    }

    /// What a value of this column should be, for error messages.
    pub(crate) fn describe(&self) -> String {
        if self.nullable {
            format!("{} or null", self.data_type)
        } else {
            self.data_type.to_string()
        }
    }
}

/// The columns of every batch of a stream, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Schema {
    fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Schema { fields }
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field at `index`, if there is one.
    pub fn field(&self, index: usize) -> Option<&Field> {
        self.fields.get(index)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The index of the column called `name` (names are case-sensitive).
    ///
    /// Meant for [`Operator::open`](crate::Operator::open): a missing column
    /// means the operator is placed after a stream it cannot read, so the error
    /// is `invalid-config` and lists the columns that exist.
    pub fn index_of(&self, name: &str) -> Result<usize, Error> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| {
                Error::invalid_config(format!(
                    "the input has no column `{name}`; its columns are: {}",
                    self.column_list()
                ))
            })
    }

    /// `name: type` of every column, for messages.
    pub(crate) fn column_list(&self) -> String {
        if self.fields.is_empty() {
            return "(none)".to_owned();
        }
        self.fields
            .iter()
            .map(|f| format!("`{}` ({})", f.name, f.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A column's name for messages, also for an index past the end.
    pub(crate) fn column_name(&self, index: usize) -> &str {
        self.fields.get(index).map_or("?", |f| f.name.as_str())
    }

    /// Checks that the names are unique, as the contract requires.
    pub(crate) fn check_unique_names(&self) -> Result<(), Error> {
        for (i, field) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|f| f.name == field.name) {
                return Err(Error::internal(format!(
                    "the output schema has two columns named `{}`",
                    field.name
                )));
            }
        }
        Ok(())
    }
}

impl FromIterator<Field> for Schema {
    fn from_iter<I: IntoIterator<Item = Field>>(iter: I) -> Self {
        Schema::new(iter.into_iter().collect())
    }
}
