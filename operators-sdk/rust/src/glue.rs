//! What [`export!`](crate::export) expands to: the bindings of the WIT
//! contract and the one instance slot of a component. Not a public API.

use std::cell::RefCell;
use std::sync::Arc;

use crate::row::{decode_batch, Rows};
use crate::{DataType, Error, ErrorKind, Field, OpenContext, Operator, Output, Schema, Value};

#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "operator",
        // `export!` is this crate's own macro; the generated one is only
        // reached through it.
        pub_export_macro: true,
        export_macro_name: "__weir_bindgen_export",
    });
}

pub use bindings::exports::weir::operator::handler::{
    Guest, OpenContext as WitOpenContext, OpenResult,
};
pub use bindings::weir::operator::timers::{TimeDomain, Timer};
pub use bindings::weir::operator::types::{
    DataType as WitDataType, Encoding, ErrorKind as WitErrorKind, Field as WitField, HostError,
    OperatorError, Schema as WitSchema,
};

pub type WitResult<T> = Result<T, OperatorError>;

pub fn to_wit_error(error: Error) -> OperatorError {
    let kind = match error.kind() {
        ErrorKind::InvalidConfig => WitErrorKind::InvalidConfig,
        ErrorKind::InvalidInput => WitErrorKind::InvalidInput,
        ErrorKind::Host => WitErrorKind::Host,
        ErrorKind::Internal => WitErrorKind::Internal,
    };
    OperatorError {
        kind,
        message: error.message().to_owned(),
    }
}

fn data_type_from_wit(t: WitDataType) -> DataType {
    match t {
        WitDataType::Boolean => DataType::Boolean,
        WitDataType::Int64 => DataType::Int64,
        WitDataType::Float64 => DataType::Float64,
        WitDataType::Utf8 => DataType::Utf8,
        WitDataType::Binary => DataType::Binary,
        WitDataType::TimestampMillis => DataType::TimestampMillis,
    }
}

fn data_type_to_wit(t: DataType) -> WitDataType {
    match t {
        DataType::Boolean => WitDataType::Boolean,
        DataType::Int64 => WitDataType::Int64,
        DataType::Float64 => WitDataType::Float64,
        DataType::Utf8 => WitDataType::Utf8,
        DataType::Binary => WitDataType::Binary,
        DataType::TimestampMillis => WitDataType::TimestampMillis,
    }
}

pub fn schema_from_wit(schema: WitSchema) -> Schema {
    schema
        .fields
        .into_iter()
        .map(|f| Field::new(f.name, data_type_from_wit(f.data_type), f.nullable))
        .collect()
}

pub fn schema_to_wit(schema: &Schema) -> WitSchema {
    WitSchema {
        fields: schema
            .fields()
            .iter()
            .map(|f| WitField {
                name: f.name().to_owned(),
                data_type: data_type_to_wit(f.data_type()),
                nullable: f.is_nullable(),
            })
            .collect(),
    }
}

pub fn context_from_wit(context: WitOpenContext) -> OpenContext {
    OpenContext {
        operator_name: context.operator_name,
        config: context.config,
        input_schema: schema_from_wit(context.input_schema),
        key_fields: context.key_fields,
        subtask_index: context.subtask_index,
        parallelism: context.parallelism,
        attempt: context.attempt,
    }
}

/// One operator instance as the export glue drives it, whatever its
/// encoding: [`Instance`] for [`Operator`]s, the Arrow instance for
/// `ArrowOperator`s.
pub trait GuestInstance: Sized {
    /// Opens the operator; the instance and what to answer the host.
    fn open(context: OpenContext) -> Result<(Self, OpenResult), Error>;
    fn process(&mut self, input: Vec<u8>) -> Result<Vec<Vec<u8>>, Error>;
    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Vec<u8>>, Error>;
    fn on_timer(&mut self, fired: &[Timer]) -> Result<Vec<Vec<u8>>, Error>;
    fn close(&mut self) -> Result<Vec<Vec<u8>>, Error>;
}

/// Holds a component's one operator instance between calls.
///
/// `export!` puts it in a `thread_local!`: a component is single-threaded, so
/// this is a plain static there, and native tests that drive an exported
/// operator from several threads each get their own instance.
pub struct InstanceSlot<I> {
    instance: RefCell<Option<I>>,
}

