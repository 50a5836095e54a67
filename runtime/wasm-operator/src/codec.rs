//! Batches as a component reads and writes them: in the encoding it chose
//! at `open` (Weir's rows, or Arrow IPC with a decoder for its output
//! schema). Operators and user aggregates both cross the sandbox this way.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use weir_executor::codec::{decode_rows, encode_ipc, encode_rows, IpcDecoder};
use weir_wasm_host::Encoding;

/// The encoding a component chose, and what it returns decoded against.
pub(crate) struct GuestCodec {
    encoding: Encoding,
    /// The schema of what the component returns.
    schema: SchemaRef,
    /// Arrow IPC only: the decoder, which keeps the stream's state.
    ipc: Option<IpcDecoder>,
}

impl GuestCodec {
    /// The codec of a component that chose `encoding` and returns `schema`;
    /// refuses a schema Arrow IPC cannot decode.
    pub(crate) fn new(encoding: Encoding, schema: SchemaRef) -> Result<Self, String> {
        let ipc = match encoding {
            Encoding::ArrowIpc => Some(IpcDecoder::new(schema.clone()).map_err(|e| e.to_string())?),
            Encoding::Rows => None,
        };
        Ok(GuestCodec {
            encoding,
            schema,
            ipc,
        })
    }

    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// `batch` as the component reads it.
    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, String> {
        match self.encoding {
            Encoding::Rows => Ok(encode_rows(batch)),
            Encoding::ArrowIpc => encode_ipc(batch).map_err(|e| e.to_string()),
        }
    }

    /// One batch the component returned, validated against its schema.
    pub(crate) fn decode(&mut self, bytes: Vec<u8>) -> Result<RecordBatch, String> {
        match self.ipc.as_mut() {
            Some(decoder) => decoder.decode(bytes).map_err(|e| e.to_string()),
            None => decode_rows(&bytes, &self.schema).map_err(|e| e.to_string()),
        }
    }
}
