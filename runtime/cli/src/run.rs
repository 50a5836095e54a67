use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use weir_executor::{prepare, JobMetrics, JobSummary, RunDefaults};
use weir_types::{parse_bytes, parse_duration, JobSpec};
use weir_wasm_host::{EngineConfig, InstanceLimits, UserMetric, WasmHost};

#[derive(Args)]
pub struct RunArgs {
    /// The job spec (YAML).
    job: PathBuf,
    /// Where compiled components are cached between runs.
    #[arg(long, env = "WEIR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every module afresh and keep nothing on disk.
    #[arg(long)]
    no_cache: bool,
    /// Default memory limit of a WASM operator instance.
    #[arg(long, default_value = "256Mi", env = "WEIR_OPERATOR_MEMORY")]
    memory: String,
    /// Default deadline of one call into a WASM operator.
    #[arg(long, default_value = "10s", env = "WEIR_OPERATOR_CALL_TIMEOUT")]
    call_timeout: String,
    /// Show a progress line on standard error.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    summary_json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Progress {
    /// When standard error is a terminal.
    Auto,
    Always,
    Never,
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("weir").join("compiled"))
}

pub fn run(args: RunArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.job)
        .with_context(|| format!("cannot read the job spec {}", args.job.display()))?;
    let spec = JobSpec::from_yaml(&text).map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
    let base_dir = args
        .job
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let limits = InstanceLimits {
        memory_bytes: parse_bytes(&args.memory).map_err(|e| anyhow!("--memory: {e}"))?,
        call_timeout: parse_duration(&args.call_timeout)
            .map_err(|e| anyhow!("--call-timeout: {e}"))?,
    };
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(default_cache_dir)
    };
    let host = WasmHost::new(EngineConfig {
        cache_dir,
        ..EngineConfig::default()
    })?;

    let preparing = Instant::now();
    let job = prepare(&spec, &base_dir, &host, &RunDefaults { limits })
        .map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
    let prepared_in = preparing.elapsed();

    let show_progress = match args.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => std::io::stderr().is_terminal(),
    };
    let done = Arc::new(AtomicBool::new(false));
    let progress = show_progress.then(|| {
        let metrics = job.metrics();
        let done = done.clone();
        std::thread::spawn(move || show(&metrics, &done))
    });
    let result = job.run();
    done.store(true, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.join();
    }
    let summary = result.map_err(|e| anyhow!("job '{}' failed: {e}", spec.name))?;
    if args.summary_json {
        eprintln!("{}", summary_json(&summary, prepared_in));
    } else {
        eprint!("{}", summary_text(&summary, prepared_in));
    }
    Ok(())
}

/// Redraws one status line until the job is done, then clears it.
fn show(metrics: &JobMetrics, done: &AtomicBool) {
    let started = Instant::now();
    let mut stderr = std::io::stderr();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let elapsed = started.elapsed().as_secs_f64();
        let records = metrics.source_records();
        let _ = write!(
            stderr,
            "\r\x1b[2K  {} records in, {} out, {}/s, {:.1} s",
            human(records as f64),
            human(metrics.sink_records() as f64),
            human(records as f64 / elapsed.max(0.001)),
            elapsed
        );
        let _ = stderr.flush();
    }
    let _ = write!(stderr, "\r\x1b[2K");
}

fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

fn metric_text(value: &UserMetric) -> String {
    match value {
        UserMetric::Counter(n) => n.to_string(),
        UserMetric::Gauge(g) => g.to_string(),
    }
}

fn summary_text(summary: &JobSummary, prepared_in: Duration) -> String {
    let seconds = summary.duration.as_secs_f64();
    let mut out = format!(
        "job '{}' finished in {:.3} s (prepared in {:.3} s)\n",
        summary.name,
        seconds,
        prepared_in.as_secs_f64()
    );
    out += &format!(
        "  {:<16} {:>12} records\n",
        "source", summary.source_records
    );
    for op in &summary.operators {
        let mut kind: String = op.kind.chars().take(32).collect();
        if kind.len() < op.kind.len() {
            kind.push('…');
        }
        out += &format!(
            "  {:<16} {:>12} in {:>12} out   x{} {}\n",
            op.name, op.records_in, op.records_out, op.parallelism, kind
        );
        if op.instances.peak_memory_bytes > 0 {
            out += &format!(
                "  {:<16}   peak memory {:.1} MiB per instance, {} instance(s) recycled\n",
                "",
                op.instances.peak_memory_bytes as f64 / (1 << 20) as f64,
                op.instances.recycles
            );
        }
        for (name, value) in &op.user_metrics {
            out += &format!("  {:<16}   {name} = {}\n", "", metric_text(value));
        }
    }
    out += &format!("  {:<16} {:>12} records\n", "sink", summary.sink_records);
    out += &format!(
        "  {:<16} {:>12} records/s\n",
        "throughput",
        human(summary.source_records as f64 / seconds.max(1e-9))
    );
    out
}

fn summary_json(summary: &JobSummary, prepared_in: Duration) -> serde_json::Value {
    serde_json::json!({
        "name": summary.name,
        "durationMs": summary.duration.as_secs_f64() * 1e3,
        "preparedMs": prepared_in.as_secs_f64() * 1e3,
        "sourceRecords": summary.source_records,
        "sinkRecords": summary.sink_records,
        "operators": summary.operators.iter().map(|op| serde_json::json!({
            "name": op.name,
            "kind": op.kind,
            "parallelism": op.parallelism,
            "recordsIn": op.records_in,
            "recordsOut": op.records_out,
            "instanceRecycles": op.instances.recycles,
            "peakMemoryBytes": op.instances.peak_memory_bytes,
            "metrics": op.user_metrics.iter().map(|(k, v)| (k.clone(), match v {
                UserMetric::Counter(n) => serde_json::json!(n),
                UserMetric::Gauge(g) => serde_json::json!(g),
            })).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}
