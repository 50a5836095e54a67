//! Timers of a WASM operator, driven directly.

use weir_testing::guests;
use weir_wasm_host::{EngineConfig, WasmHost};

fn host() -> WasmHost {
    WasmHost::new(EngineConfig::default()).unwrap()
}

/// Processing-time timers registered by a WASM operator fire, once each and
/// per key, when the task's clock passes them.
#[test]
fn processing_time_timers_fire_once_per_key() {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use weir_executor::{OpenInfo, Operator};
    use weir_wasm_host::{Capabilities, InstanceLimits};
    use weir_wasm_operator::WasmOperator;

    let host = host();
    let module = host
        .load("probe", &guests().bytes("event-time-probe"), None)
        .unwrap();
    let mut probe = WasmOperator::new(
        "probe",
        &module,
        InstanceLimits::default(),
        Capabilities::default(),
        r#"{"processingTimerMs": 0}"#.into(),
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let info = OpenInfo {
        key_fields: vec!["user".into()],
        parallelism: 1,
        max_parallelism: 128,
        ..OpenInfo::default()
    };
    probe.open(schema.clone(), &info).unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "a"])),
            Arc::new(Int64Array::from(vec![1, 2, 3])),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    probe.process(batch, &mut out).unwrap();
    assert!(out.is_empty());
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 1;
    probe.on_processing_time(later, &mut out).unwrap();
    let fired: usize = out.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(fired, 2, "one timer per key: {out:?}");
    let mut again = Vec::new();
    probe.on_processing_time(later + 1000, &mut again).unwrap();
    assert!(again.is_empty(), "a timer fires once");
}
