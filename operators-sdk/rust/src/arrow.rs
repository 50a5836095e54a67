//! Operators over Arrow record batches (feature `arrow`).
//!
//! With [`ArrowOperator`] and [`export_arrow!`](crate::export_arrow), batches
//! cross the component boundary in the contract's `arrow-ipc` encoding: each
//! batch is exactly one IPC `RecordBatch` message (continuation marker,
//! length, flatbuffer metadata, body), with no schema message, no dictionaries
//! and no compression. Both sides build the Arrow schema from the schemas
//! exchanged at `open`.
//!
//! Prefer this over the per-record [`Operator`](crate::Operator) for columnar
//! logic (vectorised arithmetic, filters with kernels) or when the operator
//! already uses Arrow; the component grows by about a megabyte.
//!
//! ```no_run
//! use std::sync::Arc;
//! use weir_operator::arrow::{ArrowOperator, ArrowOutput};
//! use weir_operator::arrow::arrow_array::{Float64Array, RecordBatch};
//! use weir_operator::{export_arrow, DataType, Error, Field, OpenContext, Schema};
//!
//! struct Double { value: usize }
//!
//! impl ArrowOperator for Double {
//!     fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
//!         let value = ctx.input_schema().index_of("value")?;
//!         Ok((Double { value }, Schema::new(vec![Field::new("value", DataType::Float64, false)])))
//!     }
//!
//!     fn process(&mut self, batch: &RecordBatch, out: &mut ArrowOutput) -> Result<(), Error> {
//!         let values = batch.column(self.value).as_any().downcast_ref::<Float64Array>()
//!             .ok_or_else(|| Error::invalid_input("`value` is not float64"))?;
//!         let doubled: Float64Array = values.unary(|v| v * 2.0);
//!         out.emit_columns(vec![Arc::new(doubled)])
//!     }
//! }
//! export_arrow!(Double);
//! # fn main() {}
//! ```

use std::collections::HashMap;
use std::sync::Arc;

pub use arrow_array;
pub use arrow_schema;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::RecordBatchDecoder;
use arrow_ipc::writer::{
    write_message, DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions,
};
use arrow_ipc::{MessageHeader, MetadataVersion};
use arrow_schema::{ArrowError, SchemaRef, TimeUnit};

use crate::__private::{schema_to_wit, Encoding, GuestInstance, InstanceSlot, OpenResult, Timer};
use crate::{DataType, Error, OpenContext, Schema};

/// The IPC stream continuation marker that starts every message.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// The Arrow type of each Weir type, as the contract's `data-type` says.
pub fn to_arrow_type(data_type: DataType) -> arrow_schema::DataType {
    match data_type {
        DataType::Boolean => arrow_schema::DataType::Boolean,
        DataType::Int64 => arrow_schema::DataType::Int64,
        DataType::Float64 => arrow_schema::DataType::Float64,
        DataType::Utf8 => arrow_schema::DataType::Utf8,
        DataType::Binary => arrow_schema::DataType::Binary,
        DataType::TimestampMillis => arrow_schema::DataType::Timestamp(TimeUnit::Millisecond, None),
    }
}

/// The Arrow schema of a Weir schema: same names, types and nullability.
pub fn to_arrow_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .map(|f| arrow_schema::Field::new(f.name(), to_arrow_type(f.data_type()), f.is_nullable()))
        .collect();
    Arc::new(arrow_schema::Schema::new(fields))
}

/// A stream operator over Arrow record batches: what
/// [`export_arrow!`](crate::export_arrow) exports.
///
/// The lifecycle is that of [`Operator`](crate::Operator), one call per
/// batch: there is no per-record method.
pub trait ArrowOperator: Sized + 'static {
    /// Validates the configuration and declares the output schema; see
    /// [`Operator::open`](crate::Operator::open).
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error>;

    /// Processes one input batch, whose schema is
    /// [`to_arrow_schema`]`(ctx.input_schema())`.
    fn process(&mut self, batch: &RecordBatch, out: &mut ArrowOutput) -> Result<(), Error>;

    /// The event-time watermark has advanced to `watermark`.
    fn on_watermark(&mut self, watermark: i64, out: &mut ArrowOutput) -> Result<(), Error> {
        let _ = (watermark, out);
        Ok(())
    }

    /// A registered timer is due.
    fn on_timer(&mut self, timer: &Timer, out: &mut ArrowOutput) -> Result<(), Error> {
        let _ = (timer, out);
        Ok(())
    }

    /// The input has ended: emit what the operator still holds.
    fn close(&mut self, out: &mut ArrowOutput) -> Result<(), Error> {
        let _ = out;
        Ok(())
    }
}

