//! Loading a config file and building a stream from it, shared by `run` and
//! `lint`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use sluice_components::{InprocPipes, ListenerPool, ServerOptions, SharedHttpServer};
use sluice_core::config::{ComponentKind, Config, Lint, Node, parse_env_file};
use sluice_core::environment::{Builder, BuiltInput, BuiltOutput, Environment, Resources};
use sluice_core::metrics::Metrics;
use sluice_core::trace::Tracer;

/// Flags that change how a config is read.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadOptions {
    pub(crate) sets: Vec<(String, String)>,
    pub(crate) env_files: Vec<std::path::PathBuf>,
    /// `-r` globs of resource files whose resources join the config's.
    pub(crate) resources: Vec<String>,
    /// `-t` globs of template files whose components configs may use.
    pub(crate) templates: Vec<String>,
    /// `--chilled`: problems that do not stop the config from being read
    /// are reported but do not stop it.
    pub(crate) chilled: bool,
}

/// The environment every command uses.
pub(crate) fn environment() -> Environment {
    let mut env = Environment::default();
    sluice_components::register_all(&mut env);
    env
}

/// The environment with the templates of `-t` globs added. A template file
/// with problems stops the command, each problem as `file(line,col) message`.
pub(crate) fn environment_with_templates(globs: &[String]) -> anyhow::Result<Environment> {
    let mut env = environment();
    let problems = super::template::register(&mut env, globs)?;
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\n"));
    }
    Ok(env)
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

/// The variables of dotenv files, in order (a later file wins).
pub(crate) fn read_env_files(
    files: &[std::path::PathBuf],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read env file {}", file.display()))?;
        vars.extend(
            parse_env_file(&text)
                .map_err(|e| anyhow::anyhow!("failed to parse env file {}: {e}", file.display()))?,
        );
    }
    Ok(vars)
}

/// Reads `path` with env vars (process and env files) interpolated.
pub(crate) fn load_config(
    path: &Path,
    options: &LoadOptions,
) -> anyhow::Result<Result<(Config, Node), Vec<Lint>>> {
    Ok(read_config(path, options, false)?.map(|(config, root, _)| (config, root)))
}

/// A config read with `--chilled`: the typed config, its tree, and the
/// problems tolerated, to be logged.
pub(crate) type TolerantLoad = (Config, Node, Vec<Lint>);

/// Like [`load_config`]; under `--chilled` the problems tolerated come back
/// beside the config.
pub(crate) fn load_config_tolerant(
    path: &Path,
    options: &LoadOptions,
) -> anyhow::Result<Result<TolerantLoad, Vec<Lint>>> {
    read_config(path, options, options.chilled)
}

fn read_config(
    path: &Path,
    options: &LoadOptions,
    tolerate: bool,
) -> anyhow::Result<Result<TolerantLoad, Vec<Lint>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read config {}", path.display()))?;
    let extra = read_env_files(&options.env_files)?;
    let lookup = move |name: &str| -> Option<String> {
        extra
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let mut loaded = Config::load_tolerant(&text, &lookup, &options.sets, tolerate);
    if let Ok((config, _, _)) = &mut loaded {
        for file in resource_files(&options.resources)? {
            merge_resource_file(config, &file, &lookup, &options.templates)?;
        }
    }
    Ok(loaded)
}

/// The files `-r` globs name, in order; a glob that matches nothing is an
/// error, as a missing file would be.
fn resource_files(globs: &[String]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    matching_files(globs, "resource file")
}

/// The files `globs` name, in order; a glob that matches nothing is an
/// error naming `what` it was for.
pub(crate) fn matching_files(
    globs: &[String],
    what: &str,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for pattern in globs {
        let matches: Vec<_> = glob::glob(pattern)
            .with_context(|| format!("invalid {what} glob {pattern:?}"))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("failed to read {what} glob {pattern:?}"))?;
        if matches.is_empty() {
            anyhow::bail!("{what} {pattern} was not found");
        }
        files.extend(matches);
    }
    Ok(files)
}

