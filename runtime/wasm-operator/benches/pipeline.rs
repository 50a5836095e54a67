//! Throughput of generator → map → blackhole with the map as a native Rust
//! operator and as WASM components (row encoding and Arrow IPC), the per-call
//! overhead of a WASM operator. The same pipeline as a whole job, on the
//! in-process cluster, is `cargo bench -p weir-minicluster --bench whole_job`.
//!
//! `cargo bench -p weir-wasm-operator --bench pipeline` (or `make bench`); set
//! WEIR_BENCH_RECORDS to change the record count (default 4,000,000).
//! Prints figures; asserts nothing about speed.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Float64Array, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use weir_executor::{codec, GeneratorSource, OpenInfo, Operator, OperatorError, Source};
use weir_testing::guests;
use weir_wasm_host::{Capabilities, EngineConfig, InstanceLimits, WasmHost};
use weir_wasm_operator::WasmOperator;

const BATCH: usize = 1024;
const RUNS: usize = 3;

/// The benchmark's map in native Rust: the logic of the `scale` fixture,
/// `id, key, value * 2 + 1`.
struct NativeScale {
    schema: Option<SchemaRef>,
}

impl Operator for NativeScale {
    fn name(&self) -> &str {
        "scale-native"
    }

    fn open(&mut self, input: SchemaRef, _info: &OpenInfo) -> Result<SchemaRef, OperatorError> {
        let schema = Arc::new(Schema::new(
            input
                .fields()
                .iter()
                .take(3)
                .map(|f| f.as_ref().clone())
                .collect::<Vec<Field>>(),
        ));
        self.schema = Some(schema.clone());
        Ok(schema)
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let values: Float64Array = batch
            .column(2)
            .as_primitive::<Float64Type>()
            .unary(|v| v * 2.0 + 1.0);
        let schema = self.schema.clone().ok_or_else(|| OperatorError::Failed {
            operator: "scale-native".into(),
            message: "not opened".into(),
        })?;
        let batch = RecordBatch::try_new(
            schema,
            vec![
                batch.column(0).clone(),
                batch.column(1).clone(),
                Arc::new(values),
            ],
        )
        .map_err(|e| OperatorError::Failed {
            operator: "scale-native".into(),
            message: e.to_string(),
        })?;
        out.push(batch);
        Ok(())
    }

    fn close(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        Ok(())
    }
}

/// Opens `operator` as the only subtask behind the generator.
fn open_on_generator(operator: &mut dyn Operator) {
    let info = OpenInfo {
        parallelism: 1,
        ..OpenInfo::default()
    };
    operator
        .open(GeneratorSource::schema_of(), &info)
        .expect("opens");
}

/// Runs generator → `operator` → blackhole on this thread; records/s.
fn pipeline(records: u64, operator: Option<&mut dyn Operator>) -> f64 {
    let mut source = GeneratorSource::new(0, 1, Some(records), None, 1000, BATCH);
    let mut operator = operator;
    if let Some(op) = operator.as_mut() {
        open_on_generator(&mut **op);
    }
    let mut out = Vec::new();
    let mut sunk = 0u64;
    let started = Instant::now();
    while let Some(batch) = source.next_batch().expect("generates") {
        match operator.as_mut() {
            Some(op) => {
                op.process(batch, &mut out).expect("processes");
                sunk += out.drain(..).map(|b| b.num_rows() as u64).sum::<u64>();
            }
            None => sunk += batch.num_rows() as u64,
        }
    }
    assert_eq!(sunk, records, "every record reaches the blackhole");
    records as f64 / started.elapsed().as_secs_f64()
}

fn best(f: impl Fn() -> f64) -> f64 {
    (0..RUNS).map(|_| f()).fold(0.0, f64::max)
}

fn wasm(host: &WasmHost, fixture: &str) -> WasmOperator {
    let module = host
        .load(fixture, &guests().bytes(fixture), None)
        .expect("loads");
    WasmOperator::new(
        fixture,
        &module,
        InstanceLimits::default(),
        Capabilities::default(),
        "{}".into(),
    )
    .expect("instantiates")
}

