//! HTTP serving shared by the service-wide server and `http_server` inputs
//! with their own address.

mod basic_auth;
pub(crate) mod body;
pub(crate) mod client;
pub mod conn_limits;
pub(crate) mod cors;
mod env_proxy;
mod h1_client;
mod jwt;
pub mod listeners;
mod oauth1;
pub(crate) mod router;
pub mod shared;
pub(crate) mod sniff;
pub(crate) mod tls;
mod wake_gate;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Either};
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use conn_limits::{AcceptBackoff, ConnectionLimits, FirstByteDeadline, PlainConnection};
pub(crate) use router::Router;
use wake_gate::WakeGate;

/// What a server applies to every request before routing it.
#[derive(Default)]
pub(crate) struct Guard {
    pub(crate) basic_auth: Option<Arc<basic_auth::BasicAuth>>,
    pub(crate) cors: Option<cors::Cors>,
}

/// A router with the guard in front of it.
pub(crate) struct Site {
    pub(crate) router: Arc<Router>,
    pub(crate) guard: Guard,
}

/// The service-wide server's TLS, authentication, CORS and connection
/// limits (the `http` section's `cert_file`/`key_file`, `basic_auth`, `cors`,
/// `read_header_timeout` and `max_connections`).
#[derive(Default)]
pub struct ServerOptions {
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) guard: Guard,
    pub(crate) limits: ConnectionLimits,
}

impl ServerOptions {
    /// Checks the `http` section; each problem names its field.
    pub fn from_config(
        config: &sluice_core::config::HttpConfig,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let tls = match (config.cert_file.is_empty(), config.key_file.is_empty()) {
            (true, true) => None,
            (false, false) => tls::acceptor(&config.cert_file, &config.key_file)
                .map_err(|e| problems.push(("cert_file", e)))
                .ok(),
            _ => {
                problems.push((
                    "cert_file",
                    "both cert_file and key_file must be specified, or neither".to_owned(),
                ));
                None
            }
        };
        let basic_auth = basic_auth::BasicAuth::from_config(&config.basic_auth)
            .map_err(|e| problems.push(("basic_auth", e)))
            .ok()
            .flatten()
            .map(Arc::new);
        let cors = match (&config.cors, config.cors.allowed_origins.is_empty()) {
            (c, _) if !c.enabled => None,
            (_, true) => {
                problems.push((
                    "cors",
                    "must specify at least one allowed origin".to_owned(),
                ));
                None
            }
            (c, false) => Some(cors::Cors::new(c.allowed_origins.clone())),
        };
        if problems.is_empty() {
            let mut limits = ConnectionLimits {
                header_read_timeout: config.read_header_timeout.into(),
                ..ConnectionLimits::default()
            };
            if config.max_connections > 0 {
                limits.max_connections = config.max_connections;
            }
            Ok(Self {
                tls,
                guard: Guard { basic_auth, cors },
                limits,
            })
        } else {
            Err(problems)
        }
    }
}

/// A served response: whole, or streamed (see [`body::ReplyBody`]).
pub(crate) type HttpResponse = Response<body::ReplyBody>;

/// What a handler learns about the request besides the request itself.
pub(crate) struct RequestInfo {
    pub(crate) remote: SocketAddr,
    pub(crate) params: Vec<(String, String)>,
    /// The negotiated TLS session, for connections that use TLS.
    pub(crate) tls: Option<Arc<TlsInfo>>,
}

/// What a TLS connection negotiated (spec 2.4 metadata).
pub(crate) struct TlsInfo {
    pub(crate) version: &'static str,
    pub(crate) cipher_suite: String,
}

/// Answers requests routed to one path.
pub(crate) trait Handler: Send + Sync {
    fn handle(&self, req: Request<Incoming>, info: RequestInfo)
    -> BoxFuture<'static, HttpResponse>;

