//! `http_server`: receives messages over HTTP POST (and WebSocket) and
//! answers each request with its synchronous response.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Interpolation, Value};
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::{GoDuration, Node};
use sluice_core::deadline::Deadline;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message, MessageContext, MetadataSource};
use sluice_core::rate_limit::RateLimit;
use sluice_core::response::ResponseStore;
use sluice_core::runtime::stream::Dispatcher;
use sluice_core::trace::{TraceContext, Tracer};
use sluice_core::transaction::{Ack, Outcome, Transaction};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::http::body::ReplyBody;
use crate::http::listeners::ListenerPool;
use crate::http::shared::SharedHttpServer;
use crate::http::sniff::detect_content_type;
use crate::http::{Handler, HttpResponse, RequestInfo, Router, error_response};
use crate::name_filter::{IncludeFilterConfig, NameFilter};

use crate::http::cors;
mod idempotency;
mod shedding;
mod stream;
mod websocket;
pub(crate) use websocket::{NextFrame, next_body, socket_config};

use idempotency::{Decision, Idempotency, IdempotencyConfig};
use shedding::LoadShedder;
use stream::StreamMode;

fn default_path() -> String {
    "/post".to_owned()
}
fn default_ws_path() -> String {
    "/post/ws".to_owned()
}
fn default_verbs() -> Vec<String> {
    vec!["POST".to_owned()]
}
fn default_timeout() -> GoDuration {
    GoDuration(Duration::from_secs(5))
}

/// Config of the `http_server` input (Benthos field names and defaults).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpServerConfig {
    /// A listen address of its own; empty serves on the shared http server.
    #[serde(default)]
    address: String,
    /// The path that receives POST requests.
    #[serde(default = "default_path")]
    path: String,
    /// The path that accepts WebSocket connections.
    #[serde(default = "default_ws_path")]
    ws_path: String,
    /// A message sent to each new WebSocket connection.
    #[serde(default)]
    ws_welcome_message: String,
    /// A message sent to a WebSocket client that is rate limited.
    #[serde(default)]
    ws_rate_limit_message: String,
    /// The HTTP methods accepted on path.
    #[serde(default = "default_verbs")]
    allowed_verbs: Vec<String>,
    /// How long a request waits for its response before it fails.
    #[serde(default = "default_timeout")]
    timeout: GoDuration,
    /// The label of a rate limit resource that requests wait on.
    #[serde(default)]
    rate_limit: String,
    /// A TLS certificate file (needs its own address).
    #[serde(default)]
    cert_file: String,
    /// A TLS key file (needs its own address).
    #[serde(default)]
    key_file: String,
    /// Cross-origin settings (needs its own address).
    #[serde(default)]
    cors: CorsConfig,
    /// How synchronous responses are sent back.
    #[serde(default)]
    sync_response: SyncResponseConfig,
    /// Socket options of its own listener.
    #[serde(default)]
    tcp: TcpConfig,
    /// The largest accepted request body, and WebSocket message, in bytes;
    /// larger ones are refused with 413 (a sluice extension; 0 means no limit).
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: usize,
    /// Requests on path answered at once at most; past it, or when the
    /// estimated wait exceeds timeout, a request gets 503 with Retry-After
    /// at once (a sluice extension; 0 means no bound).
    #[serde(default)]
    max_in_flight: usize,
    /// Requests carrying a key header are answered once: a repeat gets the
    /// stored answer from a cache resource (a sluice extension).
    #[serde(default)]
    idempotency: Option<IdempotencyConfig>,
    /// Each request's deadline travels with its messages: once the caller
    /// was answered 408 or went away, retries stop and queued writes are
    /// dropped (a sluice extension).
    #[serde(default)]
    propagate_deadline: bool,
    /// A request header giving, in seconds, a deadline shorter than
    /// timeout; setting it turns propagate_deadline on (a sluice extension).
    #[serde(default)]
    deadline_header: String,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct CorsConfig {
    /// Whether CORS headers are sent.
    enabled: bool,
    /// Origins allowed to make requests.
    allowed_origins: Vec<String>,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct TcpConfig {
    /// Whether SO_REUSEADDR is set on the listener (on Unix it always is, as
    /// by Go's listeners).
    reuse_addr: bool,
    /// Whether SO_REUSEPORT is set on the listener.
    reuse_port: bool,
}

/// 64 MiB: Go's server reads any body whole, so one request could take all
/// the memory; this bound is generous for a message and matches the
/// Bloblang value budget.
const fn default_max_body_bytes() -> usize {
    64 << 20
}

fn default_status() -> String {
    "200".to_owned()
}
fn default_headers() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "Content-Type".to_owned(),
        "application/octet-stream".to_owned(),
    )])
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SyncResponseConfig {
    /// The status code of the response; supports interpolation.
    #[serde(default = "default_status")]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    status: String,
    /// Headers of the response; values support interpolation.
    #[serde(default = "default_headers")]
    headers: BTreeMap<String, String>,
    /// Which message metadata keys become response headers.
    #[serde(default)]
    metadata_headers: IncludeFilterConfig,
    /// `sse` or `ndjson` sends each message of a multi-message answer as
    /// soon as it is stored; `none` (default) answers once, as Benthos
    /// does (a sluice extension).
    #[serde(default)]
    stream: StreamMode,
}