/// The slot of an [`Operator`] (the row encoding).
pub type Slot<T> = InstanceSlot<Instance<T>>;

impl<I> InstanceSlot<I> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        InstanceSlot {
            instance: RefCell::new(None),
        }
    }
}

impl<I> std::fmt::Debug for InstanceSlot<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.instance.try_borrow().map(|i| i.is_some()).ok();
        f.debug_struct("Slot").field("open", &open).finish()
    }
}

impl<I: GuestInstance> InstanceSlot<I> {
    pub fn open(&self, context: WitOpenContext) -> WitResult<OpenResult> {
        let (instance, result) = I::open(context_from_wit(context)).map_err(to_wit_error)?;
        let mut slot = self.instance.try_borrow_mut().map_err(|_| reentered())?;
        *slot = Some(instance);
        Ok(result)
    }

    pub fn process(&self, input: Vec<u8>) -> WitResult<Vec<Vec<u8>>> {
        self.with(|i| i.process(input))
    }

    pub fn on_watermark(&self, watermark: i64) -> WitResult<Vec<Vec<u8>>> {
        self.with(|i| i.on_watermark(watermark))
    }

    pub fn on_timer(&self, fired: Vec<Timer>) -> WitResult<Vec<Vec<u8>>> {
        self.with(|i| i.on_timer(&fired))
    }

    pub fn close(&self) -> WitResult<Vec<Vec<u8>>> {
        self.with(|i| i.close())
    }

    fn with<R>(&self, f: impl FnOnce(&mut I) -> Result<R, Error>) -> WitResult<R> {
        let mut slot = self.instance.try_borrow_mut().map_err(|_| reentered())?;
        let instance = slot.as_mut().ok_or_else(|| {
            to_wit_error(Error::internal(
                "the operator was called before `open` succeeded",
            ))
        })?;
        f(instance).map_err(to_wit_error)
    }
}

/// An [`Operator`] with its input schema and output buffer.
pub struct Instance<T> {
    operator: T,
    input_schema: Schema,
    output: Output,
    /// The decoded values of the batch being processed; kept between calls
    /// so that its allocation is reused.
    scratch: Vec<Value<'static>>,
}

impl<T> std::fmt::Debug for Instance<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").finish_non_exhaustive()
    }
}

/// Empties `values` and gives back its allocation under another lifetime, so
/// that one buffer serves the batches of every call. The standard library
/// collects a mapped `vec::IntoIter` in place when the layouts match, as they
/// do here; the closure never runs because the vector is empty.
fn recycle<'b>(mut values: Vec<Value<'_>>) -> Vec<Value<'b>> {
    values.clear();
    values.into_iter().map(|_| Value::Null).collect()
}

fn reentered() -> OperatorError {
    to_wit_error(Error::internal(
        "the operator was called while another call was running",
    ))
}

impl<T: Operator> GuestInstance for Instance<T> {
    fn open(context: OpenContext) -> Result<(Self, OpenResult), Error> {
        let (operator, output_schema) = T::open(&context)?;
        output_schema.check_unique_names()?;
        let result = OpenResult {
            output_schema: schema_to_wit(&output_schema),
            encoding: Encoding::Rows,
        };
        let instance = Instance {
            operator,
            input_schema: context.input_schema,
            output: Output::with_schema(Arc::new(output_schema)),
            scratch: Vec::new(),
        };
        Ok((instance, result))
    }

    fn process(&mut self, input: Vec<u8>) -> Result<Vec<Vec<u8>>, Error> {
        let mut values = recycle(std::mem::take(&mut self.scratch));
        let result = match decode_batch(&input, &self.input_schema, &mut values) {
            Ok(len) => {
                let rows = Rows::decoded(&values, &self.input_schema, len);
                self.operator.process_batch(&rows, &mut self.output)
            }
            Err(e) => Err(e),
        };
        self.scratch = recycle(values);
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

impl<T> Instance<T> {
    fn finish(&mut self, result: Result<(), Error>) -> Result<Vec<Vec<u8>>, Error> {
        match result {
            Ok(()) => self.output.take_batches(),
            Err(e) => {
                self.output.discard();
                Err(e)
            }
        }
    }
}
