//! `weir`: the one binary of Weir. This version runs jobs in-process
//! (`weir run`) and builds operators to components (`weir build`).

mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Run a job in this process (the embedded default): records go to the
    /// job's sink, the summary to standard error.
    Run(run::RunArgs),
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

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // Guest output is logged at info; the runtime's own chatter only from warn.
    let filter = EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,weir::guest=info"));
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
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
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
