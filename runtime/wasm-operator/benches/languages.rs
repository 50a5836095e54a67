//! The same stateless operator, the word-count tokenizer, in every SDK
//! language: component size, compile time, instantiation (instantiate +
//! open) time, and throughput on the same text, as a ratio to Rust.
//!
//! `cargo bench -p weir-wasm-operator --bench languages` (or `make bench`). Builds
//! each example with `weir build`'s library first, so every language's
//! toolchain must be set up (`scripts/setup.sh --all`). WEIR_BENCH_LINES sets
//! the number of input lines (default 200,000). Prints a Markdown table;
//! asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use weir_build::Language;
use weir_executor::{OpenInfo, Operator};
use weir_testing::{guest_target_dir, repo_root};
use weir_wasm_host::{Capabilities, EngineConfig, InstanceLimits, Module, WasmHost};
use weir_wasm_operator::WasmOperator;

const BATCH: usize = 1024;
const INSTANTIATIONS: usize = 20;

struct Entry {
    language: Language,
    project: &'static str,
}

const ENTRIES: [Entry; 5] = [
    Entry {
        language: Language::Rust,
        project: "examples/wordcount/operator",
    },
    Entry {
        language: Language::C,
        project: "examples/c/tokenize",
    },
    Entry {
        language: Language::Go,
        project: "examples/go/tokenize",
    },
    Entry {
        language: Language::JavaScript,
        project: "examples/js/tokenize",
    },
    Entry {
        language: Language::Python,
        project: "examples/python/tokenize",
    },
];

fn input(lines: usize) -> (SchemaRef, Vec<RecordBatch>) {
    let text = std::fs::read_to_string(repo_root().join("examples/wordcount/input.txt"))
        .expect("the example input");
    let source: Vec<&str> = text.lines().collect();
    let schema = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)]));
    let all: Vec<&str> = source.iter().copied().cycle().take(lines).collect();
    let batches = all
        .chunks(BATCH)
        .map(|chunk| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(chunk.to_vec()))],
            )
            .expect("a batch")
        })
        .collect();
    (schema, batches)
}

fn build(entry: &Entry, out_dir: &Path) -> PathBuf {
    let project = repo_root().join(entry.project);
    let output = out_dir.join(format!("{}.wasm", entry.language.name().to_lowercase()));
    weir_build::build_as(entry.language, &project, Some(&output))
        .unwrap_or_else(|e| panic!("building {}: {e}", project.display()));
    output
}

fn open(module: &Arc<Module>, schema: &SchemaRef) -> WasmOperator {
    let mut operator = WasmOperator::new(
        "tokenize",
        module,
        InstanceLimits::default(),
        Capabilities::default(),
        "{}".into(),
    )
    .expect("instantiates");
    let info = OpenInfo {
        parallelism: 1,
        ..OpenInfo::default()
    };
    operator.open(schema.clone(), &info).expect("opens");
    operator
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let lines: usize = std::env::var("WEIR_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (schema, batches) = input(lines);
    let out_dir = guest_target_dir().join("bench-languages");
    // Rust guests build in their own target directory: cargo's lock on the
    // one running this benchmark is held.
    std::env::set_var("CARGO_TARGET_DIR", guest_target_dir());
    std::fs::create_dir_all(&out_dir).expect("a bench directory");

    println!("tokenizer over {lines} lines of examples/wordcount/input.txt, batches of {BATCH}");
    println!();
    println!(
        "| language | component | compile | instantiate + open | lines/s | words/s | vs Rust |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rust_rate = None;
    for entry in &ENTRIES {
        let path = build(entry, &out_dir);
        let bytes = std::fs::read(&path).expect("the component");

        // A fresh host without a disk cache: the compile is measured.
        let host = WasmHost::new(EngineConfig::default()).expect("an engine");
        let started = Instant::now();
        let module = host.load("tokenize", &bytes, None).expect("loads");
        let compile = started.elapsed();

        let instantiate = median(
            (0..INSTANTIATIONS)
                .map(|_| {
                    let started = Instant::now();
                    let operator = open(&module, &schema);
                    let elapsed = started.elapsed();
                    drop(operator);
                    elapsed
                })
                .collect(),
        );

        let mut operator = open(&module, &schema);
        let mut out = Vec::new();
        let mut words = 0u64;
        let started = Instant::now();
        for batch in &batches {
            operator
                .process(batch.clone(), &mut out)
                .expect("processes");
            words += out.drain(..).map(|b| b.num_rows() as u64).sum::<u64>();
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = lines as f64 / seconds;
        let rust = *rust_rate.get_or_insert(rate);
        println!(
            "| {} | {:.2} MB | {:.2} s | {:.2} ms | {:.0}k | {:.0}k | {:.3} |",
            entry.language,
            bytes.len() as f64 / 1e6,
            compile.as_secs_f64(),
            instantiate.as_secs_f64() * 1e3,
            rate / 1e3,
            words as f64 / seconds / 1e3,
            rate / rust
        );
    }
}