    /// Requests this handler is answering right now. A reload waits for a
    /// retired handler to reach zero before stopping the stream behind it.
    fn in_progress(&self) -> usize {
        0
    }
}

/// A response the way Go's `http.Error` writes it: the text plus a newline,
/// as plain text, with `nosniff`.
pub(crate) fn error_response(status: StatusCode, text: &str) -> HttpResponse {
    let mut res = Response::new(Bytes::from(format!("{text}\n")).into());
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A plain 200 response with `body` and `content_type`.
/// Whether a comma-separated header value (`Connection: keep-alive, Upgrade`)
/// lists `token`, in any case.
pub(crate) fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

pub(crate) fn ok_response(body: impl Into<Bytes>, content_type: &'static str) -> HttpResponse {
    let mut res = Response::new(body.into().into());
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// What the service answers a request with: a ready response, or a
/// handler's future. Handing the handler's future to hyper as it is (rather
/// than awaiting it inside another one) spares moving the request through
/// layers of futures.
type Answer = Either<Ready<HttpResponse>, BoxFuture<'static, HttpResponse>>;

/// Routes a request, with the guard in front: CORS preflights and refused
/// credentials are answered here, CORS headers added to every answer.
fn dispatch(
    site: &Arc<Site>,
    req: Request<Incoming>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
) -> Answer {
    let Some(cors) = &site.guard.cors else {
        return route(site, req, remote, tls);
    };
    if let Some(preflight) = cors.preflight(req.method(), req.headers()) {
        return Either::Left(ready(preflight));
    }
    // Kept for the answer, as the request is consumed.
    let request_headers = req.headers().clone();
    let answer = route(site, req, remote, tls);
    let site = Arc::clone(site);
    Either::Right(Box::pin(async move {
        let mut res = answer.await;
        if let Some(cors) = &site.guard.cors {
            cors.decorate(&request_headers, &mut res);
        }
        res
    }))
}

/// Checks credentials and finds the handler for a request's path.
fn route(
    site: &Arc<Site>,
    req: Request<Incoming>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
) -> Answer {
    let Some(auth) = &site.guard.basic_auth else {
        return find_handler(site, req, remote, tls);
    };
    match auth.check(req.headers()) {
        basic_auth::Check::Ready(Some(refusal)) => Either::Left(ready(refusal)),
        basic_auth::Check::Ready(None) => find_handler(site, req, remote, tls),
        basic_auth::Check::Slow(pending) => {
            let site = Arc::clone(site);
            Either::Right(Box::pin(async move {
                match pending.await {
                    Some(refusal) => refusal,
                    None => find_handler(&site, req, remote, tls).await,
                }
            }))
        }
    }
}

/// The handler for a request's path, or a 404.
fn find_handler(
    site: &Site,
    req: Request<Incoming>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
) -> Answer {
    match site.router.find(req.uri().path()) {
        Some((handler, params)) => {
            let info = RequestInfo {
                remote,
                params,
                tls,
            };
            Either::Right(handler.handle(req, info))
        }
        None => Either::Left(ready(error_response(
            StatusCode::NOT_FOUND,
            "404 page not found",
        ))),
    }
}

/// Serves one accepted connection until it closes or the server shuts down.
/// `header_timed_out` is raised when hyper gives up waiting for a request's
/// headers; `permit` holds the connection's place under `max_connections`.
fn spawn_connection<IO>(
    io: IO,
    accepted: Accepted,
    header_timed_out: Option<Arc<AtomicBool>>,
    connections: &Connections,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Accepted {
        site,
        remote,
        tls,
        permit,
    } = accepted;
    let service = hyper::service::service_fn(move |req| {
        dispatch(&site, req, remote, tls.clone()).map(Ok::<_, Infallible>)
    });
    let conn = connections
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    let mut stop = WakeGate::new(connections.stop.clone().cancelled_owned());
    connections.tracker.spawn(async move {
        let _permit = permit;
        let mut conn = std::pin::pin!(conn);
        let mut stopping = false;
        // On shutdown the connection finishes its in-flight request and
        // then closes.
        let done = std::future::poll_fn(|cx| {
            if !stopping && Pin::new(&mut stop).poll(cx).is_ready() {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            conn.as_mut().poll(cx)
        });
        if let Err(err) = done.await {
            let timed_out = err
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout);
            if timed_out && let Some(flag) = &header_timed_out {
                // Read as the connection (and with it the socket) is dropped
                // at the end of this task.
                flag.store(true, Ordering::Release);
            }
            tracing::debug!(error = %err, "Connection ended with an error.");
        }
    });
}

/// What a connection is served with.
struct Accepted {
    site: Arc<Site>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
    permit: OwnedSemaphorePermit,
}

/// The open connections of one server, and their shutdown signal.
struct Connections {
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
    // One builder, with the limits set, for every connection.
    builder: hyper_util::server::conn::auto::Builder<TokioExecutor>,
}

/// Hyper's connection settings for these limits.
fn connection_builder(
    limits: &ConnectionLimits,
) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Hyper's header size (about 400 KiB) and count (100) limits stay: past
    // them it answers 431 itself.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
}

fn tls_info(conn: &tokio_rustls::rustls::ServerConnection) -> TlsInfo {
    use tokio_rustls::rustls::ProtocolVersion;
    let version = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
        Some(ProtocolVersion::TLSv1_1) => "TLSv1.1",
        _ => "TLSv1.0",
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or_default()
        .to_owned();
    TlsInfo {
        version,
        cipher_suite,
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets open
/// connections finish their in-flight requests. With `tls`, every connection
/// is a TLS one.
pub(crate) async fn serve(
    listener: TcpListener,
    site: Arc<Site>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let connections = Arc::new(Connections {
        stop: CancellationToken::new(),
        tracker: tokio_util::task::TaskTracker::new(),
        builder: connection_builder(&limits),
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = AcceptBackoff::default();
    let mut at_capacity_logged = false;
    loop {
        // A connection over the cap waits in the listen backlog until one
        // closes, rather than being accepted and starved.
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !at_capacity_logged {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "Connection limit reached, new connections wait."
                    );
                    at_capacity_logged = true;
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    permit = Arc::clone(&slots).acquire_owned() => {
                        permit.expect("the connection semaphore is never closed")
                    }
                }
            }
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => {
                backoff.succeeded();
                pair
            }
            Err(err) => {
                let wait = backoff.failed(&err);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        if slots.available_permits() > 0 {
            at_capacity_logged = false;
        }
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "Failed to set TCP_NODELAY.");
        }
        let site = Arc::clone(&site);
        match &tls {
            None => {
                let (io, header_timed_out) = PlainConnection::new(stream);
                let io = FirstByteDeadline::new(io, limits.header_read_timeout);
                let accepted = Accepted {
                    site,
                    remote,
                    tls: None,
                    permit,
                };
                spawn_connection(io, accepted, Some(header_timed_out), &connections);
            }
            Some(acceptor) => {
                // The handshake runs in its own task so a slow client cannot
                // hold up accepting others.
                let acceptor = acceptor.clone();
                let connections = Arc::clone(&connections);
                // Tracked too, so a shutdown waits for handshakes under way.
                let tracker = connections.tracker.clone();
                let handshake_timeout = limits.tls_handshake_timeout;
                tracker.spawn(async move {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(tls_stream)) => {
                            let info = Arc::new(tls_info(tls_stream.get_ref().1));
                            let accepted = Accepted {
                                site,
                                remote,
                                tls: Some(info),
                                permit,
                            };
                            let io = FirstByteDeadline::new(tls_stream, limits.header_read_timeout);
                            spawn_connection(io, accepted, None, &connections);
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, "TLS handshake failed.");
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out, connection closed.");
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    connections.stop.cancel();
    connections.tracker.close();
    connections.tracker.wait().await;
}
