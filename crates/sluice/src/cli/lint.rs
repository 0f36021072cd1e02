//! `sluice lint`: prints every problem of every config as
//! `file(line,col) message` and exits 1 if there were any.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_components::tracers::TracerSetup;
use sluice_core::metrics::Metrics;

use super::CommonArgs;
use super::load::{
    LoadOptions, build_stream, environment_with_templates, format_lint, load_config, parse_sets,
};

/// Arguments of `sluice lint`.
#[derive(clap::Args)]
pub(crate) struct LintArgs {
    /// Files to lint; a `dir/...` suffix walks a directory for YAML files.
    paths: Vec<String>,
    /// Also report deprecated components (accepted for compatibility).
    #[arg(long)]
    deprecated: bool,
    /// Also report missing labels (accepted for compatibility).
    #[arg(long)]
    labels: bool,
    /// Do not check that environment variables are set (accepted for compatibility).
    #[arg(long = "skip-env-var-check")]
    skip_env_var_check: bool,
    /// Print every file checked.
    #[arg(long)]
    verbose: bool,
    /// Resource files (globs) whose resources join each config's.
    #[arg(short = 'r', long = "resources")]
    resources: Vec<String>,
}

fn expand(path: &str, acc: &mut Vec<PathBuf>) {
    let Some(dir) = path.strip_suffix("...") else {
        acc.push(PathBuf::from(path));
        return;
    };
    let dir = if dir.is_empty() { "." } else { dir };
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                stack.push(entry);
            } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                acc.push(entry);
            }
        }
    }
}

/// What linting one config file found, formatted.
pub(crate) struct Findings {
    /// Lints: the config is refused.
    problems: Vec<String>,
    /// Warnings: the config runs, but something in it deserves a look.
    warnings: Vec<String>,
}

/// The problems and warnings of one config file, formatted.
pub(crate) fn lint_file(path: &Path, options: &LoadOptions) -> anyhow::Result<Findings> {
    let env = environment_with_templates(&options.templates)?;
    let (config, root) = match load_config(path, options)? {
        Ok(loaded) => loaded,
        Err(lints) => {
            return Ok(Findings {
                problems: lints.iter().map(|l| format_lint(path, l)).collect(),
                warnings: Vec::new(),
            });
        }
    };
    let mut lints = super::metrics::setup(config.metrics.as_ref())
        .err()
        .unwrap_or_default();
    if let Err(more) = TracerSetup::parse(config.tracer.as_ref()) {
        lints.extend(more);
    }
    let mut warnings = Vec::new();
    match build_stream(&env, &config, &root, &Metrics::default(), None, None, true) {
        // `# BENTHOS LINT DISABLE` silences the lint's findings altogether.
        Ok(built) if !config.tolerate_lints => warnings = built.warnings,
        Ok(_) => {}
        Err(more) => lints.extend(more),
    }
    lints.sort_by_key(|l| (l.line, l.col));
    warnings.sort_by_key(|l| (l.line, l.col));
    Ok(Findings {
        problems: lints.iter().map(|l| format_lint(path, l)).collect(),
        warnings: warnings
            .iter()
            .map(|l| {
                let mut warning = l.clone();
                warning.message = format!("warning: {}", l.message);
                format_lint(path, &warning)
            })
            .collect(),
    })
}

pub(crate) fn run(args: LintArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let _ = (args.deprecated, args.labels, args.skip_env_var_check);
    let options = LoadOptions {
        sets: parse_sets(&common.set)?,
        env_files: common.env_file.clone(),
        resources: args.resources.clone(),
        templates: common.templates.clone(),
        chilled: false,
    };
    let mut files = Vec::new();
    for path in &args.paths {
        expand(path, &mut files);
    }
    let mut failed = false;
    for file in &files {
        if args.verbose {
            eprintln!("linting {}", file.display());
        }
        let findings = match lint_file(file, &options) {
            Ok(findings) => findings,
            Err(err) => Findings {
                problems: vec![format!("{}: {err:#}", file.display())],
                warnings: Vec::new(),
            },
        };
        // Warnings are shown but do not fail the lint: the config runs.
        for line in findings.problems.iter().chain(&findings.warnings) {
            eprintln!("{line}");
        }
        failed |= !findings.problems.is_empty();
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