/// Adds the resources of a resource file to `config`. The file may hold
/// only resource sections; its problems are reported with its own name and
/// lines, checked with a dry-run build before anything is merged.
fn merge_resource_file(
    config: &mut Config,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    templates: &[String],
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read resource file {}", path.display()))?;
    let report = |lints: &[Lint]| {
        let lines: Vec<String> = lints.iter().map(|l| format_lint(path, l)).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    };
    let (resources, root) = Config::load(&text, lookup, &[]).map_err(|l| report(&l))?;
    let misplaced: Vec<Lint> = root
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| !k.as_str().is_some_and(|k| k.ends_with("_resources")))
        .map(|(k, _)| {
            Lint::error(
                k.mark,
                format!(
                    "field {} is not allowed in a resource file",
                    k.as_str().unwrap_or_default()
                ),
            )
        })
        .collect();
    if !misplaced.is_empty() {
        return Err(report(&misplaced));
    }
    let env = environment_with_templates(templates)?;
    let mut checked = Resources::for_dry_run(Metrics::default());
    let mut lints = add_component_resources(&resources, &mut checked);
    lints.extend(add_caches(
        &env,
        &resources.cache_resources,
        &mut checked,
        &mut Vec::new(),
    ));
    let mut builder = Builder::new(&env, &checked);
    lints.extend(component_resource_lints(&mut builder, &resources));
    for node in &resources.rate_limit_resources {
        lints.extend(builder.rate_limit(node).err().unwrap_or_default());
    }
    if !lints.is_empty() {
        return Err(report(&lints));
    }
    config.input_resources.extend(resources.input_resources);
    config
        .processor_resources
        .extend(resources.processor_resources);
    config.output_resources.extend(resources.output_resources);
    config
        .rate_limit_resources
        .extend(resources.rate_limit_resources);
    config.cache_resources.extend(resources.cache_resources);
    Ok(())
}

/// A stream built from a config, ready to run.
pub(crate) struct BuiltStream {
    pub(crate) input: BuiltInput,
    pub(crate) buffer: Option<Arc<dyn sluice_core::component::buffer::Buffer>>,
    pub(crate) pipeline: Vec<Box<dyn sluice_core::component::processor::Processor>>,
    pub(crate) output: BuiltOutput,
    pub(crate) output_type: String,
    pub(crate) output_label: String,
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
    resources.set_tolerant(config.tolerate_lints);
    build_with(env, config, root, resources, shared, tracer)
}

/// What a stream run in this process shares with the process's other
/// streams besides the HTTP server.
pub(crate) struct HostedParts {
    /// The stream's sockets, which a later version of it takes over.
    pub(crate) listeners: Arc<ListenerPool>,
    /// The process's `inproc` pipes.
    pub(crate) inproc: Arc<InprocPipes>,
}

/// Builds a stream that will run in this process, with sockets taken from
/// `hosted.listeners` so that a later stream can take them over.
pub(crate) fn build_hosted_stream(
    env: &Environment,
    config: &Config,
    root: &Node,
    metrics: &Metrics,
    shared: Option<Arc<SharedHttpServer>>,
    hosted: HostedParts,
    tracer: Option<Arc<dyn Tracer>>,
) -> Result<BuiltStream, Vec<Lint>> {
    let mut resources = Resources::new(metrics.clone(), config.error_handling.strict);
    resources.set_tolerant(config.tolerate_lints);
    resources.insert(hosted.listeners);
    resources.insert(hosted.inproc);
    build_with(env, config, root, resources, shared, tracer)
}

fn build_with(
    env: &Environment,
    config: &Config,
    root: &Node,
    mut resources: Resources,
    shared: Option<Arc<SharedHttpServer>>,
    tracer: Option<Arc<dyn Tracer>>,
) -> Result<BuiltStream, Vec<Lint>> {
    if let Some(tracer) = tracer {
        resources.set_tracer(tracer);
    }
    if let Some(shared) = shared {
        resources.insert(shared);
    }
    let mut lints = http_server_options(config, root).err().unwrap_or_default();
    let mut warnings = Vec::new();
    if let Some(block) = &config.redpanda {
        lints.extend(sluice_components::add_redpanda_block(
            block,
            env,
            &mut resources,
            &mut warnings,
        ));
    }
    lints.extend(add_resources(env, config, &mut resources, &mut warnings));
    lints.extend(component_resource_lints(
        &mut Builder::new(env, &resources),
        config,
    ));
    let mut builder = Builder::new(env, &resources);
    let input = builder.input(&config.input).map_err(|l| lints.extend(l));
    let buffer = match &config.buffer {
        Some(node) if !node.is_null() => builder.buffer(node).map_err(|l| lints.extend(l)),
        _ => Ok(None),
    };
    if let Ok(Some(_)) = &buffer
        && let Some(node) = &config.buffer
    {
        warnings.extend(sluice_components::buffer_response_warnings(config, node));
    }
    let pipeline = builder
        .stage_processor_list(&config.pipeline.processors)
        .map_err(|l| lints.extend(l));
    let output = builder.output(&config.output).map_err(|l| lints.extend(l));
    warnings.extend(builder.take_warnings());
    match (input, buffer, pipeline, output) {
        (Ok(input), Ok(buffer), Ok(pipeline), Ok(output)) if lints.is_empty() => Ok(BuiltStream {
            input,
            buffer,
            pipeline,
            output,
            output_type: component_type(&config.output),
            output_label: config
                .output
                .get("label")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_owned(),
            warnings,
        }),
        _ => {
            lints.sort_by_key(|l| (l.line, l.col));
            // A resource used in several places reports its problem once.
            lints.dedup_by(|a, b| (a.line, a.col, &a.message) == (b.line, b.col, &b.message));
            Err(lints)
        }
    }
}

