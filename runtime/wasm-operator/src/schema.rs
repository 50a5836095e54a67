//! The operator contract's types and schemas, and their Arrow forms.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_executor::SchemaError;
use weir_wasm_host as host;

/// The Arrow type of a contract type.
pub(crate) fn arrow_type(data_type: host::DataType) -> DataType {
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
pub(crate) fn contract_type(data_type: &DataType) -> Option<host::DataType> {
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

/// The contract form of an Arrow schema. Every stream in Weir only carries
/// contract types, so this cannot fail for schemas Weir built.
pub(crate) fn to_contract(schema: &Schema) -> Result<host::Schema, SchemaError> {
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
pub(crate) fn from_contract(schema: &host::Schema) -> Result<SchemaRef, SchemaError> {
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