/// Where an [`ArrowOperator`] emits its batches during one call.
pub struct ArrowOutput {
    schema: SchemaRef,
    batches: Vec<Vec<u8>>,
    generator: IpcDataGenerator,
    context: IpcWriteContext,
    options: IpcWriteOptions,
}

impl std::fmt::Debug for ArrowOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowOutput")
            .field("schema", &self.schema)
            .field("pending_batches", &self.batches.len())
            .finish_non_exhaustive()
    }
}

impl ArrowOutput {
    /// An output for batches of `schema`. Useful to test operators natively;
    /// read what was emitted with [`ArrowOutput::take_batches`] and
    /// [`decode_batch`].
    pub fn new(schema: &Schema) -> Self {
        ArrowOutput {
            schema: to_arrow_schema(schema),
            batches: Vec::new(),
            generator: IpcDataGenerator::default(),
            context: IpcWriteContext::default(),
            // 8-byte alignment is all Arrow's buffers need; the default 64
            // only pads the message.
            options: IpcWriteOptions::try_new(8, false, MetadataVersion::V5).unwrap_or_default(),
        }
    }

    /// The output schema, as Arrow sees it.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Emits one batch. Its columns must have the output schema's types, and
    /// no nulls where a column is not nullable; its field names do not
    /// matter (the output schema's are used). Empty batches are dropped.
    pub fn emit(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.emit_columns(batch.columns().to_vec())
    }

    /// Emits one batch made of `columns`, in output schema order.
    pub fn emit_columns(&mut self, columns: Vec<ArrayRef>) -> Result<(), Error> {
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            Error::internal(format!(
                "emitted a batch that does not fit the output schema: {e}"
            ))
        })?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let message = encode_batch(&self.generator, &mut self.context, &self.options, &batch)
            .map_err(|e| Error::internal(format!("cannot encode an output batch: {e}")))?;
        self.batches.push(message);
        Ok(())
    }

    /// Hands over every batch emitted so far, each one IPC message.
    pub fn take_batches(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.batches)
    }
}

fn encode_batch(
    generator: &IpcDataGenerator,
    context: &mut IpcWriteContext,
    options: &IpcWriteOptions,
    batch: &RecordBatch,
) -> Result<Vec<u8>, ArrowError> {
    // The six Weir types have no dictionaries, so the tracker stays empty.
    let mut tracker = DictionaryTracker::new(false);
    let (dictionaries, encoded) = generator.encode(batch, &mut tracker, options, context)?;
    if !dictionaries.is_empty() {
        return Err(ArrowError::IpcError(
            "dictionary-encoded columns are not part of the contract".to_owned(),
        ));
    }
    let mut out = Vec::with_capacity(encoded.ipc_message.len() + encoded.arrow_data.len() + 16);
    write_message(&mut out, encoded, options)?;
    Ok(out)
}

/// Decodes one `arrow-ipc` batch (one `RecordBatch` message) of `schema`.
///
/// Malformed input becomes an `invalid-input` error; it never panics.
pub fn decode_batch(data: Vec<u8>, schema: &SchemaRef) -> Result<RecordBatch, Error> {
    decode(data, schema).map_err(|e| Error::invalid_input(format!("malformed input batch: {e}")))
}