impl Default for SyncResponseConfig {
    fn default() -> Self {
        Self {
            status: default_status(),
            headers: default_headers(),
            metadata_headers: IncludeFilterConfig::default(),
            stream: StreamMode::None,
        }
    }
}

/// A response header value: fixed text is validated once at startup.
enum HeaderSource {
    Static(HeaderValue),
    Dynamic(Interpolation),
}

/// How a successful request is answered (spec 2.5).
struct Reply {
    status: Interpolation,
    // The status when it is fixed text that parses (the usual "200").
    static_status: Option<StatusCode>,
    headers: Vec<(HeaderName, HeaderSource)>,
    // Only a key spelled exactly `content-type` drives per-part types.
    part_content_type: Option<Interpolation>,
    // Which metadata keys become response headers.
    metadata_headers: NameFilter,
    stream: StreamMode,
}

/// State shared by the request handlers of one input.
struct Endpoint {
    sender: mpsc::Sender<Transaction>,
    timeout: Duration,
    allowed_verbs: Vec<String>,
    rate_limit: Option<Arc<dyn RateLimit>>,
    reply: Reply,
    closing: CancellationToken,
    // Set together with `closing`; reading it takes no lock, unlike asking
    // the token, which every request does twice.
    closed: AtomicBool,
    // Set once the stream runs; requests then skip the input's read loop.
    dispatcher: OnceLock<Dispatcher>,
    cors: Option<cors::Cors>,
    max_body_bytes: usize,
    ws_welcome_message: Bytes,
    ws_rate_limit_message: Bytes,
    /// Starts one span per request when tracing is on.
    tracer: Option<Arc<dyn Tracer>>,
    // Requests inside the POST handler, for a reload to wait on.
    in_progress: AtomicUsize,
    shedder: Option<LoadShedder>,
    idempotency: Option<Idempotency>,
    deadlines: Option<DeadlinePolicy>,
}

/// How requests' deadlines are set, when they propagate.
struct DeadlinePolicy {
    /// The header a caller shortens its deadline with.
    header: Option<HeaderName>,
}

/// Counts a request as in progress for as long as it lives.
struct InProgress(Arc<Endpoint>);

impl InProgress {
    fn enter(endpoint: &Arc<Endpoint>) -> Self {
        endpoint.in_progress.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(endpoint))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: HttpServerConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    let mut fail = |message: String| lints.push(sluice_core::config::Lint::error(mark, message));
    if config.allowed_verbs.is_empty() {
        fail("must specify at least one allowed verb".to_owned());
    }
    let tls = match (config.cert_file.is_empty(), config.key_file.is_empty()) {
        (true, true) => None,
        (false, false) if !config.address.is_empty() => {
            match crate::http::tls::acceptor(&config.cert_file, &config.key_file) {
                Ok(acceptor) => Some(acceptor),
                Err(err) => {
                    fail(err);
                    None
                }
            }
        }
        (false, false) => {
            fail("cert_file and key_file need a custom address".to_owned());
            None
        }
        _ => {
            fail("both cert_file and key_file must be specified, or neither".to_owned());
            None
        }
    };
    let cors = if !config.cors.enabled {
        None
    } else if config.address.is_empty() {
        fail("cors needs a custom address".to_owned());
        None
    } else if config.cors.allowed_origins.is_empty() {
        fail("must specify at least one allowed origin".to_owned());
        None
    } else {
        Some(cors::Cors::new(config.cors.allowed_origins.clone()))
    };
    let rate_limit = if config.rate_limit.is_empty() {
        None
    } else {
        let found = builder.resources().rate_limit(&config.rate_limit);
        if found.is_none() {
            fail(format!(
                "rate limit resource '{}' was not found",
                config.rate_limit
            ));
        }
        found
    };
    let mut headers = Vec::new();
    let mut part_content_type = None;
    for (key, value) in &config.sync_response.headers {
        let interp = match builder.interpolation(value, mark) {
            Ok(i) => i,
            Err(l) => {
                lints.extend(l);
                continue;
            }
        };
        if key == "content-type" {
            part_content_type = Some(builder.interpolation(value, mark)?);
        }
        let source = match static_text(&interp).map(|t| HeaderValue::from_str(&t)) {
            Some(Ok(value)) => HeaderSource::Static(value),
            _ => HeaderSource::Dynamic(interp),
        };
        match HeaderName::from_bytes(key.as_bytes()) {
            Ok(name) => headers.push((name, source)),
            Err(_) => lints.push(sluice_core::config::Lint::error(
                mark,
                format!("invalid response header name {key:?}"),
            )),
        }
    }
    let status = builder.interpolation(&config.sync_response.status, mark);
    let metadata_headers = NameFilter::build(&config.sync_response.metadata_headers, mark)
        .map_err(|l| lints.extend(l))
        .ok();
    let status = match status {
        Ok(s) => s,
        Err(l) => {
            lints.extend(l);
            return Err(lints);
        }
    };
    let idempotency = match &config.idempotency {
        None => None,
        Some(idem) => {
            let section = node.get("idempotency");
            let at = |key: &str| {
                section
                    .and_then(|n| n.get(key))
                    .or(section)
                    .map_or(mark, |n| n.mark)
            };
            let cache = builder.cache_resource(&idem.cache, at("cache"))?;
            match Idempotency::new(idem, cache, config.timeout.0) {
                Ok(i) => Some(i),
                Err(message) => {
                    lints.push(sluice_core::config::Lint::error(at("header"), message));
                    None
                }
            }
        }
    };
    if config.idempotency.is_some() && config.sync_response.stream.is_on() {
        lints.push(sluice_core::config::Lint::error(
            node.get("idempotency").map_or(mark, |n| n.mark),
            "idempotency needs whole answers to store: it cannot be used with sync_response.stream",
        ));
    }
    let deadlines = if config.deadline_header.is_empty() {
        config
            .propagate_deadline
            .then_some(DeadlinePolicy { header: None })
    } else {
        match HeaderName::from_bytes(config.deadline_header.as_bytes()) {
            Ok(name) => Some(DeadlinePolicy { header: Some(name) }),
            Err(_) => {
                lints.push(sluice_core::config::Lint::error(
                    node.get("deadline_header").map_or(mark, |n| n.mark),
                    format!("invalid deadline_header name {:?}", config.deadline_header),
                ));
                None
            }
        }
    };
    let shedder = (config.max_in_flight > 0).then(|| {
        let shed = builder
            .resources()
            .metrics()
            .counter("input_http_server_shed", &[("endpoint", &config.path)]);
        LoadShedder::new(config.max_in_flight, config.timeout.0, shed)
    });
    let (Some(metadata_headers), true) = (metadata_headers, lints.is_empty()) else {
        return Err(lints);
    };

