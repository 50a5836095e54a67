//! The window's side of late records: set aside for the task when it has a
//! side output for them, dropped and counted when not; never in the
//! window's own checkpoint.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use weir_types::{UserMetric, WindowConfig, LATE_RECORDS};

use super::Window;
use crate::operator::{OpenInfo, Operator};

fn events(rows: &[(&str, i64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let users: Vec<&str> = rows.iter().map(|(user, _)| *user).collect();
    let times: Vec<i64> = rows.iter().map(|(_, ts)| *ts).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(Int64Array::from(times)),
        ],
    )
    .unwrap()
}

/// A 10 ms tumbling count by user that has seen a@1 and the watermark 20,
/// then a@2: too late for [0, 10).
fn after_a_late_record(side_outputs: Vec<&'static str>) -> Window {
    let config = WindowConfig::parse(
        &serde_json::json!({
            "type": "tumbling", "size": "10ms",
            "aggregates": [{"fn": "count"}],
            "lateRecords": {"path": "late.jsonl"},
        }),
        false,
    )
    .unwrap();
    let mut window = Window::new("per-user", config, None).unwrap();
    let info = OpenInfo {
        key_fields: vec!["user".into()],
        event_time_column: Some("ts".into()),
        side_outputs,
        ..OpenInfo::default()
    };
    window.open(events(&[]).schema(), &info).unwrap();
    let mut out = Vec::new();
    window.process(events(&[("a", 1)]), &mut out).unwrap();
    window.on_watermark(20, &mut out).unwrap();
    assert_eq!(out.len(), 1, "the window [0, 10) fired");
    window
        .process(events(&[("a", 2), ("b", 25)]), &mut out)
        .unwrap();
    window
}

fn metric(window: &Window, name: &str) -> Option<u64> {
    window
        .user_metrics()
        .into_iter()
        .find(|(metric, _)| metric == name)
        .map(|(_, value)| match value {
            UserMetric::Counter(n) => n,
            other => panic!("{name} is {other:?}"),
        })
}

#[test]
fn late_records_are_set_aside_for_the_tasks_side_output() {
    let mut window = after_a_late_record(vec![LATE_RECORDS]);
    let set_aside = window.take_side_output();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0].tag, LATE_RECORDS);
    assert_eq!(set_aside[0].batch, events(&[("a", 2)]), "as it came in");
    assert!(window.take_side_output().is_empty(), "taken once");
    assert_eq!(metric(&window, "numLateRecordsSideOutput"), Some(1));
    assert_eq!(metric(&window, "numLateRecordsDropped"), Some(0));
}

#[test]
fn without_a_side_output_late_records_are_dropped_and_counted() {
    let mut window = after_a_late_record(Vec::new());
    assert!(window.take_side_output().is_empty());
    assert_eq!(metric(&window, "numLateRecordsSideOutput"), None);
    assert_eq!(metric(&window, "numLateRecordsDropped"), Some(1));
}

#[test]
fn the_checkpoint_keeps_the_count_of_late_records_but_no_records() {
    let mut window = after_a_late_record(vec![LATE_RECORDS]);
    window.take_side_output();
    let state = window.snapshot_state(1).unwrap();

    let mut restored = after_a_late_record(vec![LATE_RECORDS]);
    restored.take_side_output();
    restored.restore_state(&state).unwrap();
    assert_eq!(metric(&restored, "numLateRecordsSideOutput"), Some(1));
    assert!(restored.take_side_output().is_empty());

    // The layout before late records became the task's: a file of the
    // window's own after the late counts. Refused, not read wrong.
    let mut legacy = state[..24].to_vec();
    legacy.push(1);
    legacy.extend_from_slice(&state[25..]);
    let err = restored.restore_state(&legacy).unwrap_err().to_string();
    assert!(
        err.contains("per-user") && err.contains("file of late records of the window's own"),
        "{err}"
    );
}
