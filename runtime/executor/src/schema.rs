//! The column types of the operator contract, and their Arrow types.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_types::{FieldSpec, FieldType};
use weir_wasm_host as host;

/// The Arrow type of a contract type.
pub fn arrow_type(data_type: host::DataType) -> DataType {
    match data_type {
        host::DataType::Boolean => DataType::Boolean,
        host::DataType::Int64 => DataType::Int64,
        host::DataType::Float64 => DataType::Float64,
        host::DataType::Utf8 => DataType::Utf8,
        host::DataType::Binary => DataType::Binary,
        host::DataType::TimestampMillis => DataType::Timestamp(TimeUnit::Millisecond, None),
    }
}

/// The contract type of an Arrow type, if the contract has one.
pub fn contract_type(data_type: &DataType) -> Option<host::DataType> {
    Some(match data_type {
        DataType::Boolean => host::DataType::Boolean,
        DataType::Int64 => host::DataType::Int64,
        DataType::Float64 => host::DataType::Float64,
        DataType::Utf8 => host::DataType::Utf8,
        DataType::Binary => host::DataType::Binary,
        DataType::Timestamp(TimeUnit::Millisecond, None) => host::DataType::TimestampMillis,
        _ => return None,
    })
}

pub fn spec_type(field_type: FieldType) -> host::DataType {
    match field_type {
        FieldType::Boolean => host::DataType::Boolean,
        FieldType::Int64 => host::DataType::Int64,
        FieldType::Float64 => host::DataType::Float64,
        FieldType::Utf8 => host::DataType::Utf8,
        FieldType::Binary => host::DataType::Binary,
        FieldType::TimestampMillis => host::DataType::TimestampMillis,
    }
}

/// The Arrow schema of a source declared in a job spec.
pub fn from_spec(fields: &[FieldSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| Field::new(&f.name, arrow_type(spec_type(f.data_type)), f.nullable))
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

/// The contract form of an Arrow schema. Every stream in Weir only carries
/// contract types, so this cannot fail for schemas Weir built.
pub fn to_contract(schema: &Schema) -> Result<host::Schema, SchemaError> {
    let fields = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type =
                contract_type(f.data_type()).ok_or_else(|| SchemaError::NotReceivable {
                    column: f.name().clone(),
                    data_type: f.data_type().to_string(),
                })?;
            Ok(host::Field {
                name: f.name().clone(),
                data_type,
                nullable: f.is_nullable(),
            })
        })
        .collect::<Result<Vec<_>, SchemaError>>()?;
    Ok(host::Schema { fields })
}

/// The Arrow form of a schema an operator declared; refuses what a stream
/// cannot carry.
pub fn from_contract(schema: &host::Schema) -> Result<SchemaRef, SchemaError> {
    if schema.fields.is_empty() {
        return Err(SchemaError::NoColumns);
    }
    let mut seen = std::collections::BTreeSet::new();
    for field in &schema.fields {
        if field.name.is_empty() {
            return Err(SchemaError::Unnamed);
        }
        if !seen.insert(field.name.as_str()) {
            return Err(SchemaError::Duplicate(field.name.clone()));
        }
    }
    Ok(Arc::new(Schema::new(
        schema
            .fields
            .iter()
            .map(|f| Field::new(&f.name, arrow_type(f.data_type), f.nullable))
            .collect::<Vec<_>>(),
    )))
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
