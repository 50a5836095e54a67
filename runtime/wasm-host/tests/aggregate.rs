//! An aggregate function (the `aggregate-function` world) is loaded by the
//! same host as operators, runs batched, and is never taken for an operator.

use weir_row_codec::{BatchReader, BatchWriter, Value};
use weir_testing::guests;
use weir_wasm_host::{
    AggregateContext, Capabilities, DataType, EngineConfig, Field, InstanceLimits, Schema, WasmHost,
};

#[test]
fn an_aggregate_function_accumulates_merges_and_finishes_in_batches() {
    let host = WasmHost::new(EngineConfig::default()).unwrap();
    let module = host
        .load("distinct", &guests().bytes("distinct-count"), None)
        .unwrap();
    assert!(module.is_aggregate());
    let err = module
        .instantiate("w", InstanceLimits::default(), Capabilities::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is an aggregate function"), "{err}");
    let operator = host
        .load("probe", &guests().bytes("event-time-probe"), None)
        .unwrap();
    let err = operator
        .instantiate_aggregate("w", InstanceLimits::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not an aggregate"), "{err}");

    let mut instance = module
        .instantiate_aggregate("w", InstanceLimits::default())
        .unwrap();
    let schema = Schema {
        fields: vec![Field {
            name: "n".into(),
            data_type: DataType::Int64,
            nullable: true,
        }],
    };
    let context = |config: &str| AggregateContext {
        operator_name: "w".into(),
        config: config.into(),
        input_schema: schema.clone(),
    };
    let err = instance.open(&context(r#"{"column":"m"}"#)).unwrap_err();
    assert!(err.to_string().contains("there is no column 'm'"), "{err}");
    let info = instance.open(&context(r#"{"column":"n"}"#)).unwrap();
    assert_eq!(info.result_type, DataType::Int64);

    let empty = instance.init().unwrap();
    let mut rows = BatchWriter::new(1);
    for n in [
        Value::Int64(1),
        Value::Int64(2),
        Value::Int64(1),
        Value::Null,
    ] {
        rows.push(&n);
    }
    let input = rows.finish().unwrap();
    // Rows 0 and 1 go to the first accumulator, 2 and 3 to the second.
    let accs = instance
        .accumulate(&[empty.clone(), empty.clone()], &input, &[0, 0, 1, 1])
        .unwrap();
    assert_eq!(accs.len(), 2);
    let merged = instance
        .merge(&[(accs[0].clone(), accs[1].clone())])
        .unwrap();
    let results = instance
        .finish(&[accs[0].clone(), accs[1].clone(), merged[0].clone(), empty])
        .unwrap();
    let mut reader = BatchReader::with_columns(&results, 1).unwrap();
    let mut got = Vec::new();
    while let Some(value) = reader.next().unwrap() {
        got.push(match value {
            Value::Int64(n) => n,
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(got, vec![2, 1, 2, 0]);
}
