//! The sandbox against misbehaving guests: each failure comes back as its own
//! typed error naming the operator and the cause, and the host goes on
//! running healthy instances afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_types::Classify;

use weir_row_codec::{BatchReader, BatchWriter, Value};
use weir_testing::{guests, CORE_MODULE};
use weir_wasm_host::{
    CallError, Capabilities, DataType, EngineConfig, ErrorKind, Field, InstanceLimits, LoadError,
    Module, OpenContext, OperatorInstance, Schema, WasmHost,
};

fn host() -> WasmHost {
    WasmHost::new(EngineConfig::default()).expect("engine starts")
}

fn misbehave(host: &WasmHost) -> Arc<Module> {
    host.load("misbehave", &guests().bytes("misbehave"), None)
        .expect("misbehave loads")
}

fn context(config: &str) -> OpenContext {
    OpenContext {
        operator_name: "probe".into(),
        config: config.into(),
        input_schema: Schema {
            fields: vec![Field {
                name: "n".into(),
                data_type: DataType::Int64,
                nullable: false,
            }],
        },
        key_fields: vec![],
        subtask_index: 0,
        parallelism: 1,
        attempt: 0,
    }
}

fn batch(values: &[i64]) -> Vec<u8> {
    let mut writer = BatchWriter::new(1);
    for v in values {
        writer.push(&Value::Int64(*v));
    }
    writer.finish().unwrap()
}

fn small_limits() -> InstanceLimits {
    InstanceLimits {
        memory_bytes: 32 << 20,
        call_timeout: Duration::from_millis(200),
    }
}