    let (sender, receiver) = mpsc::channel(1);
    let closing = CancellationToken::new();
    let endpoint = Arc::new(Endpoint {
        sender,
        timeout: config.timeout.0,
        allowed_verbs: config.allowed_verbs,
        rate_limit,
        reply: Reply {
            static_status: static_text(&status)
                .and_then(|t| t.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok()),
            status,
            headers,
            part_content_type,
            metadata_headers,
            stream: config.sync_response.stream,
        },
        closing: closing.clone(),
        closed: AtomicBool::new(false),
        dispatcher: OnceLock::new(),
        cors,
        max_body_bytes: config.max_body_bytes,
        ws_welcome_message: Bytes::from(config.ws_welcome_message),
        ws_rate_limit_message: Bytes::from(config.ws_rate_limit_message),
        tracer: builder.resources().tracer().cloned(),
        in_progress: AtomicUsize::new(0),
        shedder,
        idempotency,
        deadlines,
    });

    let mut routes: Vec<(String, &str, Arc<dyn Handler>)> = Vec::new();
    if !config.path.is_empty() {
        routes.push((
            config.path.clone(),
            "Post a message into sluice.",
            Arc::new(PostHandler(Arc::clone(&endpoint))),
        ));
    }
    if !config.ws_path.is_empty() {
        routes.push((
            config.ws_path.clone(),
            "Send messages over a websocket connection.",
            Arc::new(websocket::WebSocketHandler(Arc::clone(&endpoint))),
        ));
    }

    let own_server = if config.address.is_empty() {
        let shared = builder.resources().get::<SharedHttpServer>();
        if let Some(shared) = shared {
            for (path, description, handler) in routes {
                shared
                    .register(&path, description, handler)
                    .map_err(|e| vec![sluice_core::config::Lint::error(mark, e)])?;
            }
        }
        None
    } else {
        let router = Arc::new(Router::default());
        for (path, description, handler) in routes {
            router
                .register(&path, description, handler)
                .map_err(|e| vec![sluice_core::config::Lint::error(mark, e)])?;
        }
        let listener = if builder.resources().dry_run() {
            None
        } else {
            let bound = match builder.resources().get::<ListenerPool>() {
                Some(pool) => pool.listener(&config.address, || bind(&config.address, &config.tcp)),
                None => bind(&config.address, &config.tcp),
            };
            let listener = bound.map_err(|e| {
                vec![sluice_core::config::Lint::error(
                    mark,
                    format!("failed to bind to address {}: {e}", config.address),
                )]
            })?;
            Some(listener)
        };
        Some(OwnServer {
            router,
            tls,
            listener,
        })
    };

    Ok(Box::new(HttpServerInput {
        endpoint,
        receiver,
        closing,
        own_server,
        server_stop: CancellationToken::new(),
    }))
}

