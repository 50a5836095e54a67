//! `weir jobmanager` and `weir taskmanager`: the two roles of a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use weir_executor::RunDefaults;
use weir_jobmanager::JobManagerConfig;
use weir_taskmanager::TaskManagerConfig;
use weir_types::{parse_bytes, parse_duration};
use weir_wasm_host::InstanceLimits;

#[derive(Args)]
pub struct JobManagerArgs {
    /// The configuration file (weir.yaml): its `jobmanager` section holds
    /// these flags in camelCase. Flags and WEIR_ variables win over it.
    #[arg(long, env = "WEIR_CONFIG")]
    config: Option<PathBuf>,
    /// Where clients and TaskManagers reach it (gRPC). Use 0.0.0.0 to
    /// accept other hosts.
    #[arg(long, default_value = "127.0.0.1:6123", env = "WEIR_RPC_ADDRESS")]
    rpc_address: SocketAddr,
    /// Where the REST API and /metrics listen.
    #[arg(long, default_value = "127.0.0.1:8081", env = "WEIR_REST_ADDRESS")]
    rest_address: SocketAddr,
    /// How often TaskManagers send heartbeats.
    #[arg(long, default_value = "2s", env = "WEIR_HEARTBEAT_INTERVAL")]
    heartbeat_interval: String,
    /// A TaskManager silent this long is lost, and its jobs restart.
    #[arg(long, default_value = "10s", env = "WEIR_HEARTBEAT_TIMEOUT")]
    heartbeat_timeout: String,
    /// Where checkpoints go when a job's spec does not say: a directory
    /// (shared by every TaskManager), file://, or s3://BUCKET/PREFIX (set
    /// up by the AWS_* variables).
    /// Savepoints go to its savepoints/ unless a directory is given. The
    /// default is weir-checkpoints in the system's temporary directory.
    #[arg(long, env = "WEIR_CHECKPOINT_STORAGE")]
    checkpoint_storage: Option<String>,
}

/// The cluster's checkpoint storage as a URL: `--checkpoint-storage`, or
/// the default.
pub fn checkpoint_storage(flag: Option<&str>) -> Result<String> {
    match flag {
        Some(text) => {
            let cwd = std::env::current_dir().context("cannot tell the working directory")?;
            weir_checkpoint::location_of(text, &cwd)
                .map_err(|e| anyhow!("--checkpoint-storage: {e}"))
        }
        None => Ok(weir_jobmanager::default_checkpoint_storage()),
    }
}

#[derive(Args)]
pub struct TaskManagerArgs {
    /// The configuration file (weir.yaml): its `taskmanager` section holds
    /// these flags in camelCase. Flags and WEIR_ variables win over it.
    #[arg(long, env = "WEIR_CONFIG")]
    config: Option<PathBuf>,
    /// The JobManager's RPC address.
    #[arg(long, default_value = "http://127.0.0.1:6123", env = "WEIR_JOBMANAGER")]
    jobmanager: String,
    /// Task slots offered: how many subtasks of each vertex it runs at once.
    #[arg(long, default_value_t = 1, env = "WEIR_SLOTS")]
    slots: u32,
    /// Where the data plane listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "WEIR_DATA_ADDRESS")]
    data_address: SocketAddr,
    /// The host name other TaskManagers use to reach this one.
    #[arg(long, env = "WEIR_ADVERTISED_HOST")]
    advertised_host: Option<String>,
    /// Where /metrics listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "WEIR_METRICS_ADDRESS")]
    metrics_address: SocketAddr,
    /// Fetched modules and compiled code are kept here.
    #[arg(long, env = "WEIR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Keep fetched modules and compiled code in memory only.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Default memory limit of a WASM operator instance.
    #[arg(long, default_value = "256Mi", env = "WEIR_OPERATOR_MEMORY")]
    memory: String,
    /// Default deadline of one call into a WASM operator.
    #[arg(long, default_value = "10s", env = "WEIR_OPERATOR_CALL_TIMEOUT")]
    call_timeout: String,
    /// How long a partly filled network buffer waits before it is sent.
    #[arg(long, default_value = "100ms", env = "WEIR_FLUSH_TIMEOUT")]
    flush_timeout: String,
    #[command(flatten)]
    registry: crate::push::RegistryArgs,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn until_stopped() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = interrupt.await;
}

pub fn jobmanager(args: JobManagerArgs) -> Result<()> {
    let config = JobManagerConfig {
        rpc_bind: args.rpc_address,
        rest_bind: Some(args.rest_address),
        heartbeat_interval: parse_duration(&args.heartbeat_interval)
            .map_err(|e| anyhow!("--heartbeat-interval: {e}"))?,
        heartbeat_timeout: parse_duration(&args.heartbeat_timeout)
            .map_err(|e| anyhow!("--heartbeat-timeout: {e}"))?,
        checkpoint_storage: checkpoint_storage(args.checkpoint_storage.as_deref())?,
    };
    runtime()?.block_on(async {
        let handle = weir_jobmanager::start(config).await?;
        eprintln!(
            "JobManager ready: rpc {}, rest http://{}",
            handle.rpc_address,
            handle
                .rest_address
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        until_stopped().await;
        Ok(())
    })
}

pub fn taskmanager(args: TaskManagerArgs) -> Result<()> {
    let defaults = RunDefaults {
        limits: InstanceLimits {
            memory_bytes: parse_bytes(&args.memory).map_err(|e| anyhow!("--memory: {e}"))?,
            call_timeout: parse_duration(&args.call_timeout)
                .map_err(|e| anyhow!("--call-timeout: {e}"))?,
        },
    };
    if args.slots == 0 {
        return Err(anyhow!("--slots: a TaskManager needs at least one slot"));
    }
    let config = TaskManagerConfig {
        data_bind: args.data_address,
        advertised_host: args.advertised_host,
        metrics_bind: Some(args.metrics_address),
        cache_dir: if args.no_cache {
            None
        } else {
            args.cache_dir.or_else(crate::run::default_cache_dir)
        },
        defaults,
        flush_timeout: parse_duration(&args.flush_timeout)
            .map_err(|e| anyhow!("--flush-timeout: {e}"))?,
        remote_modules: std::sync::Arc::new(weir_artifact::RemoteModules::new(
            args.registry.options()?,
        )),
        ..TaskManagerConfig::new(args.jobmanager, args.slots)
    };
    runtime()?.block_on(async {
        let handle = weir_taskmanager::start(config).await?;
        eprintln!(
            "TaskManager {} ready: data {}, metrics http://{}",
            handle.id,
            handle.data_address,
            handle
                .metrics_address
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        until_stopped().await;
        Ok(())
    })
}
