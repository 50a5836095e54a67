//! The `arrow-ipc` encoding of the operator contract: one RecordBatch message
//! per batch, no schema message; each side knows the schema from `open`.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::{write_message, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_schema::{ArrowError, SchemaRef};

/// What is wrong with a batch's IPC bytes, or why a batch cannot have any.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("dictionary-encoded columns are not part of the contract")]
    Dictionary,
    #[error("the bytes are not one whole RecordBatch message")]
    NotOneBatch,
    #[error("{0} bytes follow the RecordBatch message")]
    TrailingBytes(usize),
    #[error("the batch does not have the declared output schema")]
    WrongSchema,
}

/// Encodes one batch as a RecordBatch message.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, IpcError> {
    let options = IpcWriteOptions::default();
    let mut tracker = DictionaryTracker::new(false);
    let (dictionaries, message) = IpcDataGenerator::default().encode(
        batch,
        &mut tracker,
        &options,
        &mut Default::default(),
    )?;
    if !dictionaries.is_empty() {
        return Err(IpcError::Dictionary);
    }
    let mut out = Vec::with_capacity(message.ipc_message.len() + message.arrow_data.len() + 16);
    write_message(&mut out, message, &options)?;
    Ok(out)
}

/// Decodes RecordBatch messages of one stream whose schema is known.
pub struct Decoder {
    schema: SchemaRef,
    schema_message: Vec<u8>,
    decoder: StreamDecoder,
}

fn primed(schema_message: &[u8]) -> Result<StreamDecoder, IpcError> {
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from(schema_message.to_vec());
    // The schema message primes the decoder; it yields no batch.
    decoder.decode(&mut buffer)?;
    Ok(decoder)
}

impl Decoder {
    pub fn new(schema: SchemaRef) -> Result<Self, IpcError> {
        let options = IpcWriteOptions::default();
        let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
            &schema,
            &mut DictionaryTracker::new(false),
            &options,
        );
        let mut bytes = Vec::new();
        write_message(&mut bytes, encoded, &options)?;
        let decoder = primed(&bytes)?;
        Ok(Decoder {
            schema,
            schema_message: bytes,
            decoder,
        })
    }

    /// Decodes one message that must hold exactly one batch of the schema.
    pub fn decode(&mut self, bytes: Vec<u8>) -> Result<RecordBatch, IpcError> {
        let decoded = self.decode_message(bytes);
        if decoded.is_err() {
            // The decoder keeps partial input between calls; after a bad
            // message it starts again from the schema.
            self.decoder = primed(&self.schema_message)?;
        }
        decoded
    }

    fn decode_message(&mut self, bytes: Vec<u8>) -> Result<RecordBatch, IpcError> {
        let mut buffer = Buffer::from(bytes);
        let batch = self
            .decoder
            .decode(&mut buffer)?
            .ok_or(IpcError::NotOneBatch)?;
        if !buffer.is_empty() {
            return Err(IpcError::TrailingBytes(buffer.len()));
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(IpcError::WrongSchema);
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("key", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![n, n + 1])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn messages_decode_one_by_one_against_a_known_schema() {
        let mut decoder = Decoder::new(batch(0).schema()).unwrap();
        for n in 0..3 {
            let bytes = encode(&batch(n)).unwrap();
            assert_eq!(decoder.decode(bytes).unwrap(), batch(n));
        }
    }

    #[test]
    fn refuses_garbage() {
        let mut decoder = Decoder::new(batch(0).schema()).unwrap();
        assert!(decoder.decode(vec![1, 2, 3]).is_err());
        let mut two = encode(&batch(0)).unwrap();
        two.extend(encode(&batch(1)).unwrap());
        assert!(decoder
            .decode(two)
            .unwrap_err()
            .to_string()
            .contains("follow"));
        // A good message after bad ones still decodes.
        assert_eq!(
            decoder.decode(encode(&batch(5)).unwrap()).unwrap(),
            batch(5)
        );
    }
}
