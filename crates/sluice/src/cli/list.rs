//! `sluice list`: the components sluice supports.

use std::process::ExitCode;

use super::load::environment;

/// Arguments of `sluice list`.
#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    format: String,
    /// Component kinds to list (inputs, processors, outputs, rate-limits).
    types: Vec<String>,
}

pub(crate) fn run(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let env = environment();
    let kinds: [(&str, Vec<&str>); 4] = [
        ("inputs", env.inputs().map(|s| s.name).collect()),
        ("processors", env.processors().map(|s| s.name).collect()),
        ("outputs", env.outputs().map(|s| s.name).collect()),
        ("rate-limits", env.rate_limits().map(|s| s.name).collect()),
    ];
    let selected: Vec<_> = kinds
        .iter()
        .filter(|(kind, _)| args.types.is_empty() || args.types.iter().any(|t| t == kind))
        .collect();
    match args.format.as_str() {
        "json" => {
            let map: serde_json::Map<String, serde_json::Value> = selected
                .iter()
                .map(|(kind, names)| ((*kind).to_owned(), serde_json::json!(names)))
                .collect();
            println!("{}", serde_json::Value::Object(map));
        }
        "text" => {
            for (kind, names) in selected {
                println!("{}:", capitalise(kind));
                for name in names {
                    println!("  - {name}");
                }
                println!();
            }
        }
        other => anyhow::bail!("list format '{other}' is not supported yet"),
    }
    Ok(ExitCode::SUCCESS)
}

fn capitalise(kind: &str) -> String {
    let mut chars = kind.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