/// Binds a listener with the `tcp` socket options, ready for tokio.
fn bind(address: &str, tcp: &TcpConfig) -> std::io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = address.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "address resolves to nothing",
        )
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Go sets SO_REUSEADDR on every listener on Unix, so Benthos has it
    // whatever `reuse_addr` says: without it, an instance restarted on the
    // same address fails to bind for as long as connections of the one
    // before stay in TIME_WAIT (a minute on Linux).
    socket.set_reuse_address(cfg!(unix) || tcp.reuse_addr)?;
    #[cfg(unix)]
    socket.set_reuse_port(tcp.reuse_port)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

struct OwnServer {
    router: Arc<Router>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listener: Option<std::net::TcpListener>,
}

struct HttpServerInput {
    endpoint: Arc<Endpoint>,
    receiver: mpsc::Receiver<Transaction>,
    closing: CancellationToken,
    own_server: Option<OwnServer>,
    server_stop: CancellationToken,
}

#[async_trait]
impl Input for HttpServerInput {
    fn attach_dispatcher(&mut self, dispatcher: Dispatcher) {
        if self.endpoint.dispatcher.set(dispatcher).is_err() {
            tracing::debug!("Dispatcher already attached.");
        }
    }

    async fn connect(&mut self) -> Result<(), InputError> {
        if let Some(server) = &mut self.own_server
            && let Some(listener) = server.listener.take()
        {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| InputError::Failed(Box::new(e)))?;
            let site = Arc::new(crate::http::Site {
                router: Arc::clone(&server.router),
                guard: crate::http::Guard::default(),
            });
            tokio::spawn(crate::http::serve(
                listener,
                site,
                server.tls.clone(),
                crate::http::conn_limits::ConnectionLimits::default(),
                self.server_stop.clone(),
            ));
        }
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        self.receiver.recv().await.ok_or(InputError::EndOfInput)
    }

    async fn close(&mut self) -> Result<(), InputError> {
        // New requests are refused from here on; the ones already accepted
        // are processed and answered, within the stream's shutdown timeout.
        self.endpoint.closed.store(true, Ordering::Release);
        let limit = self
            .endpoint
            .dispatcher
            .get()
            .map_or(Duration::ZERO, Dispatcher::shutdown_timeout);
        if !self.endpoint.wait_idle(limit).await {
            tracing::warn!(
                in_progress = self.endpoint.in_progress.load(Ordering::Relaxed),
                "Shutdown timeout reached with requests unanswered, they get 503."
            );
        }
        self.closing.cancel();
        self.server_stop.cancel();
        Ok(())
    }
}

struct PostHandler(Arc<Endpoint>);

impl Handler for PostHandler {
    fn handle(
        &self,
        req: Request<Incoming>,
        info: RequestInfo,
    ) -> BoxFuture<'static, HttpResponse> {
        // Entered before the future exists, so a reload that sees zero has
        // no request between routing and this handler.
        let guard = InProgress::enter(&self.0);
        let gzip = accepts_gzip(req.headers());
        async move {
            let endpoint = &guard.0;
            let res = match &endpoint.cors {
                None => endpoint.handle_post(req, info).await,
                Some(cors) => {
                    if let Some(preflight) = cors.preflight(req.method(), req.headers()) {
                        return preflight;
                    }
                    let request_headers = req.headers().clone();
                    let mut res = endpoint.handle_post(req, info).await;
                    cors.decorate(&request_headers, &mut res);
                    res
                }
            };
            if gzip { gzip_response(res) } else { res }
        }
        .boxed()
    }

    fn in_progress(&self) -> usize {
        self.0.in_progress.load(Ordering::Relaxed)
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.contains("gzip")))
}

fn gzip_response(res: HttpResponse) -> HttpResponse {
    use std::io::Write as _;
    let (mut parts, body) = res.into_parts();
    let body = match body {
        ReplyBody::Whole(_) => body.whole_bytes().unwrap_or_default(),
        // A stream is sent as it comes: compressing it would hold chunks back.
        streamed @ ReplyBody::Streamed(_) => return HttpResponse::from_parts(parts, streamed),
    };
    if body.is_empty() {
        return HttpResponse::from_parts(parts, body.into());
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder.write_all(&body).and_then(|()| encoder.finish());
    match compressed {
        Ok(bytes) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            HttpResponse::from_parts(parts, Bytes::from(bytes).into())
        }
        Err(_) => HttpResponse::from_parts(parts, body.into()),
    }
}

/// Canonical forms of the headers nearly every request carries, so the
/// common case needs no character-by-character work.
const COMMON_HEADERS: &[(&str, &str)] = &[
    ("accept", "Accept"),
    ("accept-encoding", "Accept-Encoding"),
    ("connection", "Connection"),
    ("content-length", "Content-Length"),
    ("content-type", "Content-Type"),
    ("host", "Host"),
    ("user-agent", "User-Agent"),
];

