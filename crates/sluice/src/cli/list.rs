//! `sluice list`: the components sluice supports, as text, JSON or a JSON
//! Schema of the whole config.

use std::process::ExitCode;

use serde_json::{Map, Value, json};
use sluice_core::config::json_schema::config_schema_where;
use sluice_core::config::{ComponentKind, did_you_mean};
use sluice_core::environment::{Environment, Status};

use super::load::environment;

/// Arguments of `sluice list`.
#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// Print the list as text, json, jsonschema (the whole config) or cue (not supported yet).
    #[arg(long, default_value = "text")]
    format: String,
    /// Only list components of this status: stable, beta or experimental.
    #[arg(long)]
    status: Option<String>,
    /// Kinds to list (inputs, processors, outputs, rate-limits, caches, buffers, metrics,
    /// tracers, scanners, bloblang-functions, bloblang-methods). With `--format jsonschema`,
    /// a component kind followed by names prints a schema of those components only.
    types: Vec<String>,
}

/// Every kind `list` knows, in Benthos's order.
const KINDS: [&str; 11] = [
    "inputs",
    "processors",
    "outputs",
    "caches",
    "rate-limits",
    "buffers",
    "metrics",
    "tracers",
    "scanners",
    "bloblang-functions",
    "bloblang-methods",
];

pub(crate) fn run(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let env = environment();
    let status = args.status.as_deref().map(parse_status).transpose()?;
    if let Some(unknown) = args.types.iter().find(|t| !KINDS.contains(&t.as_str()))
        && args.format != "jsonschema"
    {
        anyhow::bail!("{}", unknown_kind(unknown));
    }
    match args.format.as_str() {
        "text" => {
            let lists = lists(&env, status);
            let mut first = true;
            for (kind, names) in lists.iter().filter(|(kind, _)| selected(args, kind)) {
                if !first {
                    println!();
                }
                first = false;
                println!("{}:", title(kind));
                for name in names {
                    println!("  - {name}");
                }
            }
        }
        "json" => {
            let map: Map<String, Value> = lists(&env, status)
                .into_iter()
                .filter(|(kind, _)| selected(args, kind))
                .map(|(kind, names)| (kind.to_owned(), json!(names)))
                .collect();
            println!("{}", Value::Object(map));
        }
        "jsonschema" => {
            let schema = json_schema(&env, status, &args.types)?;
            println!("{}", serde_json::to_string_pretty(&schema)?);
        }
        other => anyhow::bail!("list format '{other}' is not supported yet"),
    }
    Ok(ExitCode::SUCCESS)
}

fn selected(args: &ListArgs, kind: &str) -> bool {
    args.types.is_empty() || args.types.iter().any(|t| t == kind)
}

fn unknown_kind(kind: &str) -> String {
    let message = format!(
        "unknown component type '{kind}': expected one of {}",
        KINDS.join(", ")
    );
    match did_you_mean(kind, KINDS.iter().copied()) {
        Some(near) => format!("{message} (did you mean {near}?)"),
        None => message,
    }
}

fn parse_status(text: &str) -> anyhow::Result<Status> {
    match text {
        "stable" => Ok(Status::Stable),
        "beta" => Ok(Status::Beta),
        "experimental" => Ok(Status::Experimental),
        other => anyhow::bail!("unknown status '{other}': expected stable, beta or experimental"),
    }
}

