//! `weir submit`, `list`, `status`, `cancel`, `savepoint`, `stop`: a
//! JobManager's clients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use tonic::transport::{Channel, Endpoint};
use weir_jobmanager::job_json;
use weir_proto::v1::job_service_client::JobServiceClient;
use weir_proto::v1::{
    CancelJobRequest, GetJobRequest, JobDetails, ListJobsRequest, SubmitJobRequest,
    TriggerSavepointRequest,
};
use weir_types::{JobSpec, JobState};

use crate::display::{job_text, jobs_table, print_out};
use crate::upload;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables for people.
    Table,
    /// JSON for scripts (the REST API's shapes).
    Json,
}

#[derive(Args)]
pub struct Connection {
    /// The JobManager's RPC address.
    #[arg(long, default_value = "http://127.0.0.1:6123", env = "WEIR_JOBMANAGER")]
    jobmanager: String,
    /// How results are printed.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Args)]
pub struct SubmitArgs {
    /// The job spec (YAML).
    job: PathBuf,
    #[command(flatten)]
    connection: Connection,
    /// Wait for the job to end; fail unless it finishes.
    #[arg(long)]
    wait: bool,
    /// Start from this savepoint (or retained checkpoint) directory, as the
    /// JobManager sees it.
    #[arg(long, short = 's')]
    from_savepoint: Option<String>,
    #[command(flatten)]
    registry: crate::push::RegistryArgs,
}

#[derive(Args)]
pub struct SavepointArgs {
    /// The job's id.
    job_id: String,
    /// Where the savepoint's directory is made (seen from the cluster); the
    /// JobManager's default savepoint directory when absent.
    directory: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
pub struct StopArgs {
    /// The job's id.
    job_id: String,
    /// Where the savepoint's directory is made; the JobManager's default
    /// savepoint directory when absent.
    #[arg(long, short = 'p')]
    savepoint: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
pub struct JobArgs {
    /// The job's id.
    job_id: String,
    #[command(flatten)]
    connection: Connection,
}

async fn connect(address: &str) -> Result<JobServiceClient<Channel>> {
    let endpoint = Endpoint::from_shared(weir_taskmanager::jobmanager_url(address))
        .map_err(|_| {
            anyhow!(
                "'{address}' is not a JobManager address (expected HOST:PORT or http://HOST:PORT)"
            )
        })?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| {
        let why = weir_taskmanager::error_chain(&e);
        anyhow!(
            "cannot reach the JobManager at {address}: {why} (is `weir jobmanager` running there?)"
        )
    })?;
    Ok(JobServiceClient::new(channel)
        .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES))
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow!("the JobManager refused: {}", status.message())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn submit(args: SubmitArgs) -> Result<()> {
    let text = upload::read_spec(&args.job)?;
    let spec = JobSpec::from_yaml(&text).map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
    let base_dir = args.job.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut upload = weir_artifact::pin_local_modules(spec, &base_dir)
        .map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
    let registries = weir_artifact::Registries::new(args.registry.options()?);
    runtime()?.block_on(async {
        weir_artifact::pin_remote_modules(&mut upload.spec, &registries)
            .await
            .map_err(|e| anyhow!("{}: {e}", args.job.display()))?;
        let yaml = upload::to_yaml(&upload.spec)?;
        let mut client = connect(&args.connection.jobmanager).await?;
        for (digest, bytes) in upload.modules {
            let chunks = weir_proto::module_chunks(&digest, &bytes);
            client
                .put_module(tokio_stream::iter(chunks))
                .await
                .map_err(status_error)?;
        }
        let job_id = client
            .submit_job(SubmitJobRequest {
                spec_yaml: yaml,
                from_savepoint: absolute_location(args.from_savepoint.as_deref())?,
            })
            .await
            .map_err(|status| anyhow!("{}: {}", args.job.display(), status.message()))?
            .into_inner()
            .job_id;
        match args.connection.output {
            Output::Table => eprintln!("Job has been submitted with JobID {job_id}"),
            Output::Json if !args.wait => {
                print_out(&format!("{}\n", serde_json::json!({ "jobId": job_id })))?
            }
            Output::Json => {}
        }
        if !args.wait {
            return Ok(());
        }
        let details = loop {
            let details = client
                .get_job(GetJobRequest {
                    job_id: job_id.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if details.job_state().is_some_and(JobState::is_terminal) {
                break details;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        print_job(&details, args.connection.output)?;
        match details.job_state() {
            Some(JobState::Finished) => Ok(()),
            _ => bail!(
                "job '{}' ({job_id}) {}: {}",
                details.name,
                details.state_name().to_ascii_lowercase(),
                details.status_message
            ),
        }
    })
}

pub fn list(connection: Connection) -> Result<()> {
    runtime()?.block_on(async {
        let jobs = connect(&connection.jobmanager)
            .await?
            .list_jobs(ListJobsRequest {})
            .await
            .map_err(status_error)?
            .into_inner()
            .jobs;
        match connection.output {
            Output::Json => {
                let jobs: Vec<_> = jobs.iter().map(job_json).collect();
                print_out(&format!("{}\n", serde_json::to_string_pretty(&jobs)?))?;
            }
            Output::Table => {
                print_out(&jobs_table(&jobs))?;
                if jobs.is_empty() {
                    eprintln!("(no jobs)");
                }
            }
        }
        Ok(())
    })
}

pub fn status(args: JobArgs) -> Result<()> {
    runtime()?.block_on(async {
        let details = connect(&args.connection.jobmanager)
            .await?
            .get_job(GetJobRequest {
                job_id: args.job_id.clone(),
            })
            .await
            .map_err(status_error)?
            .into_inner();
        print_job(&details, args.connection.output)
    })
}

pub fn cancel(args: JobArgs) -> Result<()> {
    runtime()?.block_on(async {
        let previous = connect(&args.connection.jobmanager)
            .await?
            .cancel_job(CancelJobRequest {
                job_id: args.job_id.clone(),
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .previous_state()
            .known()
            .map_or("UNKNOWN", JobState::name);
        match args.connection.output {
            Output::Json => print_out(&format!(
                "{}\n",
                serde_json::json!({ "jobId": args.job_id, "previousState": previous })
            ))?,
            Output::Table => eprintln!("Cancelling job {} (it was {previous})", args.job_id),
        }
        Ok(())
    })
}

/// A local path given on the command line is relative to where the user
/// is; URLs pass unchanged.
pub fn absolute_location(location: Option<&str>) -> Result<String> {
    let Some(location) = location else {
        return Ok(String::new());
    };
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let cwd = std::env::current_dir().context("cannot tell the working directory")?;
    Ok(cwd.join(location).to_string_lossy().into_owned())
}

async fn take_savepoint(
    connection: &Connection,
    job_id: &str,
    directory: Option<&str>,
    stop: bool,
) -> Result<()> {
    let location = connect(&connection.jobmanager)
        .await?
        .trigger_savepoint(TriggerSavepointRequest {
            job_id: job_id.to_string(),
            target_directory: absolute_location(directory)?,
            stop,
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .location;
    match connection.output {
        Output::Json => print_out(&format!(
            "{}\n",
            serde_json::json!({ "jobId": job_id, "location": location })
        ))?,
        Output::Table if stop => {
            eprintln!("Savepoint completed; job {job_id} is stopping. Path: {location}")
        }
        Output::Table => eprintln!("Savepoint completed. Path: {location}"),
    }
    Ok(())
}

pub fn savepoint(args: SavepointArgs) -> Result<()> {
    runtime()?.block_on(take_savepoint(
        &args.connection,
        &args.job_id,
        args.directory.as_deref(),
        false,
    ))
}

pub fn stop(args: StopArgs) -> Result<()> {
    runtime()?.block_on(take_savepoint(
        &args.connection,
        &args.job_id,
        args.savepoint.as_deref(),
        true,
    ))
}

fn print_job(job: &JobDetails, output: Output) -> Result<()> {
    match output {
        Output::Json => print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&job_json(job)).unwrap_or_default()
        )),
        Output::Table => print_out(&job_text(job)),
    }
}
