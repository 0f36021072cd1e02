//! Loading a config file and building a stream from it, shared by `run` and
//! `lint`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use sluice_components::SharedHttpServer;
use sluice_core::config::{Config, Lint, LintLevel, Node, parse_env_file};
use sluice_core::environment::{Builder, BuiltInput, BuiltOutput, Environment, Resources};
use sluice_core::metrics::Metrics;
use sluice_core::trace::Tracer;

/// Flags that change how a config is read.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadOptions {
    pub(crate) sets: Vec<(String, String)>,
    pub(crate) env_files: Vec<std::path::PathBuf>,
}

/// The environment every command uses.
pub(crate) fn environment() -> Environment {
    let mut env = Environment::default();
    sluice_components::register_all(&mut env);
    env
}

/// Parses `--set path=value` arguments.
pub(crate) fn parse_sets(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("invalid set expression '{s}': expected path=value"))
        })
        .collect()
}

/// Reads `path` with env vars (process and env files) interpolated.
pub(crate) fn load_config(
    path: &Path,
    options: &LoadOptions,
) -> anyhow::Result<Result<(Config, Node), Vec<Lint>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read config {}", path.display()))?;
    let mut extra = Vec::new();
    for file in &options.env_files {
        let env_text = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read env file {}", file.display()))?;
        extra
            .extend(parse_env_file(&env_text).map_err(|e| {
                anyhow::anyhow!("failed to parse env file {}: {e}", file.display())
            })?);
    }
    let lookup = move |name: &str| -> Option<String> {
        extra
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    Ok(Config::load(&text, &lookup, &options.sets))
}

/// A stream built from a config, ready to run.
pub(crate) struct BuiltStream {
    pub(crate) input: BuiltInput,
    pub(crate) pipeline: Vec<Box<dyn sluice_core::component::processor::Processor>>,
    pub(crate) output: BuiltOutput,
    pub(crate) output_type: String,
    pub(crate) warnings: Vec<Lint>,
}

/// Builds every component of `config`, gathering every problem.
pub(crate) fn build_stream(
    env: &Environment,
    config: &Config,
    root: &Node,
    metrics: &Metrics,
    shared: Option<Arc<SharedHttpServer>>,
    tracer: Option<Arc<dyn Tracer>>,
    dry_run: bool,
) -> Result<BuiltStream, Vec<Lint>> {
    let mut resources = if dry_run {
        Resources::for_dry_run(metrics.clone())
    } else {
        Resources::new(metrics.clone(), config.error_handling.strict)
    };
    if let Some(tracer) = tracer {
        resources.set_tracer(tracer);
    }
    if let Some(shared) = shared {
        resources.insert(shared);
    }
    let mut lints = unsupported_http_fields(config, root);
    {
        let mut builder = Builder::new(env, &resources);
        let mut limits = Vec::new();
        for node in &config.rate_limit_resources {
            let label = node.get("label").and_then(Node::as_str).map(str::to_owned);
            match (label, builder.rate_limit(node)) {
                (Some(label), Ok(limit)) => limits.push((label, limit)),
                (None, _) => lints.push(Lint::error(
                    node.mark,
                    "rate limit resource requires a label",
                )),
                (_, Err(l)) => lints.extend(l),
            }
        }
        for (label, limit) in limits {
            resources.add_rate_limit(label, limit);
        }
    }
    for (field, list) in [
        ("input_resources", &config.input_resources),
        ("processor_resources", &config.processor_resources),
        ("output_resources", &config.output_resources),
        ("cache_resources", &config.cache_resources),
    ] {
        if let Some(first) = list.first() {
            lints.push(Lint::error(
                first.mark,
                format!("{field} are not supported yet"),
            ));
        }
    }
    if let Some(buffer) = &config.buffer
        && buffer.get("none").is_none()
        && !buffer.is_null()
    {
        lints.push(Lint::error(
            buffer.mark,
            "buffer types other than none are not supported yet",
        ));
    }
    let mut builder = Builder::new(env, &resources);
    let input = builder.input(&config.input).map_err(|l| lints.extend(l));
    let pipeline = builder
        .processor_list(&config.pipeline.processors)
        .map_err(|l| lints.extend(l));
    let output = builder.output(&config.output).map_err(|l| lints.extend(l));
    let warnings = builder.take_warnings();
    match (input, pipeline, output) {
        (Ok(input), Ok(pipeline), Ok(output)) if lints.is_empty() => Ok(BuiltStream {
            input,
            pipeline,
            output,
            output_type: component_type(&config.output),
            warnings,
        }),
        _ => {
            lints.sort_by_key(|l| (l.line, l.col));
            Err(lints)
        }
    }
}

/// Fields of the top-level `http` section that sluice cannot honour yet.
fn unsupported_http_fields(config: &Config, root: &Node) -> Vec<Lint> {
    let http = &config.http;
    let at = |field: &str| {
        root.get("http")
            .and_then(|h| h.get(field))
            .map_or(root.mark, |n| n.mark)
    };
    let mut lints = Vec::new();
    for (set, field) in [
        (!http.cert_file.is_empty(), "cert_file"),
        (!http.key_file.is_empty(), "key_file"),
        (http.basic_auth.enabled, "basic_auth"),
        (http.cors.enabled, "cors"),
        (http.debug_endpoints, "debug_endpoints"),
    ] {
        if set {
            lints.push(Lint::error(
                at(field),
                format!("http field {field} is not supported yet"),
            ));
        }
    }
    lints
}

/// The type key of a component node, for logs.
pub(crate) fn component_type(node: &Node) -> String {
    if let Some(t) = node.get("type").and_then(Node::as_str) {
        return t.to_owned();
    }
    match &node.kind {
        sluice_core::config::NodeKind::Map(entries) => entries
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .find(|k| *k != "label" && *k != "processors")
            .unwrap_or("unknown")
            .to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// Formats a lint as Benthos does: `path(line,col) message`.
pub(crate) fn format_lint(path: &Path, lint: &Lint) -> String {
    format!(
        "{}({},{}) {}",
        path.display(),
        lint.line,
        lint.col,
        lint.message
    )
}

/// Whether a lint is an error (warnings never block a run).
pub(crate) fn is_error(lint: &Lint) -> bool {
    matches!(lint.level, LintLevel::Error)
}
