//! A window's user aggregate functions as components of the
//! `aggregate-function` world: the window's accumulators travel as opaque
//! bytes, its rows in the encoding the component chose at `open`.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use weir_executor::{OperatorError, UserAggregate, UserAggregates};
use weir_wasm_host::{AggregateContext, AggregateInstance, InstanceLimits, Module};

use crate::codec::GuestCodec;
use crate::{guest, schema};

/// The component that holds a window's user aggregates, and the limits of
/// its instances.
pub(crate) struct WasmAggregates {
    pub(crate) module: Arc<Module>,
    pub(crate) limits: InstanceLimits,
}

impl UserAggregates for WasmAggregates {
    fn instantiate(
        &self,
        window: &str,
        aggregate: &str,
    ) -> Result<Box<dyn UserAggregate>, OperatorError> {
        let instance = self
            .module
            .instantiate_aggregate(window, self.limits)
            .map_err(guest)?;
        Ok(Box::new(WasmAggregate {
            window: window.to_string(),
            aggregate: aggregate.to_string(),
            instance,
            codec: None,
        }))
    }
}

/// One instance of a user aggregate of window `window`.
struct WasmAggregate {
    window: String,
    /// The aggregate's name in the window's config (its output column).
    aggregate: String,
    instance: AggregateInstance,
    /// Set at `open`; what `finish` returns is one column, `result`.
    codec: Option<GuestCodec>,
}

impl WasmAggregate {
    fn malformed(&self, call: &'static str, detail: String) -> OperatorError {
        OperatorError::Malformed {
            operator: self.window.clone(),
            call,
            detail: format!("{}: {detail}", self.aggregate),
        }
    }
}

impl UserAggregate for WasmAggregate {
    fn open(&mut self, config: &str, input: &SchemaRef) -> Result<DataType, OperatorError> {
        let input_schema = schema::to_contract(input).map_err(|e| OperatorError::Failed {
            operator: self.window.clone(),
            message: e.to_string(),
        })?;
        let opened = self
            .instance
            .open(&AggregateContext {
                operator_name: self.window.clone(),
                config: config.to_string(),
                input_schema,
            })
            .map_err(guest)?;
        let data_type = schema::arrow_type(opened.result_type);
        let result = Arc::new(Schema::new(vec![Field::new(
            "result",
            data_type.clone(),
            true,
        )]));
        let codec = GuestCodec::new(opened.encoding, result)
            .map_err(|e| self.malformed("open", e.to_string()))?;
        self.codec = Some(codec);
        Ok(data_type)
    }

    fn init(&mut self) -> Result<Vec<u8>, OperatorError> {
        self.instance.init().map_err(guest)
    }

    fn merge(&mut self, a: Vec<u8>, b: Vec<u8>) -> Result<Vec<u8>, OperatorError> {
        let mut out = self.instance.merge(&[(a, b)]).map_err(guest)?;
        if out.len() != 1 {
            return Err(
                self.malformed("merge", format!("1 accumulator was due, got {}", out.len()))
            );
        }
        Ok(out.remove(0))
    }

    fn accumulate(
        &mut self,
        accumulators: &[Vec<u8>],
        input: &RecordBatch,
        targets: &[u32],
    ) -> Result<Vec<Vec<u8>>, OperatorError> {
        let Some(codec) = self.codec.as_ref() else {
            return Err(self.malformed("accumulate", "called before open".into()));
        };
        let encoded = codec.encode(input).map_err(|e| OperatorError::Failed {
            operator: self.window.clone(),
            message: e.to_string(),
        })?;
        self.instance
            .accumulate(accumulators, &encoded, targets)
            .map_err(guest)
    }

    fn finish(&mut self, accumulators: &[Vec<u8>]) -> Result<ArrayRef, OperatorError> {
        let bytes = self.instance.finish(accumulators).map_err(guest)?;
        let Some(codec) = self.codec.as_mut() else {
            return Err(self.malformed("finish", "called before open".into()));
        };
        let batch = codec
            .decode(bytes)
            .map_err(|e| self.malformed("finish", e.to_string()))?;
        Ok(batch.column(0).clone())
    }
}
