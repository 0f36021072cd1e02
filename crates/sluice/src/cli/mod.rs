//! Command-line parsing and dispatch to the subcommands (Benthos's CLI).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub(crate) mod blobl;
mod debug;
mod docs;
mod echo;
mod host;
mod lint;
mod list;
mod load;
mod logging;
mod metrics;
mod run;
pub(crate) mod runtime;
mod streams;
mod telemetry;
mod template;
mod test;
mod watch;

#[derive(Parser)]
#[command(
    name = "sluice",
    about = "A stream processor that runs Benthos / Redpanda Connect configs",
    disable_version_flag = true,
    allow_external_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", global = true)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags shared by the root command and `run`.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct CommonArgs {
    /// Path to a config file.
    #[arg(short = 'c', long = "config", global = true)]
    config: Option<PathBuf>,
    /// Set a field of the config: `--set input.http_server.path=/x`.
    #[arg(short = 's', long = "set", global = true)]
    set: Vec<String>,
    /// Import environment variables from a dotenv file (repeatable).
    #[arg(short = 'e', long = "env-file", global = true)]
    env_file: Vec<PathBuf>,
    /// Override the logger level (NONE, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, ALL).
    #[arg(long = "log.level", global = true)]
    log_level: Option<String>,
    /// Keep running even when the config has lints.
    #[arg(long = "chilled", global = true)]
    chilled: bool,
    /// Resource files (globs) whose resources join the config's. Not
    /// global: `blobl` uses `-r` for `--raw`.
    #[arg(short = 'r', long = "resources")]
    resources: Vec<String>,
    /// Reload the config when the file changes. Not global: `blobl server`
    /// uses `-w` for `--write`.
    #[arg(short = 'w', long = "watcher")]
    watcher: bool,
    /// Template files (globs) whose components the config can use. Not
    /// global: `blobl` uses `-t` for `--threads`.
    #[arg(short = 't', long = "templates")]
    templates: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a stream from a config file.
    Run {
        /// The config file (one only).
        files: Vec<PathBuf>,
        /// Resource files (globs) whose resources join the config's.
        #[arg(short = 'r', long = "resources")]
        resources: Vec<String>,
        /// Template files (globs) whose components the config can use.
        #[arg(short = 't', long = "templates")]
        templates: Vec<String>,
        /// Reload the config when it changes.
        #[arg(short = 'w', long = "watcher")]
        watcher: bool,
    },
    /// Check config files and print every problem as `file(line,col) message`.
    Lint(lint::LintArgs),
    /// Print a config back as YAML.
    Echo {
        /// The config file.
        file: Option<PathBuf>,
        /// Print passwords, tokens and keys as they are, instead of
        /// `!!!SECRET_SCRUBBED!!!`.
        #[arg(long = "secrets")]
        secrets: bool,
    },
    /// List the components sluice supports.
    List(list::ListArgs),
    /// Execute Bloblang mappings against newline-delimited documents on stdin.
    Blobl(blobl::BloblArgs),
    /// Run several named streams, managed through a REST API under /streams.
    Streams(streams::StreamsArgs),
    /// Run the unit tests of config files.
    Test(test::TestArgs),
    /// Work with config templates.
    Template(template::TemplateArgs),
    /// Regenerate docs/components and README's component table from the registry.
    #[command(hide = true)]
    Docs(docs::DocsArgs),
    #[command(external_subcommand)]
    External(Vec<String>),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("Version: {}\nDate: unknown", sluice_components::VERSION);
        return ExitCode::SUCCESS;
    }
    let res = match cli.command {
        None => run::run(cli.common, None),
        Some(Command::Run {
            files,
            resources,
            templates,
            watcher,
        }) => {
            if files.len() > 1 {
                eprintln!("a maximum of one config must be specified with the run command");
                return ExitCode::FAILURE;
            }
            let mut common = cli.common;
            common.resources.extend(resources);
            common.templates.extend(templates);
            common.watcher |= watcher;
            run::run(common, files.into_iter().next())
        }
        Some(Command::Lint(args)) => lint::run(args, &cli.common),
        Some(Command::Echo { file, secrets }) => echo::run(&cli.common, file, secrets),
        Some(Command::List(args)) => list::run(&args),
        Some(Command::Blobl(args)) => blobl::run(args),
        Some(Command::Streams(args)) => streams::run(args, &cli.common),
        Some(Command::Test(args)) => test::run(args, &cli.common),
        Some(Command::Template(args)) => template::run(args, &cli.common.templates),
        Some(Command::Docs(args)) => docs::run(&args),
        Some(Command::External(args)) => {
            eprintln!(
                "Unrecognised command: {}",
                args.first().map_or("", String::as_str)
            );
            return ExitCode::FAILURE;
        }
    };
    match res {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
