//! `weir jobmanager` and `weir taskmanager`: the two roles of a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use weir_executor::RunDefaults;
use weir_jobmanager::{JobManagerConfig, NativeConfig, NativeResourceManager};
use weir_k8s::{
    load_pod_template, LeaderElector, LeaseConfig, TaskManagerPods, TaskManagerPodsConfig,
};
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
    /// Where TaskManagers come from: started by hand or by a Deployment
    /// (standalone), or created as pods by the JobManager as jobs need
    /// slots (kubernetes; the flags below apply to it only).
    #[arg(
        long,
        value_enum,
        default_value = "standalone",
        env = "WEIR_RESOURCE_MANAGER"
    )]
    resource_manager: ResourceManagerKind,
    /// A Pod manifest (kind: Pod, with a container named taskmanager) the
    /// TaskManager pods are made from. Required with kubernetes. (The
    /// aliases spell the weir.yaml keys, e.g. taskManagerPodTemplate.)
    #[arg(long, alias = "task-manager-pod-template")]
    taskmanager_pod_template: Option<PathBuf>,
    /// Task slots of each TaskManager pod [default: 1].
    #[arg(long, alias = "task-manager-slots")]
    taskmanager_slots: Option<u32>,
    /// A TaskManager pod that runs no task this long, while no job waits
    /// for slots, is deleted [default: 30s].
    #[arg(long, alias = "task-manager-idle-timeout")]
    taskmanager_idle_timeout: Option<String>,
    /// The ConfigMap with weir.yaml mounted into TaskManager pods at
    /// /etc/weir; an empty name mounts none [default: weir-conf].
    #[arg(long, alias = "task-manager-config-map")]
    taskmanager_config_map: Option<String>,
    /// The JobManager's Deployment: it owns the TaskManager pods, so that
    /// deleting it deletes them. Required with kubernetes.
    #[arg(long)]
    kubernetes_owner: Option<String>,
    /// The namespace of the Deployment and the pods [default: the
    /// Kubernetes client's namespace].
    #[arg(long, env = "WEIR_KUBERNETES_NAMESPACE")]
    kubernetes_namespace: Option<String>,
    /// The RPC address (host:port) TaskManager pods register with
    /// [default: <kubernetes-owner>:<rpc port>, the Service named as the
    /// Deployment].
    #[arg(long)]
    advertised_address: Option<String>,
    /// Run the WeirJob controller: keep the jobs of the namespace's
    /// WeirJob resources running as they say.
    #[arg(long, env = "WEIR_WEIRJOB_CONTROLLER", alias = "weir-job-controller")]
    weirjob_controller: bool,
    /// none, or kubernetes: JobManager replicas elect a leader through a
    /// coordination.k8s.io Lease; a standby serves only its probes.
    #[arg(
        long,
        value_enum,
        default_value_t = HighAvailability::None,
        env = "WEIR_HIGH_AVAILABILITY"
    )]
    high_availability: HighAvailability,
    /// The Lease of the leader election [default: weir-jobmanager-leader].
    #[arg(long)]
    lease_name: Option<String>,
    /// How long a leader's Lease lasts without renewal: a standby takes
    /// over after it.
    #[arg(long, default_value = "15s")]
    lease_duration: String,
    /// A leader that has not renewed its Lease this long steps down (and
    /// the process exits); shorter than the lease duration.
    #[arg(long, default_value = "10s")]
    lease_renew_deadline: String,
    /// How often the leader renews the Lease.
    #[arg(long, default_value = "2s")]
    lease_retry_period: String,
    /// How often a standby reads the Lease (at most the retry period): it
    /// takes over a released Lease within this time.
    #[arg(long, default_value = "500ms")]
    lease_standby_poll_period: String,
    /// This JobManager's name in the Lease (its pod's name) [default: the
    /// host name].
    #[arg(long, env = "WEIR_POD_NAME")]
    pod_name: Option<String>,
    #[command(flatten)]
    limits: crate::limits::JobManagerLimitArgs,
    #[command(flatten)]
    registry: crate::push::RegistryArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HighAvailability {
    None,
    Kubernetes,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ResourceManagerKind {
    Standalone,
    Kubernetes,
}

/// The native resource manager's settings, checked before anything starts.
struct NativeSettings {
    template: k8s_openapi::api::core::v1::Pod,
    slots: u32,
    idle_timeout: std::time::Duration,
    config_map: Option<String>,
    owner: String,
    advertised_address: Option<String>,
}

impl JobManagerArgs {
    fn native_settings(&self) -> Result<Option<NativeSettings>> {
        if self.resource_manager == ResourceManagerKind::Standalone {
            // Accepting these and ignoring them would hide a mistake. (The
            // namespace is left out: the manifests set it for every mode.)
            let given = [
                (
                    "--taskmanager-pod-template",
                    self.taskmanager_pod_template.is_some(),
                ),
                ("--taskmanager-slots", self.taskmanager_slots.is_some()),
                (
                    "--taskmanager-idle-timeout",
                    self.taskmanager_idle_timeout.is_some(),
                ),
                (
                    "--taskmanager-config-map",
                    self.taskmanager_config_map.is_some(),
                ),
                ("--kubernetes-owner", self.kubernetes_owner.is_some()),
                ("--advertised-address", self.advertised_address.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
                bail!("{flag} applies only with --resource-manager kubernetes");
            }
            return Ok(None);
        }
        let path = self.taskmanager_pod_template.as_ref().ok_or_else(|| {
            anyhow!("--taskmanager-pod-template is required with --resource-manager kubernetes")
        })?;
        let template =
            load_pod_template(path).map_err(|e| anyhow!("--taskmanager-pod-template: {e}"))?;
        let owner = self
            .kubernetes_owner
            .clone()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| {
                anyhow!("--kubernetes-owner (the JobManager's Deployment) is required with --resource-manager kubernetes")
            })?;
        let slots = self.taskmanager_slots.unwrap_or(1);
        if slots == 0 {
            bail!("--taskmanager-slots: a TaskManager needs at least one slot");
        }
        let idle_timeout =
            parse_duration(self.taskmanager_idle_timeout.as_deref().unwrap_or("30s"))
                .map_err(|e| anyhow!("--taskmanager-idle-timeout: {e}"))?;
        let config_map = match self.taskmanager_config_map.as_deref() {
            None => Some("weir-conf".to_string()),
            Some("") => None,
            Some(name) => Some(name.to_string()),
        };
        Ok(Some(NativeSettings {
            template,
            slots,
            idle_timeout,
            config_map,
            owner,
            advertised_address: self.advertised_address.clone().filter(|a| !a.is_empty()),
        }))
    }
}

/// Starts the native resource manager next to a started JobManager.
async fn start_native(
    settings: NativeSettings,
    handle: &weir_jobmanager::JobManagerHandle,
    client: kube::Client,
    namespace: &str,
) -> Result<()> {
    let jobmanager_address = settings
        .advertised_address
        .unwrap_or_else(|| format!("{}:{}", settings.owner, handle.rpc_address.port()));
    let owner = settings.owner.clone();
    let pods = TaskManagerPods::new(
        client,
        TaskManagerPodsConfig {
            namespace: namespace.to_string(),
            owner_deployment: settings.owner,
            template: settings.template,
            jobmanager_address: jobmanager_address.clone(),
            slots: settings.slots,
            config_map: settings.config_map,
        },
    )
    .await
    .map_err(|e| anyhow!("--kubernetes-owner {owner} (namespace {namespace}): {e}"))?;
    tracing::info!(
        namespace = %namespace,
        owner = %owner,
        jobmanager = %jobmanager_address,
        slots = settings.slots,
        "native resource manager started: TaskManager pods are created as jobs need slots"
    );
    NativeResourceManager::new(
        handle.core.clone(),
        pods,
        NativeConfig {
            idle_timeout: settings.idle_timeout,
            ..NativeConfig::default()
        },
    )
    .spawn();
    Ok(())
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
    /// The Kubernetes pod it runs in (set by the JobManager's native
    /// resource manager), reported at registration.
    #[arg(long, env = "WEIR_POD_NAME")]
    pod_name: Option<String>,
    #[command(flatten)]
    limits: crate::limits::TaskManagerLimitArgs,
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
    let native = args.native_settings()?;
    let config = JobManagerConfig {
        rpc_bind: args.rpc_address,
        rest_bind: Some(args.rest_address),
        heartbeat_interval: parse_duration(&args.heartbeat_interval)
            .map_err(|e| anyhow!("--heartbeat-interval: {e}"))?,
        heartbeat_timeout: parse_duration(&args.heartbeat_timeout)
            .map_err(|e| anyhow!("--heartbeat-timeout: {e}"))?,
        checkpoint_storage: checkpoint_storage(args.checkpoint_storage.as_deref())?,
        cluster_id: Some(args.limits.cluster_id()?),
        limits: args.limits.limits()?,
        exception_history: args.limits.exception_history()?,
    };
    if args.high_availability == HighAvailability::None && args.lease_name.is_some() {
        bail!("--lease-name applies only with --high-availability kubernetes");
    }
    let registries = std::sync::Arc::new(weir_artifact::Registries::new(args.registry.options()?));
    runtime()?.block_on(async {
        // One client for native mode, the controller and the election.
        let kubernetes = if native.is_some()
            || args.weirjob_controller
            || args.high_availability == HighAvailability::Kubernetes
        {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot set up a Kubernetes client (for --resource-manager kubernetes, \
                         --weirjob-controller or --high-availability kubernetes): {e}"
                    )
                })?;
            let namespace = args
                .kubernetes_namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| client.default_namespace().to_string());
            Some((client, namespace))
        } else {
            None
        };
        let identity = args
            .pod_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("weir-jobmanager-{}", std::process::id()));
        let election = match (&kubernetes, args.high_availability) {
            (Some((client, namespace)), HighAvailability::Kubernetes) => {
                let lease = LeaseConfig {
                    lease_duration: parse_duration(&args.lease_duration)
                        .map_err(|e| anyhow!("--lease-duration: {e}"))?,
                    renew_deadline: parse_duration(&args.lease_renew_deadline)
                        .map_err(|e| anyhow!("--lease-renew-deadline: {e}"))?,
                    retry_period: parse_duration(&args.lease_retry_period)
                        .map_err(|e| anyhow!("--lease-retry-period: {e}"))?,
                    standby_poll_period: parse_duration(&args.lease_standby_poll_period)
                        .map_err(|e| anyhow!("--lease-standby-poll-period: {e}"))?,
                    ..LeaseConfig::new(
                        namespace.clone(),
                        args.lease_name
                            .clone()
                            .unwrap_or_else(|| "weir-jobmanager-leader".into()),
                        identity.clone(),
                    )
                };
                let elector = LeaderElector::new(client.clone(), lease.clone())
                    .map_err(|e| anyhow!("--high-availability kubernetes: {e}"))?;
                let (publish, mut leader) = tokio::sync::watch::channel(false);
                let election = elector.spawn(publish);
                crate::kubernetes::stand_by_until_leader(args.rest_address, &lease.name, &mut leader)
                    .await?;
                Some((client.clone(), lease, leader, election))
            }
            _ => None,
        };
        let handle = weir_jobmanager::start(config).await?;
        if let (Some(settings), Some((client, namespace))) = (native, &kubernetes) {
            start_native(settings, &handle, client.clone(), namespace).await?;
        }
        if let (true, Some((client, namespace))) = (args.weirjob_controller, &kubernetes) {
            let jobs = std::sync::Arc::new(crate::kubernetes::CoreJobs {
                core: handle.core.clone(),
                registries: registries.clone(),
            });
            let context = std::sync::Arc::new(weir_k8s::controller::Context::new(
                client.clone(),
                jobs,
                Some(identity.clone()),
            ));
            let namespace = namespace.clone();
            tracing::info!(namespace = %namespace, "WeirJob controller started");
            tokio::spawn(async move { weir_k8s::controller::run(context, &namespace).await });
        }
        eprintln!(
            "JobManager ready: rpc {}, rest http://{}",
            handle.rpc_address,
            handle
                .rest_address
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        match election {
            Some((client, lease, mut leader, election)) => {
                tokio::select! {
                    _ = until_stopped() => {
                        election.abort();
                        // Handing the lease over at once spares the standby
                        // the wait for it to expire.
                        if let Ok(elector) = LeaderElector::new(client, lease) {
                            if let Err(e) = elector.release().await {
                                tracing::warn!("cannot release the lease: {e}");
                            }
                        }
                        Ok(())
                    }
                    _ = crate::kubernetes::leadership_lost(&mut leader) => {
                        // Another JobManager may lead by now: acting on would
                        // mean two JobManagers running the same jobs.
                        bail!("lost the lease {}: stopping, to start again as a standby", lease.name)
                    }
                }
            }
            None => {
                until_stopped().await;
                Ok(())
            }
        }
    })
}