/// Go's `CanonicalMIMEHeaderKey`: `x-request-id` -> `X-Request-Id`.
pub(crate) fn canonical_header_key(key: &str) -> sluice_bloblang::Key {
    if let Some((_, canonical)) = COMMON_HEADERS.iter().find(|(lower, _)| *lower == key) {
        return sluice_bloblang::Key::const_new(canonical);
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return key.into();
    }
    let mut out = sluice_bloblang::Key::with_capacity(key.len());
    let mut upper = true;
    for c in key.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// Metadata every message of a request gets (spec 2.4), in order.
/// What a request's metadata is built from.
pub(crate) struct RequestSnapshot {
    pub(crate) parts: http::request::Parts,
    pub(crate) info: RequestInfo,
    pub(crate) websocket: bool,
}

/// An IP address as text. IPv4 is written by hand: `Display` goes through
/// the formatting machinery, which costs more than the rest of a request's
/// metadata put together.
fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

pub(crate) fn request_metadata(snapshot: &RequestSnapshot) -> sluice_core::message::Metadata {
    let RequestSnapshot {
        parts: req,
        info,
        websocket,
    } = snapshot;
    let websocket = *websocket;
    let mut meta = sluice_core::message::Metadata::new();
    let user_agent = req
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    meta.insert("http_server_user_agent".into(), Value::from(user_agent));
    if !websocket {
        meta.insert(
            "http_server_request_path".into(),
            Value::from(req.uri.path()),
        );
        meta.insert("http_server_verb".into(), Value::from(req.method.as_str()));
        meta.insert(
            "http_server_remote_ip".into(),
            Value::from(ip_text(info.remote.ip())),
        );
    }
    if let Some(tls) = &info.tls {
        meta.insert("http_server_tls_version".into(), Value::from(tls.version));
        meta.insert(
            "http_server_tls_cipher_suite".into(),
            Value::from(tls.cipher_suite.as_str()),
        );
    }
    // `keys` yields each name once and `get` its first value, as Go's
    // `Header.Get` does.
    for name in req.headers.keys() {
        if let Some(Ok(text)) = req.headers.get(name).map(HeaderValue::to_str) {
            meta.insert(canonical_header_key(name.as_str()), Value::from(text));
        }
    }
    if let Some(query) = req.uri.query() {
        // A key's first value wins, as Go's `Values.Get` gives it. A set,
        // not a list, of the keys seen: thousands of parameters stay cheap.
        let mut seen = std::collections::HashSet::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if !seen.insert(key.clone()) {
                continue;
            }
            meta.insert(key.as_ref().into(), Value::from(value.into_owned()));
        }
    }
    for (name, value) in &info.params {
        meta.insert(name.as_str().into(), Value::from(value.as_str()));
    }
    for cookie_header in req.headers.get_all(header::COOKIE) {
        let Ok(text) = cookie_header.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                meta.insert(name.into(), Value::from(value.trim_matches('"')));
            }
        }
    }
    meta
}

pub(crate) enum BodyError {
    TooLarge,
    Bad,
}

/// The message bodies of a request: the whole body, or the parts of a
/// multipart one. The usual single body needs no list.
enum Bodies {
    One(Bytes),
    Parts(Vec<Bytes>),
}

async fn read_parts(
    parts: &http::request::Parts,
    body: Incoming,
    limit: usize,
) -> Result<Bodies, BodyError> {
    let collected = if limit > 0 {
        Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    BodyError::TooLarge
                } else {
                    BodyError::Bad
                }
            })?
            .to_bytes()
    } else {
        body.collect().await.map_err(|_| BodyError::Bad)?.to_bytes()
    };
    let Some(boundary) = multipart_boundary(parts)? else {
        return Ok(Bodies::One(collected));
    };
    // Boxed: the parser's state is large, and inline it would make every
    // request's future (and each move of it) that much bigger.
    Box::pin(split_multipart(collected, boundary))
        .await
        .map(Bodies::Parts)
}

/// The boundary of a multipart body, `None` for any other. As Benthos does,
/// a content type that does not parse (`json`, `application/json;
/// charset`) is no reason to refuse the body: only a multipart one is
/// looked into, and one without a boundary is refused.
pub(crate) fn multipart_boundary(
    parts: &http::request::Parts,
) -> Result<Option<String>, BodyError> {
    let Some(mime) = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Most bodies are not multipart: their type is told apart by its
        // first word, without parsing the whole value.
        .filter(|v| {
            v.trim_start()
                .get(..9)
                .is_some_and(|t| t.eq_ignore_ascii_case("multipart"))
        })
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .filter(|mime| mime.type_() == mime::MULTIPART)
    else {
        return Ok(None);
    };
    mime.get_param(mime::BOUNDARY)
        .map(|b| Some(b.to_string()))
        .ok_or(BodyError::Bad)
}

pub(crate) async fn split_multipart(
    body: Bytes,
    boundary: String,
) -> Result<Vec<Bytes>, BodyError> {
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut bodies = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| BodyError::Bad)? {
        bodies.push(field.bytes().await.map_err(|_| BodyError::Bad)?);
    }
    Ok(bodies)
}

