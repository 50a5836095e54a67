//! A WASM component behind the [`Operator`] trait: converts Arrow batches to
//! the encoding the guest chose, and validates everything it returns.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use weir_wasm_host::{
    Capabilities, Encoding, InstanceLimits, Module, OpenContext, OperatorInstance, UserMetric,
};

use crate::ipc;
use crate::operator::{OpenInfo, Operator, OperatorError};
use crate::rows;
use crate::schema;

pub struct WasmOperator {
    name: String,
    config: String,
    instance: OperatorInstance,
    output: Option<Output>,
}

struct Output {
    schema: SchemaRef,
    encoding: Encoding,
    ipc: Option<ipc::Decoder>,
}

impl WasmOperator {
    /// Instantiates `module` for one subtask. `config` is the JSON text the
    /// operator receives at open.
    pub fn new(
        name: &str,
        module: &Arc<Module>,
        limits: InstanceLimits,
        capabilities: Capabilities,
        config: String,
    ) -> Result<Self, OperatorError> {
        let instance = module.instantiate(name, limits, capabilities)?;
        Ok(WasmOperator {
            name: name.to_string(),
            config,
            instance,
            output: None,
        })
    }

    fn malformed(&self, call: &'static str, detail: String) -> OperatorError {
        OperatorError::Malformed {
            operator: self.name.clone(),
            call,
            detail,
        }
    }

    fn decode_all(
        &mut self,
        call: &'static str,
        batches: Vec<Vec<u8>>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let Some(output) = self.output.as_mut() else {
            return Err(self.malformed(call, "the operator was not opened".into()));
        };
        for bytes in batches {
            let decoded = match output.ipc.as_mut() {
                Some(decoder) => decoder.decode(bytes),
                None => rows::decode(&bytes, &output.schema),
            };
            match decoded {
                Ok(batch) if batch.num_rows() == 0 => {}
                Ok(batch) => out.push(batch),
                Err(detail) => return Err(self.malformed(call, detail)),
            }
        }
        Ok(())
    }
}

impl Operator for WasmOperator {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&mut self, input: SchemaRef, info: &OpenInfo) -> Result<SchemaRef, OperatorError> {
        let input_schema =
            schema::to_contract(&input).map_err(|message| OperatorError::Failed {
                operator: self.name.clone(),
                message,
            })?;
        let context = OpenContext {
            operator_name: self.name.clone(),
            config: self.config.clone(),
            input_schema,
            key_fields: info.key_fields.clone(),
            subtask_index: info.subtask_index,
            parallelism: info.parallelism,
            attempt: info.attempt,
        };
        let opened = self.instance.open(&context)?;
        let output = schema::from_contract(&opened.output_schema)
            .map_err(|detail| self.malformed("open", detail))?;
        let ipc = match opened.encoding {
            Encoding::ArrowIpc => Some(
                ipc::Decoder::new(output.clone())
                    .map_err(|detail| self.malformed("open", detail))?,
            ),
            Encoding::Rows => None,
        };
        self.output = Some(Output {
            schema: output.clone(),
            encoding: opened.encoding,
            ipc,
        });
        Ok(output)
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let encoding = match &self.output {
            Some(output) => output.encoding,
            None => return Err(self.malformed("process", "the operator was not opened".into())),
        };
        let bytes = match encoding {
            Encoding::Rows => rows::encode(&batch),
            Encoding::ArrowIpc => ipc::encode(&batch).map_err(|message| OperatorError::Failed {
                operator: self.name.clone(),
                message: format!("cannot encode its input: {message}"),
            })?,
        };
        let produced = self.instance.process(&bytes)?;
        self.decode_all("process", produced, out)
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let produced = self.instance.on_watermark(watermark)?;
        self.decode_all("on-watermark", produced, out)
    }

    fn close(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        let produced = self.instance.close()?;
        self.decode_all("close", produced, out)
    }

    fn user_metrics(&self) -> Vec<(String, UserMetric)> {
        self.instance
            .user_metrics()
            .iter()
            .map(|(name, value)| (name.clone(), *value))
            .collect()
    }
}