fn decode(data: Vec<u8>, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let bad = |m: &str| ArrowError::IpcError(m.to_owned());
    if data.len() < 8 || data[..4] != CONTINUATION {
        return Err(bad(
            "expected an IPC message starting with the continuation marker",
        ));
    }
    let meta_len = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
    let meta_end = 8usize
        .checked_add(meta_len)
        .filter(|end| *end <= data.len())
        .ok_or_else(|| bad("IPC metadata runs past the end of the batch"))?;
    // Own the bytes as an Arrow buffer, so that the columns can point into it
    // instead of being copied out.
    let buffer = Buffer::from_vec(data);
    let message = arrow_ipc::root_as_message(&buffer.as_slice()[8..meta_end])
        .map_err(|e| ArrowError::IpcError(format!("invalid IPC metadata: {e}")))?;
    if message.header_type() != MessageHeader::RecordBatch {
        return Err(bad("expected a RecordBatch message"));
    }
    let batch = message
        .header_as_record_batch()
        .ok_or_else(|| bad("unreadable RecordBatch header"))?;
    let body_len =
        usize::try_from(message.bodyLength()).map_err(|_| bad("negative IPC body length"))?;
    let body_end = meta_end
        .checked_add(body_len)
        .filter(|end| *end <= buffer.len())
        .ok_or_else(|| bad("IPC body runs past the end of the batch"))?;
    if buffer.as_slice()[body_end..].iter().any(|b| *b != 0) {
        return Err(bad("bytes after the IPC message"));
    }
    let body = buffer.slice_with_length(meta_end, body_len);
    let dictionaries = HashMap::new();
    let version = message.version();
    RecordBatchDecoder::try_new(&body, batch, schema.clone(), &dictionaries, &version)?
        .with_require_alignment(false)
        .read_record_batch()
}

/// The slot of an [`ArrowOperator`]; see [`Slot`](crate::__private::Slot).
#[doc(hidden)]
pub type ArrowSlot<T> = InstanceSlot<ArrowInstance<T>>;

/// An [`ArrowOperator`] with its input schema and output buffer.
#[doc(hidden)]
pub struct ArrowInstance<T> {
    operator: T,
    input_schema: SchemaRef,
    output: ArrowOutput,
}

impl<T> std::fmt::Debug for ArrowInstance<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowInstance").finish_non_exhaustive()
    }
}

impl<T: ArrowOperator> GuestInstance for ArrowInstance<T> {
    fn open(context: OpenContext) -> Result<(Self, OpenResult), Error> {
        let (operator, output_schema) = T::open(&context)?;
        let result = OpenResult {
            output_schema: schema_to_wit(&output_schema),
            encoding: Encoding::ArrowIpc,
        };
        let instance = ArrowInstance {
            operator,
            input_schema: to_arrow_schema(context.input_schema()),
            output: ArrowOutput::new(&output_schema),
        };
        Ok((instance, result))
    }

    fn process(&mut self, input: Vec<u8>) -> Result<Vec<Vec<u8>>, Error> {
        let result = decode_batch(input, &self.input_schema)
            .and_then(|batch| self.operator.process(&batch, &mut self.output));
        self.finish(result)
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Vec<u8>>, Error> {
        let result = self.operator.on_watermark(watermark, &mut self.output);
        self.finish(result)
    }

    fn on_timer(&mut self, fired: &[Timer]) -> Result<Vec<Vec<u8>>, Error> {
        let result = fired
            .iter()
            .try_for_each(|timer| self.operator.on_timer(timer, &mut self.output));
        self.finish(result)
    }

    fn close(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let result = self.operator.close(&mut self.output);
        self.finish(result)
    }
}

impl<T> ArrowInstance<T> {
    fn finish(&mut self, result: Result<(), Error>) -> Result<Vec<Vec<u8>>, Error> {
        let batches = self.output.take_batches();
        result.map(|()| batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::WitOpenContext;
    use crate::Field;
    use arrow_array::{
        Array, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray,
        TimestampMillisecondArray,
    };

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("b", DataType::Boolean, true),
            Field::new("i", DataType::Int64, false),
            Field::new("f", DataType::Float64, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("x", DataType::Binary, false),
            Field::new("t", DataType::TimestampMillis, false),
        ])
    }

