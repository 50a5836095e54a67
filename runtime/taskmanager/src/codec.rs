//! Arrow Flight framing of the data plane: a Schema message first, then one
//! RecordBatch message per frame, header and body apart as in FlightData.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_schema::{ArrowError, Schema, SchemaRef};
use weir_proto::v1::FlightData;

pub fn schema_frame(schema: &Schema) -> FlightData {
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut DictionaryTracker::new(false),
        &IpcWriteOptions::default(),
    );
    FlightData {
        data_header: encoded.ipc_message,
        ..FlightData::default()
    }
}

/// A frame that cannot be made from a batch, or read back.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("cannot encode a batch: {0}")]
    Encode(#[source] ArrowError),
    #[error("dictionary-encoded columns cannot cross the network yet")]
    Dictionary,
    #[error("a frame's header is not an Arrow IPC message: {0}")]
    /// The flatbuffers verifier's finding (its type is not re-exported).
    NotIpc(String),
    #[error("a frame carries an invalid schema: {0}")]
    BadSchema(#[source] ArrowError),
    #[error("a frame is neither a schema nor a record batch")]
    UnknownMessage,
    #[error("a record batch arrived before the schema")]
    BatchBeforeSchema,
    #[error("a frame carries an invalid record batch: {0}")]
    BadBatch(#[source] ArrowError),
}

pub fn batch_frame(batch: &RecordBatch) -> Result<FlightData, FrameError> {
    let (dictionaries, encoded) = IpcDataGenerator::default()
        .encode(
            batch,
            &mut DictionaryTracker::new(false),
            &IpcWriteOptions::default(),
            &mut Default::default(),
        )
        .map_err(FrameError::Encode)?;
    if !dictionaries.is_empty() {
        return Err(FrameError::Dictionary);
    }
    Ok(FlightData {
        data_header: encoded.ipc_message,
        data_body: encoded.arrow_data,
        ..FlightData::default()
    })
}

/// What one data frame holds.
pub enum Decoded {
    Schema(SchemaRef),
    Batch(RecordBatch),
}

/// Decodes a frame; batches need the schema a previous frame carried.
pub fn decode(frame: FlightData, schema: Option<&SchemaRef>) -> Result<Decoded, FrameError> {
    let message = arrow_ipc::root_as_message(&frame.data_header)
        .map_err(|e| FrameError::NotIpc(e.to_string()))?;
    if let Some(fb) = message.header_as_schema() {
        let schema = arrow_ipc::convert::try_fb_to_schema(fb).map_err(FrameError::BadSchema)?;
        return Ok(Decoded::Schema(Arc::new(schema)));
    }
    let batch = message
        .header_as_record_batch()
        .ok_or(FrameError::UnknownMessage)?;
    let schema = schema.ok_or(FrameError::BatchBeforeSchema)?;
    let body = Buffer::from(frame.data_body);
    arrow_ipc::reader::read_record_batch(
        &body,
        batch,
        schema.clone(),
        &HashMap::new(),
        None,
        &message.version(),
    )
    .map(Decoded::Batch)
    .map_err(FrameError::BadBatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    #[test]
    fn frames_round_trip() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "bb", "ccc"])),
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
            ],
        )
        .unwrap();
        let Decoded::Schema(got_schema) = decode(schema_frame(&schema), None).unwrap() else {
            panic!("expected a schema");
        };
        assert_eq!(got_schema, schema);
        let Decoded::Batch(got) = decode(batch_frame(&batch).unwrap(), Some(&schema)).unwrap()
        else {
            panic!("expected a batch");
        };
        assert_eq!(got, batch);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let frame = FlightData {
            data_header: b"not a flatbuffer".to_vec(),
            ..FlightData::default()
        };
        assert!(decode(frame, None).is_err());
    }
}