/// The answer to a request that arrives once the input is closing: the
/// connection is closed too, so the client's next request goes elsewhere.
fn closing_response() -> HttpResponse {
    let mut res = error_response(StatusCode::SERVICE_UNAVAILABLE, "Server closing");
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Abandons a request's deadline when dropped still armed.
struct AbandonOnDrop(Option<Deadline>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if let Some(deadline) = self.0.take() {
            deadline.abandon();
        }
    }
}

/// The answer to a request shed under load.
fn shed_response(retry_after: Duration) -> HttpResponse {
    let mut res = error_response(StatusCode::SERVICE_UNAVAILABLE, "Server overloaded");
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    res
}

impl Endpoint {
    /// Waits, at most `limit`, until no request or WebSocket message is in
    /// progress; whether that happened in time.
    async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        // Polled: the request path keeps only a counter, and a shutdown is
        // rare enough that a few millisecond ticks cost nothing.
        while self.in_progress.load(Ordering::Relaxed) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    async fn handle_post(&self, req: Request<Incoming>, info: RequestInfo) -> HttpResponse {
        if self.closed.load(Ordering::Acquire) {
            return closing_response();
        }
        if !self
            .allowed_verbs
            .iter()
            .any(|v| v == req.method().as_str())
        {
            return error_response(StatusCode::METHOD_NOT_ALLOWED, "Incorrect method");
        }
        let _admission = match self.shedder.as_ref().map(LoadShedder::admit) {
            Some(Err(retry_after)) => return shed_response(retry_after),
            Some(Ok(admission)) => Some(admission),
            None => None,
        };
        if let Some(limit) = &self.rate_limit {
            match limit.access().await {
                Err(err) => {
                    tracing::error!(error = %err, "Failed to access rate limit.");
                    return error_response(StatusCode::BAD_GATEWAY, "Server error");
                }
                Ok(wait) if !wait.is_zero() => {
                    let mut res =
                        error_response(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
                    return res;
                }
                Ok(_) => {}
            }
        }
        let Some(idempotency) = &self.idempotency else {
            return self.process_post(req, info).await;
        };
        match idempotency.decide(req.headers(), self.timeout).await {
            Decision::Unkeyed => self.process_post(req, info).await,
            Decision::Answered(res) => res,
            Decision::Owner(claim) => {
                let res = self.process_post(req, info).await;
                idempotency.finish(claim, res).await
            }
        }
    }

    /// Reads the request's body and runs it through the pipeline.
    async fn process_post(&self, req: Request<Incoming>, info: RequestInfo) -> HttpResponse {
        let (parts, body) = req.into_parts();
        let bodies = match read_parts(&parts, body, self.max_body_bytes).await {
            Ok(bodies) => bodies,
            Err(BodyError::TooLarge) => {
                tracing::warn!(
                    limit = self.max_body_bytes,
                    "Request body exceeds max_body_bytes, rejected."
                );
                return error_response(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
            }
            Err(BodyError::Bad) => {
                return error_response(StatusCode::BAD_REQUEST, "Bad request");
            }
        };
        // One span per request; the caller's span, if it sent one, is its
        // parent (W3C Trace Context).
        let mut span = self.tracer.as_ref().map(|tracer| {
            let parent = parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(TraceContext::from_traceparent);
            tracer.start("input_http_server", parent.as_ref())
        });
        let deadline = self.deadlines.as_ref().map(|policy| {
            let mut budget = self.timeout;
            if let Some(asked) = policy
                .header
                .as_ref()
                .and_then(|name| parts.headers.get(name))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|secs| secs.is_finite() && *secs >= 0.0)
            {
                budget = Duration::from_secs_f64(asked.min(budget.as_secs_f64()));
            }
            Deadline::new(tokio::time::Instant::now() + budget)
        });
        // Metadata is built only if something reads it: most pipelines
        // never look at every request header.
        let snapshot = RequestSnapshot {
            parts,
            info,
            websocket: false,
        };
        // Built once for the whole request: every part of a multipart body
        // shares the map (a copy each would multiply the request's headers
        // by its parts).
        let built = std::sync::OnceLock::new();
        let source: MetadataSource = Arc::new(move || {
            Arc::clone(built.get_or_init(|| Arc::new(request_metadata(&snapshot))))
        });
        let res = self
            .submit(bodies, source, span.as_ref().map(|s| s.context()), deadline)
            .await;
        if let Some(span) = &mut span
            && !res.status().is_success()
        {
            span.set_error(&format!("responded with status {}", res.status()));
        }
        res
    }

    /// Hands a request's messages to the pipeline and answers from the
    /// response store once they are acknowledged.
    async fn submit(
        &self,
        bodies: Bodies,
        metadata: MetadataSource,
        trace: Option<TraceContext>,
        deadline: Option<Deadline>,
    ) -> HttpResponse {
        // The caller stops waiting at its deadline, or when this future is
        // dropped (it disconnected): either abandons the request's work.
        let mut abandon = AbandonOnDrop(deadline.clone());
        let timeout = deadline.as_ref().map_or(self.timeout, Deadline::remaining);
        let store = if self.reply.stream.is_on() {
            ResponseStore::streaming()
        } else {
            ResponseStore::default()
        };
        let mut context = MessageContext::with_response_store(store.clone());
        if let Some(trace) = trace {
            context = context.with_trace(trace);
        }
        if let Some(deadline) = deadline {
            context = context.with_deadline(deadline);
        }
        let message = |body: Bytes| {
            let mut msg = Message::new(body);
            msg.set_metadata_source(Arc::clone(&metadata));
            msg.set_context(context.clone());
            msg
        };
        let batch = match bodies {
            Bodies::One(body) => vec![message(body)],
            Bodies::Parts(parts) => parts.into_iter().map(message).collect(),
        };
        let batch = Batch::new(batch);
        let (ack, delivery) = Ack::pair();
        let tx = Transaction::new(batch, ack);
        // Usually the hand-off and the whole pipeline finish in one go;
        // only a request that has to wait arms the closing watch and the
        // timer.
        let mut hand_off = std::pin::pin!(self.hand_off(tx, timeout));
        let sent = match hand_off.as_mut().now_or_never() {
            Some(sent) => sent,
            None => tokio::select! {
                () = self.closing.cancelled() => return closing_response(),
                sent = hand_off => sent,
            },
        };
        if !sent {
            return error_response(StatusCode::REQUEST_TIMEOUT, "Request timed out");
        }
        if self.reply.stream.is_on() {
            // The stream's own task outlives this future.
            abandon.0 = None;
            return self.stream_answer(store, delivery, timeout).await;
        }
        let mut delivery = delivery;
        let outcome = match (&mut delivery).now_or_never() {
            Some(outcome) => outcome,
            None => match tokio::time::timeout(timeout, delivery).await {
                Ok(outcome) => outcome,
                Err(_) => return error_response(StatusCode::REQUEST_TIMEOUT, "Request timed out"),
            },
        };
        let timed_out = abandon.0.take().is_some_and(|d| d.is_abandoned());
        match outcome {
            Outcome::Delivered => self.reply.build(store.take_messages()),
            // Work given up at the caller's deadline failed because of it:
            // the caller hears of the deadline, not of the abandoned write.
            Outcome::Failed(_) if timed_out => {
                error_response(StatusCode::REQUEST_TIMEOUT, "Request timed out")
            }
            Outcome::Failed(err) => error_response(StatusCode::BAD_GATEWAY, &err.to_string()),
        }
    }
}

impl Endpoint {
    /// Answers as soon as the first messages are stored, and streams the
    /// rest; a request that ends without a stored message is answered as
    /// usual.
    async fn stream_answer(
        &self,
        store: ResponseStore,
        mut delivery: sluice_core::transaction::Delivery,
        timeout: Duration,
    ) -> HttpResponse {
        let deadline = tokio::time::Instant::now() + timeout;
        let first = tokio::select! {
            () = store.pushed() => store.take_messages(),
            outcome = &mut delivery => return match outcome {
                Outcome::Delivered => self.reply.build(store.take_messages()),
                Outcome::Failed(err) => error_response(StatusCode::BAD_GATEWAY, &err.to_string()),
            },
            () = tokio::time::sleep_until(deadline) => {
                return error_response(StatusCode::REQUEST_TIMEOUT, "Request timed out");
            }
        };
        let Some((status, mut headers)) = self.reply.head(&first) else {
            return empty_status(StatusCode::BAD_GATEWAY);
        };
        if let Some(msg) = first.first() {
            self.reply.apply_metadata_headers(msg, &mut headers);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.reply.stream.content_type()),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let (chunks, body) = mpsc::channel(16);
        tokio::spawn(stream::pump(
            self.reply.stream,
            first,
            store,
            delivery,
            deadline,
            chunks,
        ));
        let mut res = HttpResponse::new(ReplyBody::Streamed(body));
        *res.status_mut() = status;
        *res.headers_mut() = headers;
        res
    }