    fn columns() -> Vec<ArrayRef> {
        vec![
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(Int64Array::from(vec![1, -2])),
            Arc::new(Float64Array::from(vec![0.5, 2.5])),
            Arc::new(StringArray::from(vec![Some("weir"), None])),
            Arc::new(BinaryArray::from(vec![&b"\x00\x01"[..], b""])),
            Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_000, 0])),
        ]
    }

    #[test]
    fn batches_round_trip_through_one_ipc_message() {
        let mut out = ArrowOutput::new(&schema());
        out.emit_columns(columns()).unwrap();
        let mut batches = out.take_batches();
        assert_eq!(batches.len(), 1);
        let message = batches.remove(0);
        assert_eq!(message[..4], CONTINUATION);
        let batch = decode_batch(message, &to_arrow_schema(&schema())).unwrap();
        assert_eq!(batch.num_rows(), 2);
        for (got, want) in batch.columns().iter().zip(columns()) {
            assert_eq!(got.to_data(), want.to_data());
        }
    }

    #[test]
    fn reads_what_a_standard_ipc_stream_writer_writes() {
        // A stream is a schema message followed by batch messages; the
        // contract's batch is one such batch message on its own.
        let schema = to_arrow_schema(&schema());
        let batch = RecordBatch::try_new(schema.clone(), columns()).unwrap();
        let mut schema_only = Vec::new();
        arrow_ipc::writer::StreamWriter::try_new(&mut schema_only, &schema)
            .unwrap()
            .flush()
            .unwrap();
        let mut stream = Vec::new();
        {
            let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut stream, &schema).unwrap();
            w.write(&batch).unwrap();
        }
        let message = stream[schema_only.len()..].to_vec();
        let decoded = decode_batch(message, &schema).unwrap();
        assert_eq!(decoded, batch);
    }

    #[test]
    fn emitted_batches_must_fit_the_output_schema() {
        let mut out = ArrowOutput::new(&schema());
        let mut wrong = columns();
        wrong[1] = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let err = out.emit_columns(wrong).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Internal);

        let mut nulls = columns();
        nulls[1] = Arc::new(Int64Array::from(vec![Some(1), None]));
        let err = out.emit_columns(nulls).unwrap_err();
        assert!(err.message().contains("non-nullable"), "{err}");
        assert!(out.take_batches().is_empty());
    }

    #[test]
    fn malformed_messages_are_invalid_input() {
        let schema = to_arrow_schema(&schema());
        for data in [
            vec![],
            vec![1, 0, 0, 0, 1, 0, 0, 0, 99],
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            vec![0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        ] {
            let err = decode_batch(data, &schema).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        }
        let mut out = ArrowOutput::new(&crate::arrow::tests::schema());
        out.emit_columns(columns()).unwrap();
        let mut message = out.take_batches().remove(0);
        message.truncate(message.len() - 8);
        assert!(decode_batch(message, &schema).is_err());
    }

    struct Negate;

    impl ArrowOperator for Negate {
        fn open(_: &OpenContext) -> Result<(Self, Schema), Error> {
            Ok((
                Negate,
                Schema::new(vec![Field::new("n", DataType::Int64, false)]),
            ))
        }

        fn process(&mut self, batch: &RecordBatch, out: &mut ArrowOutput) -> Result<(), Error> {
            let n = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| Error::invalid_input("not int64"))?;
            let negated: Int64Array = n.unary(|v| -v);
            out.emit_columns(vec![Arc::new(negated)])
        }
    }

    #[test]
    fn the_arrow_slot_answers_with_the_arrow_ipc_encoding() {
        let slot = ArrowSlot::<Negate>::new();
        let input = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let opened = slot
            .open(WitOpenContext {
                operator_name: "negate".to_owned(),
                config: "{}".to_owned(),
                input_schema: schema_to_wit(&input),
                key_fields: vec![],
                subtask_index: 0,
                parallelism: 1,
                attempt: 0,
            })
            .unwrap();
        assert!(matches!(opened.encoding, Encoding::ArrowIpc));
        let mut out = ArrowOutput::new(&input);
        out.emit_columns(vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])
            .unwrap();
        let batches = slot.process(out.take_batches().remove(0)).unwrap();
        let result = decode_batch(batches[0].clone(), &to_arrow_schema(&input)).unwrap();
        let values = result
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(values.values().to_vec(), vec![-1, -2, -3]);
        assert!(slot.process(vec![0; 3]).is_err());
        assert_eq!(values.null_count(), 0);
    }
}
