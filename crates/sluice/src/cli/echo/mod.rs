//! `sluice echo`: prints the parsed config back as YAML, with every field
//! left out given its default, as Benthos does, and secrets scrubbed unless
//! `--secrets` asks for them.

mod secrets;

use std::path::PathBuf;
use std::process::ExitCode;

use super::CommonArgs;
use sluice_core::config::json_schema::config_schema;
use sluice_core::config::with_defaults;

use super::load::{LoadOptions, environment_with_templates, format_lint, load_config, parse_sets};

pub(crate) fn run(
    common: &CommonArgs,
    file: Option<PathBuf>,
    show_secrets: bool,
) -> anyhow::Result<ExitCode> {
    let path = file
        .or_else(|| common.config.clone())
        .ok_or_else(|| anyhow::anyhow!("a config file must be given"))?;
    let options = LoadOptions {
        sets: parse_sets(&common.set)?,
        env_files: common.env_file.clone(),
        resources: Vec::new(),
        templates: common.templates.clone(),
        chilled: false,
    };
    match load_config(&path, &options)? {
        Ok((_, node)) => {
            let env = environment_with_templates(&options.templates)?;
            let mut config = with_defaults(&node, &config_schema(&env));
            if !show_secrets {
                secrets::scrub(&mut config);
            }
            print!("{}", config.to_yaml());
            Ok(ExitCode::SUCCESS)
        }
        Err(lints) => {
            for lint in &lints {
                eprintln!("{}", format_lint(&path, lint));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
