//! HTTP cases, beyond Benthos: run the whole stream in-process with its
//! `http_server` inputs served on an ephemeral loopback port, send one real
//! request and check the reply. Mocks replace what would reach outside.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sluice_components::SharedHttpServer;
use sluice_core::config::{Config, Node, NodeKind, from_node_all};
use sluice_core::environment::Environment;
use sluice_core::metrics::Metrics;
use sluice_core::runtime::stream::Stream;
use tokio_util::sync::CancellationToken;

use super::super::load::{build_stream, component_type, format_lint};
use super::condition::json_check;
use super::definition::{Case, HttpRequest, HttpResponse};
use super::json::Mode;
use super::tree;

/// How long a request may take before the case fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs an HTTP case and returns its failures, one reason each.
pub(super) async fn run(
    env: &Environment,
    config_path: &Path,
    case: &Case,
    request: &HttpRequest,
    response: &HttpResponse,
    vars: &HashMap<String, String>,
) -> Vec<String> {
    match exchange(env, config_path, case, request, vars).await {
        Ok(reply) => check(response, &reply),
        Err(err) => vec![format!("{err:#}")],
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn exchange(
    env: &Environment,
    config_path: &Path,
    case: &Case,
    request: &HttpRequest,
    vars: &HashMap<String, String>,
) -> anyhow::Result<Reply> {
    let mut root = tree::load(config_path, vars)?;
    tree::apply_mocks(&mut root, &case.mocks)?;
    let servers = root.get_mut("input").map_or(0, serve_from_shared);
    if servers == 0 {
        let input = root
            .get("input")
            .map_or_else(|| "stdin".to_owned(), component_type);
        anyhow::bail!("http_request cases need an http_server input, but the input is '{input}'");
    }
    let lints_text = |lints: &[sluice_core::config::Lint]| {
        lints
            .iter()
            .map(|l| format_lint(config_path, l))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let config: Config = from_node_all(&root)
        .map_err(|lints| anyhow::anyhow!("failed to read config: {}", lints_text(&lints)))?;
    let metrics = Metrics::default();
    let shared = SharedHttpServer::new(&config.http.root_path, Some(metrics.clone()));
    let built = build_stream(
        env,
        &config,
        &root,
        &metrics,
        Some(Arc::clone(&shared)),
        None,
        false,
    )
    .map_err(|lints| anyhow::anyhow!("failed to build the stream: {}", lints_text(&lints)))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("failed to bind a loopback port")?;
    let addr = listener
        .local_addr()
        .context("failed to read the bound port")?;
    let server_stop = CancellationToken::new();
    // Plain HTTP on loopback: the case talks to the stream, not to the
    // `http` section's TLS or authentication.
    let server = tokio::spawn(Arc::clone(&shared).serve(
        listener,
        sluice_components::ServerOptions::default(),
        server_stop.clone(),
    ));

    let threads = match config.pipeline.threads {
        n if n > 0 => usize::try_from(n).unwrap_or(1),
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let stream = Stream {
        input: built.input,
        buffer: built.buffer,
        pipeline: built.pipeline,
        threads,
        output: built.output,
        output_type: built.output_type,
        output_label: built.output_label,
        shutdown_timeout: config.shutdown_timeout.0,
        metrics,
        tracer: None,
    };
    let stop = CancellationToken::new();
    let stream_task = tokio::spawn(stream.run(stop.clone(), |_| {}));

    let reply = send(addr, request).await;

    stop.cancel();
    let drain = config.shutdown_timeout.0 + Duration::from_secs(1);
    if tokio::time::timeout(drain, stream_task).await.is_err() {
        tracing::warn!("The stream did not stop in time.");
    }
    server_stop.cancel();
    if let Err(err) = server.await {
        tracing::warn!(error = %err, "HTTP server task failed.");
    }
    reply
}

/// Makes every `http_server` under the input register its routes on the
/// shared server this case binds, instead of its own `address`. Returns how
/// many there are.
fn serve_from_shared(node: &mut Node) -> usize {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            let mut found = 0;
            for (key, value) in entries.iter_mut() {
                if key.as_str() == Some("http_server") {
                    found += 1;
                    if let NodeKind::Map(fields) = &mut value.kind {
                        fields.retain(|(k, _)| k.as_str() != Some("address"));
                    }
                }
                found += serve_from_shared(value);
            }
            found
        }
        NodeKind::Seq(items) => items.iter_mut().map(serve_from_shared).sum(),
        NodeKind::Null | NodeKind::Scalar(..) => 0,
    }
}

async fn send(addr: std::net::SocketAddr, request: &HttpRequest) -> anyhow::Result<Reply> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("failed to build an HTTP client")?;
    let method = reqwest::Method::from_bytes(request.verb.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("invalid http_request verb '{}'", request.verb))?;
    let path = if request.path.starts_with('/') {
        request.path.clone()
    } else {
        format!("/{}", request.path)
    };
    let url = format!("http://{addr}{path}");
    let mut builder = client.request(method, &url).body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let res = builder
        .send()
        .await
        .with_context(|| format!("http_request {} {path} failed", request.verb))?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .bytes()
        .await
        .context("failed to read the response body")?
        .to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn check(expected: &HttpResponse, reply: &Reply) -> Vec<String> {
    let mut failures = Vec::new();
    let body = String::from_utf8_lossy(&reply.body);
    if let Some(status) = expected.status
        && status != reply.status
    {
        failures.push(format!(
            "http_response: status mismatch\n  expected: {status}\n  received: {}\n  body: {body}",
            reply.status
        ));
    }
    for (name, value) in &expected.headers {
        match reply.headers.get(name.as_str()) {
            None => failures.push(format!(
                "http_response: header '{name}' expected but not found"
            )),
            Some(actual) => {
                let actual = String::from_utf8_lossy(actual.as_bytes());
                if actual != value.as_str() {
                    failures.push(format!(
                        "http_response: header '{name}' mismatch\n  expected: {value}\n  received: {actual}"
                    ));
                }
            }
        }
    }
    if let Some(expected_body) = &expected.body
        && expected_body.as_str() != body
    {
        failures.push(format!(
            "http_response: body mismatch\n  expected: {expected_body}\n  received: {body}"
        ));
    }
    for (name, doc, mode) in [
        ("json_equals", &expected.json_equals, Mode::Equals),
        ("json_contains", &expected.json_contains, Mode::Contains),
    ] {
        if let Some(doc) = doc
            && let Err(reason) = json_check(doc, &reply.body, mode)
        {
            failures.push(format!("http_response: {name}: {reason}"));
        }
    }
    failures
}
