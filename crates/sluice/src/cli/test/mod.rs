//! `sluice test [paths...]`: runs the unit tests of configs, as `benthos
//! test` does, plus HTTP request/response cases that run the whole stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use sluice_core::config::{Config, LoggerConfig, interpolate_env};
use sluice_core::environment::Environment;
use sluice_core::metrics::Metrics;

use super::CommonArgs;
use super::load::{build_stream, environment_with_templates, format_lint, read_env_files};
use super::logging;

mod condition;
mod definition;
mod discover;
mod http;
mod json;
mod processors;
mod report;
mod tree;

use definition::{Case, CaseKind};
use report::{CaseResult, TargetResult};

/// Arguments of `sluice test`.
#[derive(clap::Args)]
pub(crate) struct TestArgs {
    /// Config files, test definition files, directories or `dir/...` paths
    /// (default `./...`).
    paths: Vec<String>,
    /// Let components write logs at this level to stderr.
    #[arg(long = "log")]
    log: Option<String>,
    /// Resource files to load (not supported yet).
    #[arg(short = 'r', long = "resources")]
    resources: Vec<String>,
}

pub(crate) fn run(args: TestArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    if !common.set.is_empty() {
        anyhow::bail!("cannot override fields with --set (-s) during unit tests");
    }
    if !common.resources.is_empty() || !args.resources.is_empty() {
        anyhow::bail!("flag --resources is not supported yet");
    }
    if common.watcher {
        anyhow::bail!("flag --watcher is not supported yet");
    }
    let env_files = read_env_files(&common.env_file)?;
    // Components stay quiet unless asked, so the report is all there is.
    let level = args.log.or_else(|| common.log_level.clone());
    logging::init(level.as_deref().unwrap_or("NONE"), &LoggerConfig::default())?;
    let mut paths = args.paths;
    // `-c file` names a config to test, as a path argument would.
    if let Some(config) = &common.config {
        paths.push(config.display().to_string());
    }
    if paths.is_empty() {
        paths.push("./...".to_owned());
    }
    let targets = discover::targets(&paths).context("failed to obtain test targets")?;
    let runtime = crate::cli::runtime::multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let env = environment_with_templates(&common.templates)?;
    let passed = runtime.block_on(run_all(&env, targets, &env_files));
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs every target, printing a line per target and case as it goes and the
/// failures at the end. True when everything passed.
async fn run_all(
    env: &Environment,
    targets: std::collections::BTreeMap<PathBuf, PathBuf>,
    env_files: &[(String, String)],
) -> bool {
    let mut results = Vec::new();
    let mut broken = false;
    for (config, definition) in targets {
        let cases = match read_cases(&definition) {
            Ok(cases) => cases,
            Err(problems) => {
                eprintln!("Failed to read test definition '{}':", definition.display());
                for problem in problems {
                    eprintln!("  {problem}");
                }
                broken = true;
                continue;
            }
        };
        if cases.is_empty() {
            continue;
        }
        if !config.is_file() {
            eprintln!(
                "Failed to read test definition '{}': unable to access target config file '{}'",
                definition.display(),
                config.display()
            );
            broken = true;
            continue;
        }
        let lints = lint_target(env, &config, env_files);
        let mut case_results = Vec::new();
        for case in &cases {
            let failures = run_case(env, &config, case, env_files).await;
            case_results.push(CaseResult {
                name: case.name.clone(),
                line: case.line,
                failures,
            });
        }
        let result = TargetResult {
            path: config,
            lints,
            cases: case_results,
        };
        report::print_target(&result);
        results.push(result);
    }
    if results.is_empty() {
        if !broken {
            println!("No tests were found");
        }
        return false;
    }
    let all_passed = report::print_failures(&results);
    all_passed && !broken
}

/// The cases of a definition file, or its problems formatted with positions.
fn read_cases(definition: &Path) -> Result<Vec<Case>, Vec<String>> {
    let text = std::fs::read_to_string(definition)
        .map_err(|err| vec![format!("{}: {err}", definition.display())])?;
    let dir = definition.parent().unwrap_or_else(|| Path::new(""));
    definition::parse(&text, dir)
        .map_err(|lints| lints.iter().map(|l| format_lint(definition, l)).collect())
}

async fn run_case(
    env: &Environment,
    config: &Path,
    case: &Case,
    env_files: &[(String, String)],
) -> Vec<String> {
    // `env()` in the case's mappings sees the same variables as `${VAR}`s
    // in its config; the next case starts from its own.
    let vars = tree::case_vars(&case.environment, env_files);
    sluice_bloblang::set_env_overlay(Some(vars.clone()));
    let failures = run_case_kind(env, config, case, &vars).await;
    sluice_bloblang::set_env_overlay(None);
    failures
}

async fn run_case_kind(
    env: &Environment,
    config: &Path,
    case: &Case,
    vars: &HashMap<String, String>,
) -> Vec<String> {
    match &case.kind {
        CaseKind::Processors {
            target,
            input_batches,
            output_batches,
        } => {
            processors::run(
                env,
                config,
                case,
                target,
                input_batches,
                output_batches,
                vars,
            )
            .await
        }
        CaseKind::Http { request, response } => {
            http::run(env, config, case, request, response, vars).await
        }
    }
}

/// The lint problems of the target config, as `sluice lint` finds them. As
/// in Benthos, unset environment variables are not a problem here: each case
/// brings its own.
fn lint_target(env: &Environment, path: &Path, env_files: &[(String, String)]) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => return vec![format!("{}: {err}", path.display())],
    };
    let lookup = |name: &str| {
        env_files
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let (text, _unset_variables) = interpolate_env(&text, &lookup);
    let lints = match Config::load(&text, &|_| None, &[]) {
        Ok((config, root)) => {
            match build_stream(env, &config, &root, &Metrics::default(), None, None, true) {
                Ok(_) => Vec::new(),
                Err(lints) => lints,
            }
        }
        Err(lints) => lints,
    };
    lints.iter().map(|l| format_lint(path, l)).collect()
}
