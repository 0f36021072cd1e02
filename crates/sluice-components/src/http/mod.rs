//! HTTP serving shared by the service-wide server and `http_server` inputs
//! with their own address.

pub(crate) mod client;
mod router;
pub mod shared;
pub(crate) mod sniff;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) use router::Router;

/// Responses are always fully buffered.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// What a handler learns about the request besides the request itself.
pub(crate) struct RequestInfo {
    pub(crate) remote: SocketAddr,
    pub(crate) params: Vec<(String, String)>,
}

/// Answers requests routed to one path.
pub(crate) trait Handler: Send + Sync {
    fn handle(&self, req: Request<Incoming>, info: RequestInfo)
    -> BoxFuture<'static, HttpResponse>;
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
pub(crate) fn ok_response(body: impl Into<Bytes>, content_type: &'static str) -> HttpResponse {
    let mut res = Response::new(Full::new(body.into()));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

async fn dispatch(
    router: Arc<Router>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<HttpResponse, Infallible> {
    let found = router.find(req.uri().path());
    Ok(match found {
        Some((handler, params)) => handler.handle(req, RequestInfo { remote, params }).await,
        None => error_response(StatusCode::NOT_FOUND, "404 page not found"),
    })
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets open
/// connections finish their in-flight requests.
pub(crate) async fn serve(listener: TcpListener, router: Arc<Router>, stop: CancellationToken) {
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
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
        let router = Arc::clone(&router);
        let service =
            hyper::service::service_fn(move |req| dispatch(Arc::clone(&router), req, remote));
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "Connection ended with an error.");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
