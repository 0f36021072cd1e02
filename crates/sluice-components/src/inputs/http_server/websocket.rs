//! The WebSocket mode of `http_server` (spec 2.7): each frame is a message,
//! processed one at a time per socket; responses return as text frames.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use http::{HeaderValue, Request, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sluice_core::message::{Batch, Message, MessageContext, Metadata};
use sluice_core::response::ResponseStore;
use sluice_core::runtime::backoff::Backoff;
use sluice_core::transaction::{Ack, Outcome, Transaction};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::{Endpoint, RequestSnapshot, request_metadata};
use crate::http::{Handler, HttpResponse, RequestInfo, error_response, has_token};

pub(super) struct WebSocketHandler(pub(super) Arc<Endpoint>);

/// A message, and each of its frames, is held to the body limit of POSTs;
/// with no limit, tungstenite's own (64 MiB messages, 16 MiB frames) stay.
pub(crate) fn socket_config(max_body_bytes: usize) -> WebSocketConfig {
    let config = WebSocketConfig::default();
    if max_body_bytes == 0 {
        return config;
    }
    config
        .max_message_size(Some(max_body_bytes))
        .max_frame_size(Some(max_body_bytes))
}

/// What the socket's loop does after reading from the client.
pub(crate) enum NextFrame {
    /// A text or binary frame: its content is a message.
    Deliver(Bytes),
    /// A ping, pong or raw frame: tungstenite answers pings itself.
    Skip,
    /// The client closed, the socket broke, or a message went past the
    /// limit (the client is told so with a 1009 close).
    Stop,
}

/// Turns what the socket read into the loop's next step.
pub(crate) async fn next_body<S>(
    socket: &mut WebSocketStream<S>,
    frame: Option<Result<Frame, WsError>>,
    max_body_bytes: usize,
) -> NextFrame
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match frame {
        Some(Ok(Frame::Text(text))) => NextFrame::Deliver(Bytes::from(text.as_str().to_owned())),
        Some(Ok(Frame::Binary(bytes))) => NextFrame::Deliver(bytes),
        Some(Err(WsError::Capacity(err))) => {
            tracing::warn!(
                error = %err,
                limit = max_body_bytes,
                "Websocket message exceeds max_body_bytes, connection closed."
            );
            let close = CloseFrame {
                code: CloseCode::Size,
                reason: "message too big".into(),
            };
            // The client may be gone already; nothing more to tell it.
            let _closed = socket.close(Some(close)).await;
            NextFrame::Stop
        }
        None | Some(Ok(Frame::Close(_)) | Err(_)) => NextFrame::Stop,
        Some(Ok(_)) => NextFrame::Skip,
    }
}

fn header_has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .any(|v| has_token(v, token))
}

impl Handler for WebSocketHandler {
    fn handle(
        &self,
        mut req: Request<Incoming>,
        info: RequestInfo,
    ) -> BoxFuture<'static, HttpResponse> {
        let endpoint = Arc::clone(&self.0);
        let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
        let is_upgrade = header_has_token(&req, header::CONNECTION, "upgrade")
            && header_has_token(&req, header::UPGRADE, "websocket");
        let Some(key) = key.filter(|_| is_upgrade) else {
            return async { error_response(StatusCode::BAD_REQUEST, "Bad request") }.boxed();
        };
        let upgrade = hyper::upgrade::on(&mut req);
        let (parts, _body) = req.into_parts();
        let metadata = request_metadata(&RequestSnapshot {
            parts,
            info,
            websocket: true,
        });
        tokio::spawn(async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(socket_config(endpoint.max_body_bytes)),
                    )
                    .await;
                    endpoint.serve_socket(socket, metadata).await;
                }
                Err(err) => tracing::warn!(error = %err, "Websocket upgrade failed."),
            }
        });
        let accept = derive_accept_key(key.as_bytes());
        async move {
            let mut res = HttpResponse::new(Default::default());
            *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = res.headers_mut();
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(&accept) {
                headers.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            res
        }
        .boxed()
    }
}

/// Counts a WebSocket message as in progress for as long as it lives.
struct Busy<'a>(&'a Endpoint);

impl<'a> Busy<'a> {
    fn enter(endpoint: &'a Endpoint) -> Self {
        endpoint
            .in_progress
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(endpoint)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0
            .in_progress
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Endpoint {
    async fn serve_socket<S>(&self, mut socket: WebSocketStream<S>, metadata: Metadata)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        if !self.ws_welcome_message.is_empty()
            && socket
                .send(Frame::Binary(self.ws_welcome_message.clone()))
                .await
                .is_err()
        {
            return;
        }
        loop {
            // A closing input lets the message under way finish (below) and
            // then says goodbye; it does not wait for the client's next one.
            let frame = tokio::select! {
                () = self.closing.cancelled() => {
                    let close = CloseFrame {
                        code: CloseCode::Away,
                        reason: "server closing".into(),
                    };
                    // The client may be gone already; nothing more to tell it.
                    let _closed = socket.close(Some(close)).await;
                    return;
                }
                frame = socket.next() => frame,
            };
            let body = match next_body(&mut socket, frame, self.max_body_bytes).await {
                NextFrame::Deliver(body) => body,
                NextFrame::Skip => continue,
                NextFrame::Stop => break,
            };
            // Counted as in progress until its answers are sent, so that a
            // shutdown waits for them.
            let _busy = Busy::enter(self);
            let Some(responses) = self.deliver_frame(body, &metadata, &mut socket).await else {
                break;
            };
            for msg in responses {
                let text = String::from_utf8_lossy(msg.content()).into_owned();
                if socket.send(Frame::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Delivers one frame, retrying on rate limits and nacks until it is
    /// acknowledged; `None` when the stream is closing or the socket broke.
    async fn deliver_frame<S>(
        &self,
        body: Bytes,
        metadata: &Metadata,
        socket: &mut WebSocketStream<S>,
    ) -> Option<Vec<Message>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            if self.closing.is_cancelled() {
                return None;
            }
            if let Some(limit) = &self.rate_limit {
                match limit.access().await {
                    Ok(wait) if !wait.is_zero() => {
                        if !self.ws_rate_limit_message.is_empty() {
                            let notice = Frame::Binary(self.ws_rate_limit_message.clone());
                            socket.send(notice).await.ok()?;
                        }
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(error = %err, "Failed to access rate limit.");
                        tokio::time::sleep(backoff.next_wait()).await;
                        continue;
                    }
                }
            }
            let store = ResponseStore::default();
            let mut msg = Message::new(body.clone());
            msg.set_metadata(metadata.clone());
            msg.set_context(MessageContext::with_response_store(store.clone()));
            let (ack, delivery) = Ack::pair();
            self.sender
                .send(Transaction::new(Batch::from(msg), ack))
                .await
                .ok()?;
            match delivery.await {
                Outcome::Delivered => return Some(store.take_messages()),
                Outcome::Failed(err) => {
                    tracing::warn!(error = %err, "Websocket message was not delivered, retrying.");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }
}
