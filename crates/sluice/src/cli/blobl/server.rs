//! `sluice blobl server`: a local web page for writing a mapping against an
//! input document and seeing the result as you type (Benthos's
//! `blobl server`). `GET /` serves the page, `POST /execute` runs a mapping.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use sluice_components::http::conn_limits::AcceptBackoff;

use super::execute::{ExecuteRequest, execute};
use super::origin;

/// The page, self-contained: no script, style or font comes from elsewhere.
const PAGE: &str = include_str!("playground.html");
/// Where the page expects the initial mapping and input.
const PAGE_STATE_PLACEHOLDER: &str = "{{INITIAL_STATE}}";

/// The largest `POST /execute` body accepted.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What the page starts with when no file is given (as Benthos).
const DEFAULT_MAPPING: &str = "root = this";
const DEFAULT_INPUT: &str = r#"{"message":"hello world"}"#;

/// Arguments of `sluice blobl server`.
#[derive(clap::Args)]
pub(super) struct ServerArgs {
    /// The port to listen on; 0 picks a free one.
    #[arg(short = 'p', long = "port", default_value_t = 4195)]
    port: u16,
    /// The host to listen on.
    #[arg(long = "host", default_value = "localhost")]
    host: String,
    /// Accepted for compatibility: sluice never opens a browser itself.
    #[arg(short = 'n', long = "no-open")]
    no_open: bool,
    /// A mapping file to start the page with.
    #[arg(short = 'm', long = "mapping-file")]
    mapping_file: Option<PathBuf>,
    /// An input file to start the page with.
    #[arg(short = 'i', long = "input-file")]
    input_file: Option<PathBuf>,
    /// Write edits of the mapping and input back to --mapping-file and
    /// --input-file, creating them if missing.
    #[arg(short = 'w', long = "write")]
    write: bool,
}

/// The mapping and input last sent by the page.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
struct Documents {
    mapping: String,
    input: String,
}

/// The files edits are written back to (`--write`).
struct WriteBack {
    mapping_file: Option<PathBuf>,
    input_file: Option<PathBuf>,
}

pub(super) fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let docs = Documents {
        mapping: read_initial(
            args.mapping_file.as_deref(),
            args.write,
            DEFAULT_MAPPING,
            "mapping",
        )?,
        input: read_initial(
            args.input_file.as_deref(),
            args.write,
            DEFAULT_INPUT,
            "input",
        )?,
    };
    let write_back = args.write.then(|| WriteBack {
        mapping_file: args.mapping_file.clone(),
        input_file: args.input_file.clone(),
    });
    // The page sends one request per pause in typing: one thread is plenty.
    let runtime = crate::cli::runtime::current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(serve(args, docs, write_back))?;
    Ok(ExitCode::SUCCESS)
}

/// The text of `path`, or `default` without a path. With `--write` a missing
/// file is fine: it is created on the first edit.
fn read_initial(
    path: Option<&Path>,
    write: bool,
    default: &str,
    what: &str,
) -> anyhow::Result<String> {
    let Some(path) = path else {
        return Ok(default.to_owned());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(err) if write && err.kind() == std::io::ErrorKind::NotFound => Ok(default.to_owned()),
        Err(err) => {
            Err(err).with_context(|| format!("failed to read {what} file {}", path.display()))
        }
    }
}

async fn serve(
    args: ServerArgs,
    docs: Documents,
    write_back: Option<WriteBack>,
) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let listener = bind(&args.host, args.port).await?;
    let addr = listener
        .local_addr()
        .context("failed to read the bound address")?;
    eprintln!("Starting Bloblang playground at http://{addr}");
    eprintln!(
        "This server is meant for trying mappings on your own machine: mappings can read \
         environment variables and files, so never expose it to a network."
    );
    if !args.no_open {
        eprintln!("Open http://{addr} in a browser to use it.");
    }

    let (docs_tx, docs_rx) = watch::channel(docs);
    let stop_writer = CancellationToken::new();
    let writer =
        write_back.map(|files| tokio::spawn(write_back_edits(files, docs_rx, stop_writer.clone())));
    let docs_tx = Arc::new(docs_tx);
    let bound_host: Arc<str> = Arc::from(args.host.as_str());
    let mut backoff = AcceptBackoff::default();

    tokio::pin!(shutdown);
    loop {
        let (stream, _remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff.succeeded();
                    pair
                }
                Err(err) => {
                    // Out of file descriptors: wait rather than spin; the
                    // waits grow to a second, so this prints about once one.
                    eprintln!("failed to accept a connection: {err}");
                    tokio::time::sleep(backoff.failed(&err)).await;
                    continue;
                }
            },
        };
        let docs = Arc::clone(&docs_tx);
        let bound_host = Arc::clone(&bound_host);
        let service = hyper::service::service_fn(move |req| {
            handle(req, Arc::clone(&docs), Arc::clone(&bound_host))
        });
        tokio::spawn(async move {
            // A browser closing its connection mid-request is not worth reporting.
            drop(
                hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await,
            );
        });
    }
    // Open connections still hold the sender, so the writer is told to stop
    // rather than waiting for the channel to close.
    stop_writer.cancel();
    if let Some(writer) = writer {
        drop(writer.await);
    }
    Ok(())
}