pub fn taskmanager(args: TaskManagerArgs) -> Result<()> {
    let limits = args.limits.limits()?;
    let defaults = RunDefaults {
        limits: InstanceLimits {
            memory_bytes: parse_bytes(&args.memory).map_err(|e| anyhow!("--memory: {e}"))?,
            call_timeout: parse_duration(&args.call_timeout)
                .map_err(|e| anyhow!("--call-timeout: {e}"))?,
        },
        max_line_bytes: limits.max_line_bytes,
    };
    if args.slots == 0 {
        return Err(anyhow!("--slots: a TaskManager needs at least one slot"));
    }
    let protected: Vec<(&std::path::Path, &'static str)> = args
        .config
        .iter()
        .map(|c| (c.as_path(), "the TaskManager's configuration"))
        .collect();
    let paths = args.limits.paths(None, &protected);
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
        pod_name: args.pod_name.filter(|name| !name.is_empty()),
        paths,
        state_bytes: limits.state_bytes,
        job_state_bytes: limits.job_state_bytes,
        log_limits: limits.log,
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::{Parser, Subcommand};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Role,
    }

    #[derive(Subcommand)]
    enum Role {
        Jobmanager(JobManagerArgs),
    }

    fn native(args: &[&str]) -> Result<Option<NativeSettings>> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let args = crate::config::with_config_file::<Cli>(args)?;
        // As main does: the command line's flag overrides the file's.
        let matches = <Cli as clap::CommandFactory>::command()
            .args_override_self(true)
            .try_get_matches_from(args)?;
        let Role::Jobmanager(args) =
            <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?.command;
        args.native_settings()
    }

    fn error(args: &[&str]) -> String {
        match native(args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn kubernetes_settings_come_from_weir_yaml_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let template = dir.path().join("pod.yaml");
        std::fs::write(
            &template,
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - {name: taskmanager, image: weir}\n",
        )
        .expect("template");
        let config = dir.path().join("weir.yaml");
        std::fs::write(
            &config,
            format!(
                "jobmanager:\n  resourceManager: kubernetes\n  taskManagerPodTemplate: {}\n  \
                 taskManagerSlots: 4\n  taskManagerIdleTimeout: 1m\n  taskManagerConfigMap: ''\n  \
                 kubernetesOwner: weir-jobmanager\n",
                template.display()
            ),
        )
        .expect("config");
        let config = config.to_string_lossy().into_owned();
        let settings = native(&["weir", "jobmanager", "--config", &config])
            .expect("valid")
            .expect("kubernetes");
        assert_eq!(settings.slots, 4);
        assert_eq!(settings.idle_timeout, std::time::Duration::from_secs(60));
        assert_eq!(settings.config_map, None);
        assert_eq!(settings.owner, "weir-jobmanager");
        assert_eq!(settings.advertised_address, None);

        let flags = native(&[
            "weir",
            "jobmanager",
            "--config",
            &config,
            "--taskmanager-slots",
            "2",
        ])
        .expect("valid")
        .expect("kubernetes");
        assert_eq!(flags.slots, 2, "a flag beats the file");
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(
            error(&["weir", "jobmanager", "--taskmanager-slots", "2"]),
            "--taskmanager-slots applies only with --resource-manager kubernetes"
        );
        assert_eq!(
            error(&["weir", "jobmanager", "--resource-manager", "kubernetes"]),
            "--taskmanager-pod-template is required with --resource-manager kubernetes"
        );
        let missing = error(&[
            "weir",
            "jobmanager",
            "--resource-manager",
            "kubernetes",
            "--taskmanager-pod-template",
            "/no/such/pod.yaml",
        ]);
        assert!(
            missing
                .starts_with("--taskmanager-pod-template: reading pod template /no/such/pod.yaml"),
            "{missing}"
        );
        assert!(native(&["weir", "jobmanager"]).expect("valid").is_none());
    }
}
