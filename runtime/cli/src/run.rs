use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use weir_executor::{JobSummary, RunDefaults};
use weir_jobmanager::Core;
use weir_minicluster::{MiniCluster, MiniClusterConfig};
use weir_proto::v1::JobDetails;
use weir_taskmanager::TaskManagerConfig;
use weir_types::{parse_bytes, parse_duration, JobGraph, JobSpec};
use weir_wasm_host::{EngineConfig, InstanceLimits, UserMetric, WasmHost};

use crate::upload;

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
    /// TaskManagers to run in this process; the job's slots are split
    /// between them and batches between them cross loopback gRPC.
    #[arg(long, default_value_t = 1)]
    taskmanagers: u32,
    /// Serve the JobManager's REST API and /metrics here while the job runs.
    #[arg(long)]
    rest_address: Option<SocketAddr>,
    /// Show a progress line on standard error.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    summary_json: bool,
    /// Start from this savepoint (or retained checkpoint) directory.
    #[arg(long, short = 's')]
    from_savepoint: Option<String>,
    /// Where checkpoints go when the job's spec does not say.
    #[arg(long, env = "WEIR_CHECKPOINT_STORAGE")]
    checkpoint_storage: Option<String>,
    /// The job's own directory is allowed to its sources and sinks; these
    /// flags allow more, and set the limits of the in-process TaskManagers.
    #[command(flatten)]
    limits: crate::limits::TaskManagerLimitArgs,
    #[command(flatten)]
    registry: crate::push::RegistryArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Progress {
    /// When standard error is a terminal.
    Auto,
    Always,
    Never,
}

/// `$XDG_CACHE_HOME/weir` or `~/.cache/weir`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("weir"))
}

