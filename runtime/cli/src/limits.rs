//! The limits of each role, and which files jobs may touch, as flags (and
//! so as `weir.yaml` keys). Every default is documented in
//! docs/security.md; every refusal names its setting.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use clap::Args;
use weir_executor::PathPolicy;
use weir_jobmanager::{JobManagerLimits, DEFAULT_CLUSTER_ID};
use weir_types::{parse_bytes, SpecLimits};
use weir_wasm_host::LogLimits;

#[derive(Args)]
pub struct JobManagerLimitArgs {
    /// The cluster's name in the job store: jobs and their modules are kept
    /// in the checkpoint storage under ha/<cluster-id>/, and a JobManager
    /// started on the same storage with the same id resumes them.
    #[arg(long, default_value = DEFAULT_CLUSTER_ID, env = "WEIR_CLUSTER_ID")]
    cluster_id: String,
    /// The largest job spec accepted.
    #[arg(long, default_value = "1Mi")]
    max_job_spec_size: String,
    /// The deepest nesting of a job spec accepted.
    #[arg(long, default_value_t = weir_types::DEFAULT_MAX_SPEC_DEPTH)]
    max_job_spec_depth: usize,
    /// The largest module accepted from `weir submit`.
    #[arg(long, default_value = "64Mi")]
    max_module_size: String,
    /// All uploaded modules held at once.
    #[arg(long, default_value = "1Gi")]
    module_store_size: String,
    /// Submissions and module uploads handled at once; more are refused
    /// (the client retries).
    #[arg(long, default_value_t = weir_jobmanager::DEFAULT_MAX_CONCURRENT_SUBMISSIONS)]
    max_concurrent_submissions: usize,
    /// Failures kept per job (REST /jobs/{id}/exceptions, weir status).
    #[arg(long, default_value_t = weir_jobmanager::DEFAULT_EXCEPTION_HISTORY)]
    exception_history_size: usize,
}

fn bytes(flag: &str, text: &str) -> Result<u64> {
    parse_bytes(text).map_err(|e| anyhow!("--{flag}: {e}"))
}

fn positive(flag: &str, value: usize) -> Result<usize> {
    match value {
        0 => Err(anyhow!("--{flag}: must be at least 1")),
        n => Ok(n),
    }
}

impl JobManagerLimitArgs {
    pub fn limits(&self) -> Result<JobManagerLimits> {
        Ok(JobManagerLimits {
            spec: SpecLimits {
                max_bytes: usize::try_from(bytes("max-job-spec-size", &self.max_job_spec_size)?)
                    .unwrap_or(usize::MAX),
                max_depth: positive("max-job-spec-depth", self.max_job_spec_depth)?,
            },
            max_module_bytes: bytes("max-module-size", &self.max_module_size)?,
            module_store_bytes: bytes("module-store-size", &self.module_store_size)?,
            max_concurrent_submissions: positive(
                "max-concurrent-submissions",
                self.max_concurrent_submissions,
            )?,
        })
    }

    pub fn cluster_id(&self) -> Result<String> {
        let id = self.cluster_id.trim();
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && id != "."
            && id != "..";
        if !valid {
            return Err(anyhow!(
                "--cluster-id: '{id}' must be letters, digits, '-', '_' and '.' (it names a \
                 directory of the job store)"
            ));
        }
        Ok(id.to_string())
    }

    pub fn exception_history(&self) -> Result<usize> {
        positive("exception-history-size", self.exception_history_size)
    }
}

#[derive(Args)]
pub struct TaskManagerLimitArgs {
    /// A directory jobs' file sources and sinks may use, and all under it
    /// (repeat, or separate with commas). Without one, jobs may touch no
    /// file here; the checkpoint storage and the TaskManager's own files
    /// stay out of bounds whatever is allowed.
    #[arg(
        long = "allowed-path",
        alias = "allowed-paths",
        env = "WEIR_ALLOWED_PATHS",
        value_delimiter = ','
    )]
    allowed_paths: Vec<PathBuf>,
    /// Keyed state all jobs together may hold on this TaskManager.
    #[arg(long, default_value = "1Gi", env = "WEIR_STATE_SIZE")]
    state_size: String,
    /// Keyed state one job may hold on this TaskManager.
    #[arg(long, default_value = "512Mi", env = "WEIR_JOB_STATE_SIZE")]
    job_state_size: String,
    /// The longest line a file source reads; a longer one fails the job.
    #[arg(long, default_value = "1Mi")]
    max_line_length: String,
    /// Lines each operator instance may log per second (bursts of two
    /// seconds' worth); the rest is dropped and summed up every 10 s.
    #[arg(long, default_value_t = weir_wasm_host::DEFAULT_LOG_LINES_PER_SECOND as u32)]
    guest_log_lines: u32,
    /// Bytes each operator instance may log per second.
    #[arg(long, default_value = "64Ki")]
    guest_log_bytes: String,
}

/// The TaskManager side of the limits, parsed.
pub struct TaskManagerLimits {
    pub state_bytes: u64,
    pub job_state_bytes: u64,
    pub max_line_bytes: usize,
    pub log: LogLimits,
}

impl TaskManagerLimitArgs {
    pub fn limits(&self) -> Result<TaskManagerLimits> {
        let max_line = bytes("max-line-length", &self.max_line_length)?;
        if max_line == 0 {
            return Err(anyhow!("--max-line-length: must be more than 0"));
        }
        Ok(TaskManagerLimits {
            state_bytes: bytes("state-size", &self.state_size)?,
            job_state_bytes: bytes("job-state-size", &self.job_state_size)?,
            max_line_bytes: usize::try_from(max_line).unwrap_or(usize::MAX),
            log: LogLimits {
                lines_per_second: f64::from(self.guest_log_lines.max(1)),
                bytes_per_second: bytes("guest-log-bytes", &self.guest_log_bytes)?.max(1) as f64,
            },
        })
    }

    /// The file rule: the allowed directories (and `extra`, for `weir
    /// run`'s job directory), with `protected` files out of bounds.
    pub fn paths(&self, extra: Option<&Path>, protected: &[(&Path, &'static str)]) -> PathPolicy {
        let mut policy = PathPolicy::deny_all();
        for root in self.allowed_paths.iter().map(PathBuf::as_path).chain(extra) {
            policy = policy.allow(root);
        }
        for (path, what) in protected {
            policy = policy.protect(path, what);
        }
        policy
    }
}