    /// Gives a transaction to the pipeline within `timeout`: directly when
    /// the stream attached a dispatcher, else through the input's channel.
    async fn hand_off(&self, tx: Transaction, timeout: Duration) -> bool {
        match self.dispatcher.get() {
            Some(dispatcher) => dispatcher.dispatch(tx, timeout).await.is_ok(),
            None => self.sender.send_timeout(tx, timeout).await.is_ok(),
        }
    }
}

impl Reply {
    fn build(&self, responses: Vec<Message>) -> HttpResponse {
        if responses.is_empty() {
            return HttpResponse::new(Default::default());
        }
        let Some((status, mut headers)) = self.head(&responses) else {
            return empty_status(StatusCode::BAD_GATEWAY);
        };
        let body = if responses.len() == 1 {
            let msg = &responses[0];
            self.apply_metadata_headers(msg, &mut headers);
            if !headers.contains_key(header::CONTENT_TYPE) {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(detect_content_type(msg.content())),
                );
            }
            msg.bytes()
        } else {
            let boundary = random_boundary();
            let mut body = Vec::new();
            for (index, msg) in responses.iter().enumerate() {
                self.apply_metadata_headers(msg, &mut headers);
                let part_type = match &self.part_content_type {
                    Some(interp) => interp
                        .render(&responses[..], index)
                        .unwrap_or_else(|_| detect_content_type(msg.content()).to_owned()),
                    None => detect_content_type(msg.content()).to_owned(),
                };
                let sep: &[u8] = if index == 0 { b"--" } else { b"\r\n--" };
                body.extend_from_slice(sep);
                body.extend_from_slice(boundary.as_bytes());
                body.extend_from_slice(b"\r\nContent-Type: ");
                body.extend_from_slice(part_type.as_bytes());
                body.extend_from_slice(b"\r\n\r\n");
                body.extend_from_slice(msg.content());
            }
            body.extend_from_slice(b"\r\n--");
            body.extend_from_slice(boundary.as_bytes());
            body.extend_from_slice(b"--\r\n");
            let content_type = format!("multipart/form-data; boundary={boundary}");
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&content_type).expect("boundary is hex"),
            );
            Bytes::from(body)
        };
        let mut res = HttpResponse::new(body.into());
        *res.status_mut() = status;
        *res.headers_mut() = headers;
        res
    }

    /// The status and configured headers of an answer to `responses`;
    /// `None` when the status does not render to a number.
    fn head(&self, responses: &[Message]) -> Option<(StatusCode, HeaderMap)> {
        let mut headers = HeaderMap::new();
        for (name, source) in &self.headers {
            let value = match source {
                HeaderSource::Static(value) => {
                    headers.insert(name.clone(), value.clone());
                    continue;
                }
                HeaderSource::Dynamic(value) => value,
            };
            match value.render(responses, 0) {
                Ok(text) => match HeaderValue::from_str(&text) {
                    Ok(v) => {
                        headers.insert(name.clone(), v);
                    }
                    Err(_) => {
                        tracing::warn!(header = %name, "Response header value is invalid, skipped.")
                    }
                },
                Err(err) => {
                    tracing::error!(header = %name, error = %err, "Failed to interpolate response header, skipped.");
                }
            }
        }
        let status = match self.static_status {
            Some(code) => code,
            None => self.dynamic_status(responses)?,
        };
        Some((status, headers))
    }

    /// The interpolated status; `None` (answered 502) when it does not
    /// render to a number.
    fn dynamic_status(&self, responses: &[Message]) -> Option<StatusCode> {
        match self.status.render(responses, 0) {
            Ok(text) if text == "200" => Some(StatusCode::OK),
            Ok(text) => {
                let code = text
                    .parse::<u16>()
                    .ok()
                    .and_then(|c| StatusCode::from_u16(c).ok());
                if code.is_none() {
                    tracing::error!(status = %text, "Response status is not a number.");
                }
                code
            }
            Err(err) => {
                tracing::error!(error = %err, "Failed to interpolate response status.");
                None
            }
        }
    }

    fn apply_metadata_headers(&self, msg: &Message, headers: &mut HeaderMap) {
        if self.metadata_headers.is_empty() {
            return;
        }
        for (key, value) in msg.metadata() {
            if !self.metadata_headers.matches(key) {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::from_str(&value.to_interp_string()),
            ) {
                headers.insert(name, value);
            }
        }
    }
}