/// Runs the job on a JobManager and TaskManagers inside this process (a
/// `weir_minicluster::MiniCluster`): the cluster's own code, with the control
/// plane on loopback and the data plane in memory between tasks of one
/// TaskManager.
pub fn run(args: RunArgs) -> Result<()> {
    let text = upload::read_spec(&args.job)?;
    let spec = JobSpec::from_yaml(&text).map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
    let base_dir = args
        .job
        .parent()
        .map(Path::to_path_buf)
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let limits = InstanceLimits {
        memory_bytes: parse_bytes(&args.memory).map_err(|e| anyhow!("--memory: {e}"))?,
        call_timeout: parse_duration(&args.call_timeout)
            .map_err(|e| anyhow!("--call-timeout: {e}"))?,
    };
    let taskmanager_limits = args.limits.limits()?;
    let cache_root = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(default_cache_dir)
    };
    let cache_dir = cache_root.as_ref().map(|dir| dir.join("compiled"));
    // The job's own directory, but never its spec nor the cache.
    let mut protected: Vec<(&Path, &'static str)> = vec![(args.job.as_path(), "the job's spec")];
    if let Some(cache) = &cache_root {
        protected.push((cache.as_path(), "Weir's cache"));
    }
    let paths = args
        .limits
        .paths(Some(&base_dir), &protected)
        .protect_process();
    let host = Arc::new(WasmHost::new(EngineConfig {
        cache_dir,
        log_limits: taskmanager_limits.log,
        ..EngineConfig::default()
    })?);

    // Each module is read and digested once; submitting compiles it into
    // the host the in-process TaskManagers share, with errors that name the
    // operator.
    let preparing = Instant::now();
    let mut upload = weir_artifact::pin_local_modules(spec.clone(), &base_dir)
        .map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
    let remote_modules = Arc::new(weir_artifact::RemoteModules::new(args.registry.options()?));
    let required = JobGraph::of(&spec).required_slots();
    let taskmanagers = args.taskmanagers.max(1);
    let slots = required.div_ceil(taskmanagers).max(1);
    let mut config = MiniClusterConfig::new(taskmanagers, slots);
    config.jobmanager.rest_bind = args.rest_address;
    config.jobmanager.checkpoint_storage =
        crate::cluster::checkpoint_storage(args.checkpoint_storage.as_deref())?;
    config.taskmanager = TaskManagerConfig {
        host: Some(host),
        defaults: RunDefaults {
            limits,
            max_line_bytes: taskmanager_limits.max_line_bytes,
        },
        remote_modules: remote_modules.clone(),
        paths,
        state_bytes: taskmanager_limits.state_bytes,
        job_state_bytes: taskmanager_limits.job_state_bytes,
        ..config.taskmanager
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let show_progress = match args.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => std::io::stderr().is_terminal(),
    };
    let outcome: Result<(JobDetails, Duration)> = runtime.block_on(async {
        weir_artifact::pin_remote_modules(&mut upload.spec, remote_modules.registries())
            .await
            .map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
        let cluster = MiniCluster::start(config).await?;
        if let Some(rest) = cluster.jobmanager.rest_address {
            eprintln!("REST API at http://{rest}");
        }
        let restore = match &args.from_savepoint {
            Some(location) => Some(
                weir_jobmanager::read_restore_point(&crate::client::absolute_location(Some(
                    location,
                ))?)
                .await
                .map_err(|e| anyhow!("--from-savepoint: {e}"))?,
            ),
            None => None,
        };
        let job_id = cluster
            .submit(upload, restore)
            .await
            .map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
        let prepared_in = preparing.elapsed();
        let core = cluster.core();
        let progress = show_progress.then(|| tokio::spawn(show(core.clone(), job_id.clone())));
        let failures = tokio::spawn(report_failures(core.clone(), job_id.clone()));
        let details = cluster.wait(&job_id).await?;
        failures.abort();
        if let Some(progress) = progress {
            progress.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
        Ok((details, prepared_in))
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    let (details, prepared_in) = outcome?;
    if details.job_state() != Some(weir_types::JobState::Finished) {
        return Err(anyhow!(
            "job '{}' failed: {}",
            spec.name,
            details.status_message
        ));
    }
    let summary = weir_minicluster::summary_of(&details);
    if args.summary_json {
        eprintln!("{}", summary_json(&summary, prepared_in));
    } else {
        eprint!("{}", summary_text(&summary, prepared_in));
    }
    Ok(())
}

/// Redraws one status line until the job is done.
async fn show(core: Arc<Core>, job_id: String) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(job) = core.job(&job_id) else { return };
        let elapsed = started.elapsed().as_secs_f64();
        let records = job.source_records;
        let mut stderr = std::io::stderr();
        let status = if job.status_message.is_empty() {
            String::new()
        } else {
            format!(", {}", job.status_message)
        };
        let _ = write!(
            stderr,
            "\r\x1b[2K  {} {} records in, {} out, {}/s, {:.1} s{status}",
            job.state_name(),
            human(records as f64),
            human(job.sink_records as f64),
            human(records as f64 / elapsed.max(0.001)),
            elapsed
        );
        let _ = stderr.flush();
    }
}

/// Says on standard error, once each, why the job restarts: a job that
/// fails and restarts over and over is not silent at the default log level.
async fn report_failures(core: Arc<Core>, job_id: String) {
    let mut reported: Option<(i64, u32)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(job) = core.job(&job_id) else { return };
        let fresh: Vec<_> = job
            .exceptions
            .iter()
            .take_while(|e| reported.is_none_or(|seen| (e.timestamp_ms, e.attempt) > seen))
            .collect();
        for e in fresh.iter().rev() {
            let place = if e.task_name.is_empty() {
                String::new()
            } else {
                format!(" in {}", e.task_name)
            };
            eprintln!(
                "warning: attempt {} of job '{}' failed{place}: {}",
                e.attempt, job.name, e.message
            );
        }
        if let Some(newest) = job.exceptions.first() {
            reported = Some((newest.timestamp_ms, newest.attempt));
        }
    }
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