fn opened(host: &WasmHost, mode: &str) -> OperatorInstance {
    let mut instance = misbehave(host)
        .instantiate("probe", small_limits(), Capabilities::default())
        .expect("instantiates");
    instance
        .open(&context(&format!(r#"{{"mode":"{mode}"}}"#)))
        .expect("opens");
    instance
}

/// A healthy instance still works on the same host.
fn assert_host_healthy(host: &WasmHost) {
    let mut instance = opened(host, "passthrough");
    let out = instance
        .process(&batch(&[1, 2, 3]))
        .expect("passthrough works");
    let rows: u32 = out
        .iter()
        .map(|b| BatchReader::new(b).unwrap().rows())
        .sum();
    assert_eq!(rows, 3);
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() {
    let host = host();
    let mut instance = opened(&host, "loop");
    let started = Instant::now();
    let err = instance.process(&batch(&[1])).unwrap_err();
    assert!(
        matches!(err, CallError::DeadlineExceeded { ref operator, call: "process", deadline_ms: 200 } if operator == "probe"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "operator 'probe' exceeded its deadline of 200 ms in process and was stopped"
    );
    // Generous bound: this asserts that the loop was stopped at all.
    assert!(started.elapsed() < Duration::from_secs(10));
    // The instance is not entered again.
    assert!(matches!(
        instance.process(&batch(&[1])),
        Err(CallError::Poisoned { .. })
    ));
    assert_host_healthy(&host);
}

#[test]
fn a_memory_bomb_is_stopped_by_the_limit() {
    let host = host();
    let mut instance = opened(&host, "memory-bomb");
    let err = instance.process(&batch(&[1])).unwrap_err();
    match &err {
        CallError::MemoryLimitExceeded {
            operator,
            call,
            limit,
            requested,
        } => {
            assert_eq!(
                (operator.as_str(), *call, *limit),
                ("probe", "process", 32 << 20)
            );
            assert!(*requested > 32 << 20);
        }
        other => panic!("expected a memory limit error, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("exceeded its memory limit of 33554432 bytes in process"));
    assert!(instance.memory_bytes() <= 32 << 20);
    assert_host_healthy(&host);
}

#[test]
fn a_trap_carries_the_guests_panic_message() {
    let host = host();
    let mut instance = opened(&host, "trap");
    let err = instance.process(&batch(&[1])).unwrap_err();
    let CallError::Trap {
        operator,
        call,
        trap,
        stderr,
    } = &err
    else {
        panic!("expected a trap, got {err:?}");
    };
    assert_eq!((operator.as_str(), *call), ("probe", "process"));
    assert!(trap.contains("unreachable"), "{trap}");
    assert!(stderr.contains("misbehave: deliberate panic"), "{stderr}");
    assert!(err.to_string().contains("guest stderr:"), "{err}");
    assert_host_healthy(&host);
}

#[test]
fn an_error_value_is_an_operator_error_not_a_trap() {
    let host = host();
    let mut instance = opened(&host, "error");
    let err = instance.process(&batch(&[1])).unwrap_err();
    assert!(
        matches!(&err, CallError::Operator { kind: ErrorKind::InvalidInput, message, .. } if message.contains("deliberate error on batch 0")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    // An error value leaves the instance usable.
    assert!(!matches!(
        instance.process(&batch(&[1])),
        Err(CallError::Poisoned { .. })
    ));
}

#[test]
fn a_bad_config_fails_open_and_is_not_retryable() {
    let host = host();
    let mut instance = misbehave(&host)
        .instantiate("probe", small_limits(), Capabilities::default())
        .unwrap();
    let err = instance
        .open(&context(r#"{"mode":"open-error"}"#))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CallError::Operator {
                kind: ErrorKind::InvalidConfig,
                call: "open",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "operator 'probe' failed in open: invalid-config error: misbehave: deliberate open failure"
    );
}

#[test]
fn keyed_state_is_unavailable_without_a_keyed_input() {
    let host = host();
    let mut instance = opened(&host, "state");
    let err = instance.process(&batch(&[1])).unwrap_err();
    assert!(
        matches!(&err, CallError::Operator { kind: ErrorKind::Host, message, .. }
            if message.contains("keyed state and timers need a keyed input: give operator 'probe' a keyBy")),
        "{err:?}"
    );
}

#[test]
fn keyed_state_is_granted_with_a_keyed_input() {
    let host = host();
    let mut instance = misbehave(&host)
        .instantiate("probe", small_limits(), Capabilities::default())
        .expect("instantiates");
    let state = weir_state::KeyedState::in_memory(0, 1, 128, Default::default()).shared();
    instance.attach_keyed_state(state);
    let mut keyed = context(r#"{"mode":"state"}"#);
    keyed.key_fields = vec!["n".into()];
    instance.open(&keyed).expect("opens");
    let out = instance
        .process(&batch(&[1, 2]))
        .expect("state opens, records pass");
    let rows: u32 = out
        .iter()
        .map(|b| BatchReader::new(b).unwrap().rows())
        .sum();
    assert_eq!(rows, 2);
}

#[test]
fn guest_logs_and_metrics_reach_the_host() {
    let host = host();
    let mut instance = opened(&host, "passthrough");
    instance.process(&batch(&[1, 2])).unwrap();
    instance.process(&batch(&[3])).unwrap();
    assert_eq!(
        instance.user_metrics().get("rows_seen"),
        Some(&weir_wasm_host::UserMetric::Counter(3))
    );
}

#[test]
fn a_core_module_is_not_a_component() {
    let err = host().load("core", CORE_MODULE, None).unwrap_err();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("is a core WebAssembly module, not a component"));
}

#[test]
fn something_else_is_not_wasm() {
    let err = host().load("text", b"hello, world", None).unwrap_err();
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err:?}");
    assert!(
        err.to_string().contains("starts with bytes 68 65 6c 6c"),
        "{err}"
    );
    let err = host().load("empty", b"", None).unwrap_err();
    assert!(err.to_string().contains("the file is empty"), "{err}");
}

#[test]
fn a_truncated_component_is_invalid() {
    let bytes = guests().bytes("misbehave");
    let err = host()
        .load("cut", &bytes[..bytes.len() / 2], None)
        .unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
}

#[test]
fn a_component_of_another_world_is_refused() {
    let host = host();
    let err = host
        .load("hello", &guests().bytes("wrong-world"), None)
        .unwrap_err();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
    assert!(
        err.to_string().contains("weir:operator/handler@0.1.0"),
        "{err}"
    );
    assert_host_healthy(&host);
}

#[test]
fn the_digest_is_verified() {
    let host = host();
    let bytes = guests().bytes("misbehave");
    let module = host.load("m", &bytes, None).unwrap();
    let digest = module.digest().to_string();
    assert!(host.load("m", &bytes, Some(&digest)).is_ok());
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = host.load("m", &bytes, Some(&wrong)).unwrap_err();
    assert!(matches!(err, LoadError::DigestMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(&digest), "{err}");
}

#[test]
fn compiled_components_are_cached_on_disk_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..EngineConfig::default()
    };
    let bytes = guests().bytes("misbehave");
    let digest = {
        let host = WasmHost::new(config.clone()).unwrap();
        host.load("m", &bytes, None).unwrap().digest()
    };
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with(&digest.hex()), "{entries:?}");
    // A fresh engine loads the cached artifact and it runs.
    let host = WasmHost::new(config).unwrap();
    host.load("misbehave", &bytes, None).unwrap();
    assert_host_healthy(&host);
}

#[test]
fn a_memory_limit_above_the_engine_maximum_is_refused() {
    let host = WasmHost::new(EngineConfig {
        max_instance_memory: 64 << 20,
        ..EngineConfig::default()
    })
    .unwrap();
    let limits = InstanceLimits {
        memory_bytes: 128 << 20,
        ..InstanceLimits::default()
    };
    let err = misbehave(&host)
        .instantiate("big", limits, Capabilities::default())
        .err()
        .unwrap();
    assert!(matches!(err, CallError::Instantiate { .. }), "{err:?}");
}

/// What the `sandbox-probe` fixture reports from inside the sandbox.
fn probe_sandbox(capabilities: Capabilities) -> std::collections::BTreeMap<String, String> {
    let host = host();
    let module = host
        .load("probe", &guests().bytes("sandbox-probe"), None)
        .unwrap();
    let mut instance = module
        .instantiate("probe", small_limits(), capabilities)
        .unwrap();
    instance.open(&context("{}")).unwrap();
    let mut report = std::collections::BTreeMap::new();
    for batch in instance.close().unwrap() {
        let mut reader = BatchReader::new(&batch).unwrap();
        while let (Some(Value::Utf8(probe)), Some(Value::Utf8(result))) =
            (reader.next().unwrap(), reader.next().unwrap())
        {
            report.insert(probe.to_string(), result.to_string());
        }
    }
    report
}

#[test]
fn the_sandbox_denies_files_network_and_environment() {
    let report = probe_sandbox(Capabilities::default());
    for probe in [
        "read-root",
        "read-etc-passwd",
        "write-file",
        "tcp-connect",
        "dns-lookup",
    ] {
        let result = &report[probe];
        assert!(result.starts_with("denied"), "{probe}: {result}");
    }
    assert_eq!(report["environment"], "0 variables");
    assert_eq!(report["arguments"], "0 arguments");
    // Without the capability the wall clock stands at the epoch.
    assert_eq!(report["wall-clock"], "0 s since the epoch");
}

#[test]
fn the_wall_clock_is_a_capability() {
    let report = probe_sandbox(Capabilities { wall_clock: true });
    let seconds: u64 = report["wall-clock"]
        .trim_end_matches(" s since the epoch")
        .parse()
        .unwrap();
    // 2023-11-14: anything later is the real clock.
    assert!(seconds > 1_700_000_000, "{}", report["wall-clock"]);
    // Granting the clock grants nothing else.
    assert!(report["read-root"].starts_with("denied"));
}

#[test]
fn unbounded_recursion_is_stopped_by_the_stack_cap() {
    let host = host();
    let mut instance = opened(&host, "recurse");
    let err = instance.process(&batch(&[1])).unwrap_err();
    let CallError::Trap { trap, .. } = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(trap.contains("call stack exhausted"), "{trap}");
    assert_host_healthy(&host);
}