/// The names of every kind, components narrowed to `status`. sluice has no
/// metrics, tracers or scanners components: their lists are empty.
fn lists(env: &Environment, status: Option<Status>) -> Vec<(&'static str, Vec<&'static str>)> {
    let keep = |s: Status| status.is_none_or(|wanted| wanted == s);
    let bloblang = sluice_bloblang::env::Environment::standard_ref();
    KINDS
        .iter()
        .map(|&kind| {
            let names: Vec<&'static str> = match kind {
                "inputs" => env
                    .inputs()
                    .filter(|s| keep(s.status))
                    .map(|s| s.name)
                    .collect(),
                "processors" => env
                    .processors()
                    .filter(|s| keep(s.status))
                    .map(|s| s.name)
                    .collect(),
                "outputs" => env
                    .outputs()
                    .filter(|s| keep(s.status))
                    .map(|s| s.name)
                    .collect(),
                "rate-limits" => env
                    .rate_limits()
                    .filter(|s| keep(s.status))
                    .map(|s| s.name)
                    .collect(),
                "caches" => env
                    .caches()
                    .filter(|s| keep(s.status))
                    .map(|s| s.name)
                    .collect(),
                "buffers" => env
                    .buffers()
                    .filter(|s| keep(s.status))
                    .map(|s| s.name)
                    .collect(),
                "bloblang-functions" => bloblang.function_names(),
                "bloblang-methods" => bloblang.method_names(),
                _ => Vec::new(),
            };
            (kind, names)
        })
        .collect()
}

/// `rate-limits` → `Rate Limits`, as Benthos titles its sections.
fn title(kind: &str) -> String {
    kind.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn component_kind(kind: &str) -> Option<ComponentKind> {
    match kind {
        "inputs" => Some(ComponentKind::Input),
        "processors" => Some(ComponentKind::Processor),
        "outputs" => Some(ComponentKind::Output),
        "rate-limits" => Some(ComponentKind::RateLimit),
        "caches" => Some(ComponentKind::Cache),
        "buffers" => Some(ComponentKind::Buffer),
        _ => None,
    }
}

/// The schema of the whole config, or with a component kind and names, of
/// a node holding one of those components.
fn json_schema(
    env: &Environment,
    status: Option<Status>,
    types: &[String],
) -> anyhow::Result<Value> {
    let status_of = |kind: ComponentKind, name: &str| -> Option<Status> {
        match kind {
            ComponentKind::Input => env.inputs().find(|s| s.name == name).map(|s| s.status),
            ComponentKind::Processor => env.processors().find(|s| s.name == name).map(|s| s.status),
            ComponentKind::Output => env.outputs().find(|s| s.name == name).map(|s| s.status),
            ComponentKind::RateLimit => {
                env.rate_limits().find(|s| s.name == name).map(|s| s.status)
            }
            ComponentKind::Cache => env.caches().find(|s| s.name == name).map(|s| s.status),
            ComponentKind::Buffer => env.buffers().find(|s| s.name == name).map(|s| s.status),
            _ => None,
        }
    };
    let schema = config_schema_where(env, |kind, name| {
        status.is_none_or(|wanted| status_of(kind, name) == Some(wanted))
    });
    let [kind, names @ ..] = types else {
        return Ok(schema);
    };
    if !KINDS.contains(&kind.as_str()) {
        anyhow::bail!("{}", unknown_kind(kind));
    }
    if names.is_empty() {
        return Ok(schema);
    }
    let Some(component) = component_kind(kind) else {
        anyhow::bail!("a schema of single {kind} is not supported yet");
    };
    let alternatives = schema["definitions"][component.as_str()]["anyOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let known: Vec<&str> = alternatives
        .iter()
        .filter_map(|alt| alt["title"].as_str())
        .collect();
    let mut chosen = Vec::new();
    for name in names {
        let Some(alt) = alternatives
            .iter()
            .find(|alt| alt["title"] == name.as_str())
        else {
            let message = format!("{component} type '{name}' was not recognised");
            match did_you_mean(name, known.iter().copied()) {
                Some(near) => anyhow::bail!("{message} (did you mean {near}?)"),
                None => anyhow::bail!("{message}"),
            }
        };
        chosen.push(alt.clone());
    }
    Ok(json!({
        "$schema": schema["$schema"],
        "title": format!("sluice {component}: {}", names.join(", ")),
        "anyOf": chosen,
        "definitions": schema["definitions"],
    }))
}