/// Mean time of one `process` call of `rows` records, in nanoseconds.
fn per_call(host: &WasmHost, fixture: &str, rows: usize, calls: u32) -> f64 {
    let mut op = wasm(host, fixture);
    open_on_generator(&mut op);
    let batch = GeneratorSource::new(0, 1, Some(rows as u64), None, 10, rows.max(1))
        .next_batch()
        .expect("generates")
        .unwrap_or_else(|| RecordBatch::new_empty(GeneratorSource::schema_of()));
    let mut out = Vec::new();
    let started = Instant::now();
    for _ in 0..calls {
        op.process(batch.clone(), &mut out).expect("processes");
        out.clear();
    }
    started.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn timed(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_nanos() as f64
}

fn codec_rows(batch: &RecordBatch) -> f64 {
    timed(|| {
        std::hint::black_box(codec::encode_rows(batch));
    })
}

fn decode_rows_ns(batch: &RecordBatch) -> f64 {
    let bytes = codec::encode_rows(batch);
    let schema = batch.schema();
    timed(|| {
        std::hint::black_box(codec::decode_rows(&bytes, &schema).expect("decodes"));
    })
}

fn codec_ipc(batch: &RecordBatch) -> f64 {
    timed(|| {
        std::hint::black_box(codec::encode_ipc(batch).expect("encodes"));
    })
}

fn decode_ipc_ns(batch: &RecordBatch) -> f64 {
    let bytes = codec::encode_ipc(batch).expect("encodes");
    let mut decoder = codec::IpcDecoder::new(batch.schema()).expect("decoder");
    timed(|| {
        std::hint::black_box(decoder.decode(bytes).expect("decodes"));
    })
}

fn mrec(rate: f64) -> String {
    format!("{:>7.2} M records/s", rate / 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and expects a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 4_000_000 });
    let host = WasmHost::new(EngineConfig::default()).expect("engine starts");
    guests();

    println!("weir pipeline benchmark: generator -> map -> blackhole, {records} records, batches of {BATCH}, best of {RUNS}, one thread");
    let baseline = best(|| pipeline(records, None));
    let native = best(|| pipeline(records, Some(&mut NativeScale { schema: None })));
    let rows = best(|| pipeline(records, Some(&mut wasm(&host, "scale"))));
    let arrow = best(|| pipeline(records, Some(&mut wasm(&host, "scale-arrow"))));
    println!("  generator alone             {}", mrec(baseline));
    println!("  native Rust map             {}", mrec(native));
    println!(
        "  WASM map, row encoding      {}   ratio to native {:.2}",
        mrec(rows),
        rows / native
    );
    println!(
        "  WASM map, Arrow IPC         {}   ratio to native {:.2}",
        mrec(arrow),
        arrow / native
    );

    let batch = GeneratorSource::new(0, 1, Some(BATCH as u64), None, 1000, BATCH)
        .next_batch()
        .expect("generates")
        .expect("one batch");
    let rounds = if quick { 100 } else { 5_000 };
    for (label, encode, decode) in [
        (
            "rows",
            codec_rows as fn(&RecordBatch) -> f64,
            decode_rows_ns as fn(&RecordBatch) -> f64,
        ),
        ("arrow-ipc", codec_ipc, decode_ipc_ns),
    ] {
        let (mut enc, mut dec) = (0.0, 0.0);
        for _ in 0..rounds {
            enc += encode(&batch);
            dec += decode(&batch);
        }
        println!(
            "  host codec {label:<10} encode {:>6.1} ns/record   decode {:>6.1} ns/record",
            enc / f64::from(rounds) / BATCH as f64,
            dec / f64::from(rounds) / BATCH as f64
        );
    }

    let calls = if quick { 1_000 } else { 50_000 };
    println!("per call of a WASM operator's process (host encode + call + guest + host decode):");
    for (fixture, label) in [("scale", "rows"), ("scale-arrow", "arrow-ipc")] {
        let empty = per_call(&host, fixture, 0, calls);
        let one = per_call(&host, fixture, 1, calls);
        let full = per_call(&host, fixture, BATCH, calls / 10);
        println!(
            "  {label:<10} empty batch {empty:>8.0} ns   1 record {one:>8.0} ns   {BATCH} records {full:>10.0} ns ({:.1} ns/record)",
            full / BATCH as f64
        );
    }
}
