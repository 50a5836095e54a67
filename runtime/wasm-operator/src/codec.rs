//! Batches as a component reads and writes them: in the encoding it chose
//! at `open` (Weir's rows, or Arrow IPC with a decoder for its output
//! schema). Operators and user aggregates both cross the sandbox this way.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use weir_executor::codec::{decode_rows, encode_ipc, encode_rows, IpcDecoder, IpcError, RowsError};
use weir_wasm_host::Encoding;

/// Why a batch could not cross the sandbox in the component's encoding.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error(transparent)]
    Ipc(#[from] IpcError),
    #[error(transparent)]
    Rows(#[from] RowsError),
}

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
    pub(crate) fn new(encoding: Encoding, schema: SchemaRef) -> Result<Self, CodecError> {
        let ipc = match encoding {
            Encoding::ArrowIpc => Some(IpcDecoder::new(schema.clone())?),
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
    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, CodecError> {
        match self.encoding {
            Encoding::Rows => Ok(encode_rows(batch)),
            Encoding::ArrowIpc => Ok(encode_ipc(batch)?),
        }
    }

    /// One batch the component returned, validated against its schema.
    pub(crate) fn decode(&mut self, bytes: Vec<u8>) -> Result<RecordBatch, CodecError> {
        match self.ipc.as_mut() {
            Some(decoder) => Ok(decoder.decode(bytes)?),
            None => Ok(decode_rows(&bytes, &self.schema)?),
        }
    }
}
