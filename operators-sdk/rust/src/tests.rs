//! Native tests of the SDK's logic: everything but the host calls.

use weir_row_codec::{BatchReader, BatchWriter};

use crate::__private::{
    schema_to_wit, to_wit_error, Slot, TimeDomain, Timer, WitErrorKind, WitOpenContext,
};
use crate::{
    state, timers, DataType, Error, ErrorKind, Field, OpenContext, Operator, Output, OwnedValue,
    Row, Rows, Schema, Value,
};

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
        Field::new("ok", DataType::Boolean, false),
        Field::new("blob", DataType::Binary, true),
        Field::new("ts", DataType::TimestampMillis, false),
    ])
}

fn encode(rows: &[&[Value<'_>]]) -> Vec<u8> {
    let columns = rows.first().map_or(0, |r| r.len()) as u32;
    let mut w = BatchWriter::new(columns);
    for row in rows {
        for v in *row {
            w.push(v);
        }
    }
    w.finish().unwrap()
}

const ROW: [Value<'static>; 6] = [
    Value::Int64(7),
    Value::Utf8("seven"),
    Value::Float64(1.5),
    Value::Boolean(true),
    Value::Null,
    Value::TimestampMillis(1_700_000_000_000),
];

#[test]
fn output_encodes_rows_as_the_codec_does() {
    let mut out = Output::new(schema());
    out.emit(&ROW).unwrap();
    out.emit(&ROW).unwrap();
    assert_eq!(out.emitted(), 2);
    let batches = out.take_batches().unwrap();
    assert_eq!(batches, vec![encode(&[&ROW, &ROW])]);
    // Taking again starts afresh.
    assert!(out.take_batches().unwrap().is_empty());
}

#[test]
fn output_checks_arity_types_and_nulls() {
    let mut out = Output::new(schema());

    let err = out.emit(&ROW[..5]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.message().contains("5 values"), "{err}");
    assert!(err.message().contains("6 columns"), "{err}");

    let mut row = ROW;
    row[2] = Value::Int64(1);
    let err = out.emit(&row).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(
        err.message(),
        "emitted a record whose column `score` is int64, the output schema says float64"
    );

    let mut row = ROW;
    row[0] = Value::Null;
    let err = out.emit(&row).unwrap_err();
    assert!(err.message().contains("column `id` is null"), "{err}");

    // Nulls are fine where the column is nullable.
    let mut row = ROW;
    row[1] = Value::Null;
    out.emit(&row).unwrap();
    assert_eq!(out.decoded().unwrap().len(), 1);
}

#[test]
fn output_starts_a_new_batch_past_the_target_size() {
    let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
    let mut out = Output::new(schema.clone());
    out.set_target_bytes(8 + 9 * 10);
    for i in 0..25 {
        out.emit(&[Value::Int64(i)]).unwrap();
    }
    let batches = out.take_batches().unwrap();
    let rows: Vec<u32> = batches
        .iter()
        .map(|b| BatchReader::new(b).unwrap().rows())
        .collect();
    assert_eq!(rows, [10, 10, 5]);
    let mut values = Vec::new();
    let mut seen = Vec::new();
    for b in &batches {
        crate::row::decode_batch(b, &schema, &mut values).unwrap();
        seen.extend(values.iter().map(|v| match v {
            Value::Int64(i) => *i,
            _ => unreachable!(),
        }));
    }
    assert_eq!(seen, (0..25).collect::<Vec<_>>());
}

#[test]
fn output_refuses_records_of_an_empty_schema() {
    let mut out = Output::new(Schema::default());
    assert_eq!(out.emit(&[]).unwrap_err().kind(), ErrorKind::Internal);
}

#[test]
fn row_accessors_return_typed_values() {
    let schema = schema();
    let row = Row::new(&ROW, &schema);
    assert_eq!(row.i64(0).unwrap(), 7);
    assert_eq!(row.str(1).unwrap(), "seven");
    assert_eq!(row.f64(2).unwrap(), 1.5);
    assert!(row.bool(3).unwrap());
    assert!(row.is_null(4).unwrap());
    assert_eq!(row.opt_bytes(4).unwrap(), None);
    assert_eq!(row.timestamp_millis(5).unwrap(), 1_700_000_000_000);
    assert_eq!(row.get(1).unwrap(), Value::Utf8("seven"));
    assert_eq!(row.opt_str(1).unwrap(), Some("seven"));
    assert_eq!(row.len(), 6);
}

#[test]
fn row_accessors_name_the_column_and_both_types() {
    let schema = schema();
    let row = Row::new(&ROW, &schema);
    let err = row.str(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.message(), "column `id`: expected utf8, found int64");

    let err = row.bytes(4).unwrap_err();
    assert_eq!(err.message(), "column `blob`: expected binary, found null");

    let err = row.opt_f64(1).unwrap_err();
    assert_eq!(err.message(), "column `name`: expected float64, found utf8");

    let err = row.get(6).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.message().contains("out of range"), "{err}");
}

#[test]
fn rows_iterate_and_index() {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Utf8, false),
    ]);
    let values = [
        Value::Int64(1),
        Value::Utf8("x"),
        Value::Int64(2),
        Value::Utf8("y"),
    ];
    let rows = Rows::new(&values, &schema);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.get(1).unwrap().str(1).unwrap(), "y");
    assert!(rows.get(2).is_none());
    let ids: Vec<i64> = rows.iter().map(|r| r.i64(0).unwrap()).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(rows.iter().len(), 2);
}

