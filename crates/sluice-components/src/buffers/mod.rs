//! Buffers, one file per Benthos component, for the top-level `buffer`
//! section.

pub(crate) mod memory;
pub(crate) mod none;
pub(crate) mod system_window;

use std::time::Duration;

use sluice_core::config::{Config, Lint, LintLevel, Mark, Node, NodeKind, parse_go_duration};

/// Benthos's default `http_server.timeout`.
const HTTP_SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Startup and lint warnings for a config whose `buffer` (the node under
/// the `buffer` key) stands between `http_server` callers and a
/// synchronous response that Benthos's semantics then make useless.
pub fn buffer_response_warnings(config: &Config, buffer: &Node) -> Vec<Lint> {
    let mut servers = Vec::new();
    find_key(&config.input, "http_server", &mut servers);
    let mut responders = Vec::new();
    for node in &config.pipeline.processors {
        find_responders(node, &mut responders);
    }
    find_responders(&config.output, &mut responders);
    let (Some(server), Some(responder)) = (servers.first(), responders.first()) else {
        return Vec::new();
    };
    let warn = |mark: Mark, message: String| Lint {
        line: mark.line,
        col: mark.col,
        level: LintLevel::Warning,
        message,
    };
    let (kind, settings) = buffer_type(buffer);
    match kind {
        "memory" => vec![warn(
            buffer.mark,
            format!(
                "the memory buffer acknowledges each http_server request once it is buffered, so the caller gets an empty 200 before the synchronous response at line {} is made (as in Benthos); answer from the input's processors instead",
                responder.line
            ),
        )],
        "system_window" => {
            let field = |name: &str| {
                settings
                    .and_then(|s| s.get(name))
                    .and_then(Node::as_str)
                    .and_then(|text| parse_go_duration(text).ok())
                    .unwrap_or_default()
            };
            let longest_wait = field("size") + field("allowed_lateness");
            let timeout = server
                .get("timeout")
                .and_then(Node::as_str)
                .and_then(|text| parse_go_duration(text).ok())
                .unwrap_or(HTTP_SERVER_TIMEOUT);
            if longest_wait <= timeout {
                return Vec::new();
            }
            vec![warn(
                buffer.mark,
                format!(
                    "the system_window buffer holds each http_server request until its window is delivered, up to {}, longer than the http_server timeout of {}: callers still waiting then get 408 and the synchronous response at line {} answers nobody",
                    sluice_core::config::GoDuration(longest_wait),
                    sluice_core::config::GoDuration(timeout),
                    responder.line
                ),
            )]
        }
        _ => Vec::new(),
    }
}

/// The buffer's type and the node of its settings.
fn buffer_type(buffer: &Node) -> (&str, Option<&Node>) {
    if let Some(name) = buffer.get("type").and_then(Node::as_str) {
        return (name, buffer.get(name));
    }
    buffer
        .as_map()
        .and_then(|entries| entries.first())
        .and_then(|(key, value)| key.as_str().map(|k| (k, Some(value))))
        .unwrap_or(("none", None))
}

/// Every node under a map key `key` anywhere in `node`.
fn find_key<'n>(node: &'n Node, key: &str, found: &mut Vec<&'n Node>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                if k.as_str() == Some(key) {
                    found.push(v);
                }
                find_key(v, key, found);
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                find_key(item, key, found);
            }
        }
        NodeKind::Null | NodeKind::Scalar(..) => {}
    }
}

/// Where `node` makes a synchronous response: `sync_response` processors
/// and outputs, and `propagate_response: true`.
fn find_responders(node: &Node, found: &mut Vec<Mark>) {
    if let NodeKind::Map(entries) = &node.kind {
        for (k, v) in entries {
            match k.as_str() {
                Some("sync_response") => found.push(k.mark),
                Some("propagate_response") if v.as_str() == Some("true") => found.push(k.mark),
                _ => {}
            }
        }
    }
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().for_each(|(_, v)| find_responders(v, found)),
        NodeKind::Seq(items) => items.iter().for_each(|item| find_responders(item, found)),
        NodeKind::Null | NodeKind::Scalar(..) => {}
    }
}