/// The text of an interpolation without `${! }` parts.
fn static_text(interp: &Interpolation) -> Option<String> {
    let no_messages: &[Message] = &[];
    interp
        .is_static()
        .then(|| interp.render(no_messages, 0).ok())
        .flatten()
}

fn empty_status(status: StatusCode) -> HttpResponse {
    let mut res = HttpResponse::new(Default::default());
    *res.status_mut() = status;
    res
}

fn random_boundary() -> String {
    let bytes: [u8; 30] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_writes_addresses_as_display_does() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "192.168.9.99",
            "::1",
            "fe80::1",
        ] {
            let ip: std::net::IpAddr = text.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn canonicalises_header_keys_like_go() {
        assert_eq!(canonical_header_key("x-request-id"), "X-Request-Id");
        assert_eq!(canonical_header_key("content-type"), "Content-Type");
        assert_eq!(canonical_header_key("bad key"), "bad key");
    }

    #[test]
    fn only_multipart_types_are_split_whatever_their_case() {
        let boundary = |content_type: &str| {
            let (parts, ()) = http::Request::builder()
                .header(header::CONTENT_TYPE, content_type)
                .body(())
                .unwrap()
                .into_parts();
            match multipart_boundary(&parts) {
                Ok(found) => Ok(found),
                Err(_) => Err(()),
            }
        };
        assert_eq!(
            boundary("multipart/mixed; boundary=xyz"),
            Ok(Some("xyz".into()))
        );
        assert_eq!(
            boundary("MULTIPART/form-data; boundary=b1"),
            Ok(Some("b1".into()))
        );
        assert_eq!(boundary("multipart/mixed"), Err(()));
        assert_eq!(boundary("application/json"), Ok(None));
        assert_eq!(boundary("multi"), Ok(None));
    }
}
