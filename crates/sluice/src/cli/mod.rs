//! Command-line parsing and dispatch to the subcommands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) mod blobl;

#[derive(Parser)]
#[command(name = "sluice", disable_version_flag = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Execute Bloblang mappings against newline-delimited documents on stdin.
    Blobl(blobl::BloblArgs),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Some(Command::Blobl(args)) => blobl::run(args),
        None => Ok(ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