/// Listens on `host:port`, preferring IPv4 as Benthos does for `localhost`.
async fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("failed to resolve host {host}"))?
        .collect();
    addrs.sort_by_key(|addr| addr.is_ipv6());
    let mut last_err = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(err) => last_err = Some(err),
        }
    }
    match last_err {
        Some(err) => Err(err).with_context(|| format!("failed to listen on {host}:{port}")),
        None => anyhow::bail!("host {host} resolves to no address"),
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed before this
/// returns, so a signal sent as soon as the address is logged is caught.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("failed to handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Writes each new mapping and input to their files until `stop`. A watch
/// channel only keeps the latest value, so a burst of edits becomes one write.
async fn write_back_edits(
    files: WriteBack,
    mut docs: watch::Receiver<Documents>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            changed = docs.changed() => if changed.is_err() { return },
            () = stop.cancelled() => {
                // An edit that arrived while stopping is still saved.
                if docs.has_changed().unwrap_or(false) {
                    let latest = docs.borrow_and_update().clone();
                    write_files(&files, latest).await;
                }
                return;
            }
        }
        let latest = docs.borrow_and_update().clone();
        write_files(&files, latest).await;
    }
}

async fn write_files(files: &WriteBack, docs: Documents) {
    for (path, text) in [
        (&files.mapping_file, docs.mapping),
        (&files.input_file, docs.input),
    ] {
        let Some(path) = path else { continue };
        if let Err(err) = tokio::fs::write(path, text).await {
            eprintln!("failed to write {}: {err}", path.display());
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    docs: Arc<watch::Sender<Documents>>,
    bound_host: Arc<str>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(reason) = origin::foreign_request(req.headers(), &bound_host) {
        eprintln!("refused a request: {reason}");
        return Ok(error_response(StatusCode::FORBIDDEN, &reason));
    }
    Ok(match (req.method(), req.uri().path()) {
        (&Method::POST, "/execute") if !origin::is_json(req.headers()) => error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body of POST /execute must be sent as Content-Type: application/json",
        ),
        (&Method::GET, "/") => page(&docs.borrow()),
        (&Method::POST, "/execute") => execute_request(req, &docs).await,
        (_, "/") => method_not_allowed("GET"),
        (_, "/execute") => method_not_allowed("POST"),
        _ => error_response(StatusCode::NOT_FOUND, "not found"),
    })
}

/// The page with the current mapping and input filled in.
fn page(docs: &Documents) -> Response<Full<Bytes>> {
    let state = serde_json::to_string(docs).expect("strings always serialise");
    // The state sits in a <script> element: escaping `<` keeps a `</script>`
    // in a mapping from ending it, and `\u003c` means the same in JSON.
    let state = state.replace('<', "\\u003c");
    let body = PAGE.replace(PAGE_STATE_PLACEHOLDER, &state);
    let mut res = Response::new(Full::new(Bytes::from(body)));
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn execute_request(
    req: Request<Incoming>,
    docs: &watch::Sender<Documents>,
) -> Response<Full<Bytes>> {
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            let mut res = error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body is larger than the limit of {MAX_BODY_BYTES} bytes"),
            );
            // The rest of the body is never read, so the connection cannot
            // carry another request: tell the client not to reuse it.
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return res;
        }
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("failed to read request body: {err}"),
            );
        }
    };
    let request: ExecuteRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!(
                    "invalid request body: {err}; expected a JSON object \
                     {{\"mapping\": string, \"input\": string, \"metadata\": object}}"
                ),
            );
        }
    };
    let latest = Documents {
        mapping: request.mapping.clone(),
        input: request.input.clone(),
    };
    docs.send_if_modified(|current| {
        let changed = *current != latest;
        *current = latest;
        changed
    });
    // A mapping may be costly (a large `range`): run it off the thread that
    // serves connections so the page stays responsive.
    let response = match tokio::task::spawn_blocking(move || execute(&request)).await {
        Ok(response) => response,
        Err(err) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("executing the mapping failed: {err}"),
            );
        }
    };
    let body = serde_json::to_vec(&response).expect("the response always serialises");
    json_response(StatusCode::OK, body)
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut res = error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// An error as `{"error": message}`.
fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .expect("a string always serialises");
    json_response(status, body)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
