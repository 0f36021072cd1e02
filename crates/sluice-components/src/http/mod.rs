//! HTTP serving shared by the service-wide server and `http_server` inputs
//! with their own address.

mod basic_auth;
pub(crate) mod client;
pub(crate) mod cors;
mod env_proxy;
mod h1_client;
mod jwt;
pub mod listeners;
mod oauth1;
mod router;
pub mod shared;
pub(crate) mod sniff;
pub(crate) mod tls;
mod wake_gate;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Either};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) use router::Router;
use wake_gate::WakeGate;

/// What a server applies to every request before routing it.
#[derive(Default)]
pub(crate) struct Guard {
    pub(crate) basic_auth: Option<basic_auth::BasicAuth>,
    pub(crate) cors: Option<cors::Cors>,
}

/// A router with the guard in front of it.
pub(crate) struct Site {
    pub(crate) router: Arc<Router>,
    pub(crate) guard: Guard,
}

/// The service-wide server's TLS, authentication and CORS (the `http`
/// section's `cert_file`/`key_file`, `basic_auth` and `cors`).
#[derive(Default)]
pub struct ServerOptions {
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) guard: Guard,
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
            .flatten();
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
            Ok(Self {
                tls,
                guard: Guard { basic_auth, cors },
            })
        } else {
            Err(problems)
        }
    }
}

/// Responses are always fully buffered.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

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
    let mut res = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
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
    let mut res = Response::new(Full::new(body.into()));
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
    site: &Site,
    req: Request<Incoming>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
) -> Answer {
    if let Some(refusal) = site
        .guard
        .basic_auth
        .as_ref()
        .and_then(|a| a.refusal(req.headers()))
    {
        return Either::Left(ready(refusal));
    }
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
fn spawn_connection<IO>(
    io: IO,
    site: Arc<Site>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
    connections: &Connections,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        dispatch(&site, req, remote, tls.clone()).map(Ok::<_, Infallible>)
    });
    let conn = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    let mut stop = WakeGate::new(connections.stop.clone().cancelled_owned());
    connections.tracker.spawn(async move {
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
            tracing::debug!(error = %err, "Connection ended with an error.");
        }
    });
}

/// The open connections of one server, and their shutdown signal.
struct Connections {
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
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
    stop: CancellationToken,
) {
    let connections = Arc::new(Connections {
        stop: CancellationToken::new(),
        tracker: tokio_util::task::TaskTracker::new(),
    });
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "Failed to accept connection.");
                continue;
            }
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "Failed to set TCP_NODELAY.");
        }
        let site = Arc::clone(&site);
        match &tls {
            None => spawn_connection(stream, site, remote, None, &connections),
            Some(acceptor) => {
                // The handshake runs in its own task so a slow client cannot
                // hold up accepting others.
                let acceptor = acceptor.clone();
                let connections = Arc::clone(&connections);
                // Tracked too, so a shutdown waits for handshakes under way.
                let tracker = connections.tracker.clone();
                tracker.spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls_stream) => {
                            let info = Arc::new(tls_info(tls_stream.get_ref().1));
                            spawn_connection(tls_stream, site, remote, Some(info), &connections);
                        }
                        Err(err) => {
                            tracing::debug!(error = %err, "TLS handshake failed.");
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
