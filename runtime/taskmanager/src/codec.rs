//! Arrow Flight framing of the data plane: a Schema message first, then one
//! RecordBatch message per frame, header and body apart as in FlightData.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_schema::{Schema, SchemaRef};
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

pub fn batch_frame(batch: &RecordBatch) -> Result<FlightData, String> {
    let (dictionaries, encoded) = IpcDataGenerator::default()
        .encode(
            batch,
            &mut DictionaryTracker::new(false),
            &IpcWriteOptions::default(),
            &mut Default::default(),
        )
        .map_err(|e| format!("cannot encode a batch: {e}"))?;
    if !dictionaries.is_empty() {
        return Err("dictionary-encoded columns cannot cross the network yet".into());
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
pub fn decode(frame: FlightData, schema: Option<&SchemaRef>) -> Result<Decoded, String> {
    let message = arrow_ipc::root_as_message(&frame.data_header)
        .map_err(|e| format!("a frame's header is not an Arrow IPC message: {e}"))?;
    if let Some(fb) = message.header_as_schema() {
        let schema = arrow_ipc::convert::try_fb_to_schema(fb)
            .map_err(|e| format!("a frame carries an invalid schema: {e}"))?;
        return Ok(Decoded::Schema(Arc::new(schema)));
    }
    let batch = message
        .header_as_record_batch()
        .ok_or("a frame is neither a schema nor a record batch")?;
    let schema = schema.ok_or("a record batch arrived before the schema")?;
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
    .map_err(|e| format!("a frame carries an invalid record batch: {e}"))
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
