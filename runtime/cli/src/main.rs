//! `weir`: the one binary of Weir. It runs jobs in-process (`weir run`),
//! runs the cluster's roles (`weir jobmanager`, `weir taskmanager`), talks to
//! a cluster (`weir submit`, `list`, `status`, `cancel`) and builds operators
//! to components (`weir build`).

mod client;
mod cluster;
mod config;
mod display;
mod kubernetes;
mod limits;
mod push;
mod run;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::with_config_file;

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "Weir: stream processing with WebAssembly operators"
)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WEIR_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job in this process (the embedded default): a JobManager and
    /// TaskManagers in-process; records go to the job's sink, the summary to
    /// standard error.
    Run(run::RunArgs),
    /// Run a JobManager: accepts jobs, schedules them onto TaskManagers,
    /// serves REST and /metrics.
    Jobmanager(cluster::JobManagerArgs),
    /// Run a TaskManager: registers with the JobManager and runs tasks.
    Taskmanager(cluster::TaskManagerArgs),
    /// Submit a job (and its modules) to a JobManager.
    Submit(client::SubmitArgs),
    /// List a JobManager's jobs.
    List(client::Connection),
    /// Show a job's state, vertices and figures.
    Status(client::JobArgs),
    /// Cancel a job.
    Cancel(client::JobArgs),
    /// Take a savepoint of a running job: DIR/savepoint-<id>-<random>.
    Savepoint(client::SavepointArgs),
    /// Stop a job with a savepoint (stop-with-savepoint): the job ends
    /// once the savepoint is complete; `--from-savepoint` resumes it.
    Stop(client::StopArgs),
    /// Push a module (a component) to an OCI registry as a wasm artifact,
    /// or store it in a ConfigMap; prints the reference to use in jobs.
    Push(push::PushArgs),
    /// Print the WeirJob CustomResourceDefinition (YAML).
    Crd,
    /// Build an operator project to a component with its language's
    /// toolchain (Rust, Python, JavaScript, Go or C, told by the project's
    /// files): DIR/<name>.wasm unless --output says otherwise.
    Build {
        /// The operator's project directory.
        dir: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn init_logging(format: LogFormat, command: &Command) {
    use tracing_subscriber::EnvFilter;
    // Guest output is logged at info; the runtime's own chatter only from
    // warn. The cluster's roles also say at info what they do (registrations,
    // submissions, deployments). Under `weir run` the in-process cluster keeps
    // quiet below errors: a failure is reported once, as the command's error.
    let default = match command {
        Command::Jobmanager(_) | Command::Taskmanager(_) => {
            "warn,weir_jobmanager=info,weir_taskmanager=info,weir::guest=info"
        }
        Command::Run(_) => "warn,weir_jobmanager=error,weir_taskmanager=error,weir::guest=info",
        _ => "warn,weir::guest=info",
    };
    let filter = EnvFilter::try_from_env("WEIR_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let args = match with_config_file::<Cli>(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    // A flag given twice (the file's, then the command line's) takes the
    // last: the command line's.
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(
        &<Cli as clap::CommandFactory>::command()
            .args_override_self(true)
            .get_matches_from(args),
    ) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    init_logging(cli.log_format, &cli.command);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Jobmanager(args) => cluster::jobmanager(args),
        Command::Taskmanager(args) => cluster::taskmanager(args),
        Command::Savepoint(args) => client::savepoint(args),
        Command::Stop(args) => client::stop(args),
        Command::Submit(args) => client::submit(args),
        Command::List(args) => client::list(args),
        Command::Status(args) => client::status(args),
        Command::Cancel(args) => client::cancel(args),
        Command::Push(args) => push::push(args),
        Command::Crd => display::print_out(&weir_k8s::crd::crd_yaml()),
        Command::Build { dir, output } => weir_build::build(&dir, output.as_deref())
            .map(|path| eprintln!("built {}", path.display()))
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
