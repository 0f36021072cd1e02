//! `sluice blobl`: run a mapping over newline-delimited documents on stdin;
//! `sluice blobl server` serves a playground page for writing mappings.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use sluice_bloblang::{Mapping, Metadata, Root, SimpleMessage, Value};

mod execute;
mod origin;
mod server;

/// Arguments of `sluice blobl`.
#[derive(clap::Args)]
pub(crate) struct BloblArgs {
    #[command(subcommand)]
    command: Option<BloblCommand>,
    /// The mapping to execute.
    mapping: Option<String>,
    /// Read the mapping from a file.
    #[arg(short = 'f', long = "file")]
    file: Option<std::path::PathBuf>,
    /// Feed each input line to the mapping as raw bytes: `this` fails, `content()` works.
    #[arg(short = 'r', long = "raw")]
    raw: bool,
    /// Pretty-print structured results.
    #[arg(short = 'p', long = "pretty")]
    pretty: bool,
    /// Input metadata as key=value (repeatable).
    #[arg(short = 'm', long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Accepted for compatibility; messages are processed in order on one thread.
    #[arg(short = 't', long = "threads", default_value_t = 1)]
    threads: usize,
    /// Accepted for compatibility: the longest line read from stdin.
    #[arg(long = "max-token-length", default_value_t = 0)]
    max_token_length: usize,
    /// Read an input document from this argument instead of stdin.
    #[arg(short = 'i', long = "input")]
    input: Option<String>,
    /// The largest value, in bytes, one method may produce.
    #[arg(long = "max-bytes", default_value_t = sluice_bloblang::budget::DEFAULT_MAX_VALUE_BYTES)]
    max_bytes: usize,
    /// The most memory, in bytes, one execution of the mapping may hold.
    #[arg(long = "max-memory", default_value_t = sluice_bloblang::budget::DEFAULT_MAX_MEMORY_BYTES)]
    max_memory: usize,
}

#[derive(clap::Subcommand)]
enum BloblCommand {
    /// Serve a page for writing and trying mappings live. For local use only:
    /// mappings can read environment variables and files.
    Server(server::ServerArgs),
}

/// The indent of `--pretty` output, as Go's `json.MarshalIndent` in Benthos.
const PRETTY_INDENT: &str = "  ";

pub(crate) fn run(args: BloblArgs) -> anyhow::Result<ExitCode> {
    sluice_bloblang::budget::set_max_value_bytes(args.max_bytes);
    sluice_bloblang::budget::set_max_memory_bytes(args.max_memory);
    if let Some(BloblCommand::Server(server_args)) = args.command {
        return server::run(server_args);
    }
    let (src, dir) = match (&args.file, &args.mapping) {
        (Some(path), _) => {
            let src = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read mapping file {}", path.display()))?;
            (src, path.parent().map(std::path::Path::to_path_buf))
        }
        (None, Some(m)) => (m.clone(), None),
        (None, None) => anyhow::bail!("a mapping must be provided as an argument or with --file"),
    };
    let mapping = match Mapping::parse_in(&src, dir.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("failed to parse mapping: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut metadata = Metadata::new();
    for kv in &args.meta {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        metadata.insert(k.into(), Value::from(v));
    }
    let _ = (args.threads, args.max_token_length);
    let indent = args.pretty.then_some(PRETTY_INDENT);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut handle = |line: &[u8]| -> anyhow::Result<()> {
        // With --raw, `this` is the line's bytes instead of parsed JSON.
        let msg = if args.raw {
            SimpleMessage::from_value(sluice_bloblang::Value::Bytes(line.to_vec()))
        } else {
            SimpleMessage::new(line.to_vec())
        }
        .with_metadata(metadata.clone());
        let batch = [msg];
        match mapping.exec(&batch[..], 0) {
            Ok(res) => {
                let bytes = match res.root {
                    Root::Deleted => Vec::new(),
                    Root::Nothing => render_passthrough(&batch[0], indent),
                    Root::Value(v) => render(&v, indent),
                };
                out.write_all(&bytes)?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                out.flush()?;
                eprintln!("failed to execute mapping: {e}");
            }
        }
        Ok(())
    };
    if let Some(input) = &args.input {
        handle(input.as_bytes())?;
    } else {
        let stdin = std::io::stdin();
        let mut reader = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .context("failed to read stdin")?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            handle(&line)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A mapping's result as `blobl` prints it: strings and bytes raw, other
/// values as JSON, indented by `indent` when given.
fn render(v: &Value, indent: Option<&str>) -> Vec<u8> {
    match (v, indent) {
        (Value::String(_), _) => v.to_message_bytes(),
        (Value::Bytes(b), _) => b.clone(),
        (Value::Timestamp(_), _) => v.to_interp_string().into_bytes(),
        (other, Some(indent)) => other.to_json_indented(indent, true),
        (other, None) => other.to_json_bytes_html_escaped(),
    }
}

/// The input document unchanged, for a mapping that never assigned `root`.
fn render_passthrough(msg: &SimpleMessage, indent: Option<&str>) -> Vec<u8> {
    use sluice_bloblang::MessageRef as _;
    match msg.structured() {
        Ok(v) => render(v, indent),
        Err(_) => msg.content().to_vec(),
    }
}