#[test]
fn decoding_reports_malformed_batches_as_invalid_input() {
    let schema = schema();
    let good = encode(&[&ROW]);
    let mut values = Vec::new();
    assert_eq!(
        crate::row::decode_batch(&good, &schema, &mut values).unwrap(),
        1
    );
    assert_eq!(values, ROW);
    let mut values = Vec::new();

    // Truncated inside a value.
    let err = crate::row::decode_batch(&good[..good.len() - 2], &schema, &mut values).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message()
            .starts_with("malformed input batch: batch ends inside a value"),
        "{err}"
    );

    // Not even a header.
    let err = crate::row::decode_batch(&[1, 2], &schema, &mut values).unwrap_err();
    assert!(err.message().contains("8-byte header"), "{err}");

    // Wrong column count.
    let narrow = encode(&[&ROW[..2]]);
    let err = crate::row::decode_batch(&narrow, &schema, &mut values).unwrap_err();
    assert!(
        err.message()
            .contains("batch has 2 columns, the schema has 6"),
        "{err}"
    );

    // A value whose tag contradicts the schema.
    let mut row = ROW;
    row[3] = Value::Utf8("yes");
    let mistyped = encode(&[&row]);
    let err = crate::row::decode_batch(&mistyped, &schema, &mut values).unwrap_err();
    assert_eq!(
        err.message(),
        "malformed input batch: row 0, column `ok`: expected boolean, found utf8"
    );

    // A header claiming far more rows than the data holds must neither panic
    // nor reserve memory for them.
    let mut values = Vec::new();
    let mut lying = good.clone();
    lying[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = crate::row::decode_batch(&lying, &schema, &mut values).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(values.capacity() < 1 << 20);
}

#[derive(serde::Deserialize, Default, Debug, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    lowercase: bool,
    min_length: usize,
}

