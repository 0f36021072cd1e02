//! `sluice blobl`: run a mapping over stdin.

use std::process::ExitCode;

/// Arguments of `sluice blobl`.
#[derive(clap::Args)]
pub(crate) struct BloblArgs {
    /// The mapping to execute.
    mapping: Option<String>,
}

pub(crate) fn run(args: BloblArgs) -> anyhow::Result<ExitCode> {
    let _ = args.mapping;
    anyhow::bail!("blobl is not implemented yet")
}
