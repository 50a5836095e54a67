//! The Arrow schemas a job spec declares, and columns looked up by name.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_types::{FieldSpec, FieldType};

/// The Arrow type of a type a job spec declares: the operator contract's
/// types.
pub fn arrow_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::Boolean => DataType::Boolean,
        FieldType::Int64 => DataType::Int64,
        FieldType::Float64 => DataType::Float64,
        FieldType::Utf8 => DataType::Utf8,
        FieldType::Binary => DataType::Binary,
        FieldType::TimestampMillis => DataType::Timestamp(TimeUnit::Millisecond, None),
    }
}

/// The Arrow schema of a source declared in a job spec.
pub fn from_spec(fields: &[FieldSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| Field::new(&f.name, arrow_type(f.data_type), f.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// A schema an operator cannot receive or declare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("column '{column}' has type {data_type}, which operators cannot receive")]
    NotReceivable { column: String, data_type: String },
    #[error("the output schema has no columns")]
    NoColumns,
    #[error("the output schema has a column without a name")]
    Unnamed,
    #[error("the output schema names column '{0}' twice")]
    Duplicate(String),
    #[error("there is no column '{column}' (the input has: {available})")]
    NoSuchColumn { column: String, available: String },
}

/// Positions of `names` in `schema`, or which one is missing and what exists.
pub fn column_indices(schema: &Schema, names: &[String]) -> Result<Vec<usize>, SchemaError> {
    names
        .iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| {
                let available: Vec<&str> =
                    schema.fields().iter().map(|f| f.name().as_str()).collect();
                SchemaError::NoSuchColumn {
                    column: name.clone(),
                    available: available.join(", "),
                }
            })
        })
        .collect()
}
