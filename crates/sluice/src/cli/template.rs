//! Config templates: loading `-t` files into the environment, and
//! `sluice template lint`, which checks template files and runs their tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sluice_core::config::Lint;
use sluice_core::environment::{Builder, Environment, Resources};
use sluice_core::metrics::Metrics;
use sluice_core::template::Template;

use super::load::{environment, format_lint, matching_files};

#[derive(Args)]
pub(crate) struct TemplateArgs {
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Check template files and run the tests they carry; every problem is
    /// printed as `file(line,col) message`.
    Lint {
        /// Template files or globs.
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

/// Parses one template file; its problems as `file(line,col) message`.
fn read(path: &Path) -> anyhow::Result<Result<Template, Vec<String>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("failed to read template {}: {err}", path.display()))?;
    Ok(Template::parse(&text, path.parent()).map_err(|lints| format_all(path, &lints)))
}

fn format_all(path: &Path, lints: &[Lint]) -> Vec<String> {
    lints.iter().map(|lint| format_lint(path, lint)).collect()
}

/// Registers the templates of the files `globs` name in `env`; the problems
/// found, formatted.
pub(crate) fn register(env: &mut Environment, globs: &[String]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for path in matching_files(globs, "template file")? {
        match read(&path)? {
            Ok(template) => {
                if let Err(message) = env.add_template(template) {
                    problems.push(format!("{}: {message}", path.display()));
                }
            }
            Err(lints) => problems.extend(lints),
        }
    }
    Ok(problems)
}

pub(crate) fn run(args: TemplateArgs, globs: &[String]) -> anyhow::Result<ExitCode> {
    let TemplateCommand::Lint { paths } = args.command;
    // Templates given with -t are there for the linted ones to use.
    let mut env = environment();
    let mut problems = register(&mut env, globs)?;
    let files: Vec<PathBuf> = matching_files(&paths, "template file")?;
    let mut linted = Vec::new();
    for path in &files {
        match read(path)? {
            Ok(template) => linted.push((path.clone(), template)),
            Err(lints) => problems.extend(lints),
        }
    }
    // Register them all first: a template may use another one.
    let mut tests = Vec::new();
    for (path, template) in linted {
        let name = template.name();
        let kind = template.kind();
        let cases = template_tests(template, &mut env, &path, &mut problems);
        tests.push((path, name, kind, cases));
    }
    for (path, name, kind, cases) in &tests {
        for case in cases {
            problems.extend(run_test(&env, path, name, *kind, case));
        }
    }
    for problem in &problems {
        println!("{problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Registers `template`, handing back its tests.
fn template_tests(
    mut template: Template,
    env: &mut Environment,
    path: &Path,
    problems: &mut Vec<String>,
) -> Vec<sluice_core::template::TemplateTest> {
    let tests = std::mem::take(&mut template.tests);
    if let Err(message) = env.add_template(template) {
        problems.push(format!("{}: {message}", path.display()));
    }
    tests
}

/// Runs one template test: the config must render, the rendered component
/// must build without lints, and match `expected` when given.
fn run_test(
    env: &Environment,
    path: &Path,
    name: &str,
    kind: sluice_core::config::ComponentKind,
    case: &sluice_core::template::TemplateTest,
) -> Vec<String> {
    let test = &case.name;
    let resources = Resources::for_dry_run(Metrics::default());
    let mut builder = Builder::new(env, &resources);
    let mut component = sluice_core::config::Node::empty_map();
    if let sluice_core::config::NodeKind::Map(entries) = &mut component.kind {
        entries.push((sluice_core::config::Node::plain(name), case.config.clone()));
        if !case.label.is_empty() {
            entries.push((
                sluice_core::config::Node::plain("label"),
                sluice_core::config::Node::plain(case.label.as_str()),
            ));
        }
    }
    let template = env
        .templates()
        .find(|t| t.name() == name && t.kind() == kind)
        .cloned();
    let Some(template) = template else {
        return Vec::new();
    };
    let rendered = match template.field_values(&case.config, case.config.mark) {
        Ok(values) => template.render_json(&values),
        Err(lints) => {
            return lints
                .iter()
                .map(|lint| format!("{}: test '{test}': {}", path.display(), lint.message))
                .collect();
        }
    };
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(message) => return vec![format!("{}: test '{test}': {message}", path.display())],
    };
    let built = match kind {
        sluice_core::config::ComponentKind::Input => builder.input(&component).map(drop),
        sluice_core::config::ComponentKind::Output => builder.output(&component).map(drop),
        sluice_core::config::ComponentKind::RateLimit => builder.rate_limit(&component).map(drop),
        _ => builder.processor(&component).map(drop),
    };
    let mut problems: Vec<String> = built
        .err()
        .unwrap_or_default()
        .iter()
        .map(|lint| {
            format!(
                "{}: test '{test}': lint error in resulting config: {}",
                path.display(),
                lint.message
            )
        })
        .collect();
    if let Some(expected) = &case.expected
        && expected.to_json() != rendered
    {
        problems.push(format!(
            "{}: test '{test}': mismatch between expected and actual resulting config:\n  expected: {}\n  actual:   {}",
            path.display(),
            expected.to_json(),
            rendered
        ));
    }
    problems
}