/// The problems of `config`'s processor and output resources, and its
/// refused cache resources. Those resources are built where they are used;
/// building each once here finds the problems of unused ones too.
fn component_resource_lints(builder: &mut Builder<'_>, config: &Config) -> Vec<Lint> {
    let mut lints = Vec::new();
    for node in &config.processor_resources {
        lints.extend(builder.processor(node).err().unwrap_or_default());
    }
    for node in &config.output_resources {
        lints.extend(builder.output(node).err().unwrap_or_default());
    }
    lints
}

/// Builds the config's rate limit and cache resources into `resources` and
/// registers its input, processor and output resources by label; what is
/// wrong with them comes back as lints.
pub(crate) fn add_resources(
    env: &Environment,
    config: &Config,
    resources: &mut Resources,
    warnings: &mut Vec<Lint>,
) -> Vec<Lint> {
    let mut lints = Vec::new();
    {
        let mut builder = Builder::new(env, resources);
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
    lints.extend(add_caches(
        env,
        &config.cache_resources,
        resources,
        warnings,
    ));
    lints.extend(add_component_resources(config, resources));
    lints
}

/// Builds the cache resources `nodes` into `resources`. A cache may use
/// others (`multilevel`), in any order of the list: each pass builds what
/// it can with the caches of the passes before, until a pass adds nothing.
/// Each cache's build warnings go to `warnings` once.
fn add_caches(
    env: &Environment,
    nodes: &[Node],
    resources: &mut Resources,
    warnings: &mut Vec<Lint>,
) -> Vec<Lint> {
    let mut lints = Vec::new();
    let mut pending: Vec<(&Node, String)> = Vec::new();
    for node in nodes {
        match node.get("label").and_then(Node::as_str) {
            Some(label) => pending.push((node, label.to_owned())),
            None => lints.push(Lint::error(node.mark, "cache resource requires a label")),
        }
    }
    loop {
        let mut builder = Builder::new(env, resources);
        let mut built = Vec::new();
        let mut failed = Vec::new();
        for (node, label) in pending {
            match builder.cache(node) {
                Ok(cache) => {
                    warnings.extend(builder.take_warnings());
                    built.push((label, cache));
                }
                Err(l) => {
                    // Kept for the pass that builds it, if one does.
                    builder.take_warnings();
                    failed.push((node, label, l));
                }
            }
        }
        if built.is_empty() || failed.is_empty() {
            lints.extend(failed.into_iter().flat_map(|(_, _, l)| l));
            for (label, cache) in built {
                resources.add_cache(label, cache);
            }
            return lints;
        }
        for (label, cache) in built {
            resources.add_cache(label, cache);
        }
        pending = failed
            .into_iter()
            .map(|(node, label, _)| (node, label))
            .collect();
    }
}

/// Registers the input, processor and output resources by label; a missing
/// or repeated label is a lint.
fn add_component_resources(config: &Config, resources: &mut Resources) -> Vec<Lint> {
    let mut lints = Vec::new();
    for (kind, list) in [
        (ComponentKind::Input, &config.input_resources),
        (ComponentKind::Processor, &config.processor_resources),
        (ComponentKind::Output, &config.output_resources),
    ] {
        let mut seen = std::collections::HashSet::new();
        for node in list {
            match node.get("label").and_then(Node::as_str) {
                Some(label) if !label.is_empty() => {
                    if !seen.insert(label) {
                        lints.push(Lint::error(
                            node.mark,
                            format!("{kind} resource label '{label}' collides with a previously defined resource"),
                        ));
                    }
                    resources.add_component(kind, label.to_owned(), node.clone());
                }
                _ => lints.push(Lint::error(
                    node.mark,
                    format!("{kind} resource requires a label"),
                )),
            }
        }
    }
    lints
}

/// The shared server's TLS, authentication and CORS from the `http`
/// section, or its problems at their fields.
pub(crate) fn http_server_options(
    config: &Config,
    root: &Node,
) -> Result<ServerOptions, Vec<Lint>> {
    ServerOptions::from_config(&config.http).map_err(|problems| {
        problems
            .into_iter()
            .map(|(field, message)| {
                let mark = root
                    .get("http")
                    .and_then(|h| h.get(field).or(Some(h)))
                    .map_or(root.mark, |n| n.mark);
                Lint::error(mark, message)
            })
            .collect()
    })
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
