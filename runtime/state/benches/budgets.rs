//! What the keyed-state limits cost on the write path: batched `put`s of
//! value state (1024 keys a batch, as an operator writes them) with no
//! budget, and with the two a TaskManager gives every subtask (its job's and
//! its own), far from their limits and close to them (where each write's
//! exact growth is looked up).
//!
//! `cargo bench -p weir-state --bench budgets` (or `make bench`);
//! WEIR_BENCH_RECORDS sets the puts per run (default 4,000,000).
//! Prints figures; asserts nothing about speed.

use std::sync::Arc;
use std::time::Instant;

use weir_state::{KeyedState, StateBudget, StateKind, StateLimits};

const BATCH: usize = 1024;
const KEYS: usize = 10_000;
const RUNS: usize = 5;

/// Nanoseconds per put, best of `RUNS`, for `puts` puts over `KEYS` keys.
fn measure(puts: usize, budgets: impl Fn() -> Vec<Arc<StateBudget>>) -> f64 {
    let keys: Vec<Vec<u8>> = (0..KEYS).map(|k| format!("key-{k}").into_bytes()).collect();
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let limits = StateLimits {
            budgets: budgets(),
            ..StateLimits::default()
        };
        let mut state = KeyedState::in_memory(0, 1, 128, limits);
        let id = state.open("count", StateKind::Value).expect("a state");
        let started = Instant::now();
        let mut done = 0;
        while done < puts {
            let batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..BATCH)
                .map(|i| {
                    let key = keys[(done + i) % KEYS].clone();
                    (key, Some(((done + i) as u64).to_le_bytes().to_vec()))
                })
                .collect();
            state.value_put(id, batch).expect("fits");
            done += BATCH;
        }
        best = best.min(started.elapsed().as_nanos() as f64 / done as f64);
    }
    best
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let puts: usize = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 4_000_000 });
    println!(
        "weir keyed-state limits: value-state puts in batches of {BATCH}, {KEYS} keys, \
         {puts} puts, best of {RUNS}"
    );
    let none = measure(puts, Vec::new);
    let roomy = measure(puts, || {
        vec![
            Arc::new(StateBudget::new("job", "jobStateSize", 512 << 20)),
            Arc::new(StateBudget::new("taskmanager", "stateSize", 1 << 30)),
        ]
    });
    // The state of 10,000 keys is about 820 KB: a limit just above it makes
    // every batch (up to 84 KB more) look its entries up.
    let tight = measure(puts, || {
        vec![
            Arc::new(StateBudget::new("job", "jobStateSize", 850_000)),
            Arc::new(StateBudget::new("taskmanager", "stateSize", 1 << 30)),
        ]
    });
    println!("  no limits                  {none:>6.1} ns per put");
    println!(
        "  job and TaskManager limits {roomy:>6.1} ns per put ({:+.1}%)",
        (roomy / none - 1.0) * 100.0
    );
    println!(
        "  close to the job's limit   {tight:>6.1} ns per put ({:+.1}%)",
        (tight / none - 1.0) * 100.0
    );
}