#[test]
fn config_defaults_when_empty() {
    let ctx = OpenContext::new("op", Schema::default());
    assert_eq!(ctx.config::<Config>().unwrap(), Config::default());
    let ctx = ctx.with_config("");
    assert_eq!(ctx.config::<Config>().unwrap(), Config::default());
    let ctx = ctx.with_config(r#"{"minLength": 3}"#);
    assert_eq!(ctx.config::<Config>().unwrap().min_length, 3);
    assert_eq!(ctx.config_json(), r#"{"minLength": 3}"#);
}

#[test]
fn config_errors_name_the_field() {
    let ctx =
        OpenContext::new("tokenize", Schema::default()).with_config(r#"{"lowercase": "yes"}"#);
    let err = ctx.config::<Config>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.message()
            .starts_with("invalid config of operator `tokenize`: field `lowercase`: invalid type"),
        "{err}"
    );

    assert_eq!(
        err.message(),
        "invalid config of operator `tokenize`: field `lowercase`: \
         invalid type: string \"yes\", expected a boolean"
    );
    let ctx = ctx.with_config(r#"{"lowercase": true, "minLen": 2}"#);
    let err = ctx.config::<Config>().unwrap_err();
    assert!(err.message().contains("unknown field `minLen`"), "{err}");

    let ctx = ctx.with_config("[1");
    assert_eq!(
        ctx.config::<Config>().unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
}

#[test]
fn index_of_lists_the_available_columns() {
    let err = schema().index_of("line").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().contains("no column `line`"), "{err}");
    assert!(
        err.message()
            .contains("`id` (int64), `name` (utf8 or null)"),
        "{err}"
    );
    assert_eq!(schema().index_of("score").unwrap(), 2);
}

#[test]
fn errors_map_to_the_wit_kinds() {
    let cases = [
        (Error::invalid_config("a"), WitErrorKind::InvalidConfig),
        (Error::invalid_input("b"), WitErrorKind::InvalidInput),
        (Error::host("c"), WitErrorKind::Host),
        (Error::internal("d"), WitErrorKind::Internal),
    ];
    for (error, kind) in cases {
        let message = error.message().to_owned();
        let wit = to_wit_error(error);
        assert_eq!(wit.kind, kind);
        assert_eq!(wit.message, message);
    }
    let json: Error = serde_json::from_str::<i64>("x").unwrap_err().into();
    assert_eq!(json.kind(), ErrorKind::InvalidInput);
    assert_eq!(Error::internal("boom").to_string(), "boom");
    assert_eq!(ErrorKind::InvalidConfig.to_string(), "invalid-config");
}

#[test]
fn state_and_timers_are_unavailable_outside_a_runtime() {
    let err = state::ValueState::open("counts").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Host);
    assert!(
        err.message()
            .starts_with("value state `counts`: unavailable: "),
        "{err}"
    );
    let err = timers::register(&[Timer::new(vec![], 1, TimeDomain::EventTime)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Host);
    assert_eq!(timers::current_watermark(), None);
    assert!(timers::current_processing_time() > 0);
}

#[test]
fn keys_are_the_row_encoding_of_the_key_columns() {
    let schema = schema();
    let row = Row::new(&ROW, &schema);
    let key = state::key_of(&row, &[1, 0]).unwrap();
    let mut expected = vec![4, 5, 0, 0, 0];
    expected.extend_from_slice(b"seven");
    expected.push(2);
    expected.extend_from_slice(&7i64.to_le_bytes());
    assert_eq!(key, expected);

    let ctx = OpenContext::new("op", schema.clone()).with_key_fields(["name", "id"]);
    assert_eq!(ctx.key_indexes().unwrap(), [1, 0]);
}

/// Doubles `n`, drops negative numbers, fails on 13, counts records at close.
struct Doubler {
    n: usize,
    seen: i64,
}

impl Operator for Doubler {
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
        let n = ctx.input_schema().index_of("n")?;
        Ok((
            Doubler { n, seen: 0 },
            Schema::new(vec![Field::new("twice", DataType::Int64, false)]),
        ))
    }

    fn process(&mut self, row: &Row<'_>, out: &mut Output) -> Result<(), Error> {
        let n = row.i64(self.n)?;
        self.seen += 1;
        if n == 13 {
            return Err(Error::invalid_input("13 is unlucky"));
        }
        if n >= 0 {
            out.emit(&[Value::Int64(n * 2)])?;
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: &Timer, out: &mut Output) -> Result<(), Error> {
        out.emit(&[Value::Int64(timer.timestamp)])
    }

    fn close(&mut self, out: &mut Output) -> Result<(), Error> {
        out.emit(&[Value::Int64(self.seen)])
    }
}

fn wit_context(config: &str) -> WitOpenContext {
    WitOpenContext {
        operator_name: "doubler".to_owned(),
        config: config.to_owned(),
        input_schema: schema_to_wit(&Schema::new(vec![
            Field::new("label", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ])),
        key_fields: vec![],
        subtask_index: 0,
        parallelism: 1,
        attempt: 0,
    }
}

fn ints(batches: &[Vec<u8>]) -> Vec<i64> {
    let schema = Schema::new(vec![Field::new("twice", DataType::Int64, false)]);
    let mut values = Vec::new();
    let mut got = Vec::new();
    for b in batches {
        crate::row::decode_batch(b, &schema, &mut values).unwrap();
        got.extend(values.iter().map(|v| match v {
            Value::Int64(i) => *i,
            _ => unreachable!(),
        }));
    }
    got
}

#[test]
fn the_slot_drives_an_operator_through_its_lifecycle() {
    let slot = Slot::<Doubler>::new();

    let err = slot
        .process(encode(&[&[Value::Null, Value::Int64(1)]]))
        .unwrap_err();
    assert_eq!(err.kind, WitErrorKind::Internal);
    assert!(err.message.contains("before `open`"), "{}", err.message);

    let opened = slot.open(wit_context("{}")).unwrap();
    assert_eq!(opened.output_schema.fields.len(), 1);
    assert_eq!(opened.output_schema.fields[0].name, "twice");
    assert!(matches!(opened.encoding, crate::__private::Encoding::Rows));

    let batch = encode(&[
        &[Value::Utf8("a"), Value::Int64(1)],
        &[Value::Null, Value::Int64(-4)],
        &[Value::Utf8("c"), Value::Int64(21)],
    ]);
    assert_eq!(ints(&slot.process(batch).unwrap()), [2, 42]);

    // An empty batch produces no output batch at all.
    let empty = BatchWriter::new(2).finish().unwrap();
    assert!(slot.process(empty).unwrap().is_empty());

    // A failed call returns the error and none of its partial output.
    let failing = encode(&[
        &[Value::Null, Value::Int64(5)],
        &[Value::Null, Value::Int64(13)],
    ]);
    let err = slot.process(failing).unwrap_err();
    assert_eq!(err.kind, WitErrorKind::InvalidInput);
    assert_eq!(err.message, "13 is unlucky");
    assert_eq!(
        ints(
            &slot
                .process(encode(&[&[Value::Null, Value::Int64(3)]]))
                .unwrap()
        ),
        [6]
    );

    let err = slot.process(vec![1, 0, 0, 0, 1, 0, 0, 0, 99]).unwrap_err();
    assert_eq!(err.kind, WitErrorKind::InvalidInput);
    assert!(
        err.message
            .contains("batch has 1 columns, the schema has 2"),
        "{}",
        err.message
    );

    assert!(slot.on_watermark(10).unwrap().is_empty());
    let fired = vec![
        Timer::new(vec![1], 100, TimeDomain::EventTime),
        Timer::new(vec![2], 200, TimeDomain::ProcessingTime),
    ];
    assert_eq!(ints(&slot.on_timer(fired).unwrap()), [100, 200]);
    assert_eq!(ints(&slot.close().unwrap()), [6]);
}

#[test]
fn open_errors_reach_the_host_with_their_kind() {
    struct NeedsConfig;
    impl Operator for NeedsConfig {
        fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
            let _: Config = ctx.config()?;
            Ok((NeedsConfig, Schema::default()))
        }
        fn process(&mut self, _: &Row<'_>, _: &mut Output) -> Result<(), Error> {
            Ok(())
        }
    }
    let slot = Slot::<NeedsConfig>::new();
    let err = slot.open(wit_context(r#"{"bogus": 1}"#)).unwrap_err();
    assert_eq!(err.kind, WitErrorKind::InvalidConfig);
    assert!(
        err.message.contains("unknown field `bogus`"),
        "{}",
        err.message
    );

    let err = Slot::<Doubler>::new()
        .open(WitOpenContext {
            input_schema: schema_to_wit(&Schema::default()),
            ..wit_context("{}")
        })
        .unwrap_err();
    assert_eq!(err.kind, WitErrorKind::InvalidConfig);
    assert!(err.message.contains("no column `n`"), "{}", err.message);
}

#[test]
fn duplicate_output_columns_are_refused_at_open() {
    struct Twice;
    impl Operator for Twice {
        fn open(_: &OpenContext) -> Result<(Self, Schema), Error> {
            let f = Field::new("x", DataType::Int64, false);
            Ok((Twice, Schema::new(vec![f.clone(), f])))
        }
        fn process(&mut self, _: &Row<'_>, _: &mut Output) -> Result<(), Error> {
            Ok(())
        }
    }
    let err = Slot::<Twice>::new().open(wit_context("{}")).unwrap_err();
    assert_eq!(err.kind, WitErrorKind::Internal);
    assert!(
        err.message.contains("two columns named `x`"),
        "{}",
        err.message
    );
}

#[test]
fn owned_values_round_trip() {
    for v in ROW {
        assert_eq!(OwnedValue::from(v).as_value(), v);
    }
}
