//! Streamed replies (`sync_response.stream: sse | ndjson`): a request whose
//! pipeline answers with several messages gets each one as soon as it is
//! stored, as a Server-Sent Event or a line of NDJSON, instead of one
//! multipart body at the end. The status and headers come from the first
//! message; a failure after that ends the stream with an error event.

use bytes::{BufMut, Bytes, BytesMut};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::message::Message;
use sluice_core::response::ResponseStore;
use sluice_core::transaction::{Delivery, Outcome};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StreamMode {
    /// One answer once the pipeline is done, as Benthos sends it.
    #[default]
    None,
    /// `text/event-stream`: one `data:` event per message.
    Sse,
    /// `application/x-ndjson`: one line per message.
    Ndjson,
}

impl StreamMode {
    pub(super) fn is_on(self) -> bool {
        self != StreamMode::None
    }

    pub(super) fn content_type(self) -> &'static str {
        match self {
            StreamMode::Sse => "text/event-stream",
            _ => "application/x-ndjson",
        }
    }

    /// One message as a chunk of the stream.
    fn event(self, content: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(content.len() + 8);
        match self {
            StreamMode::Sse => {
                // Each line of the message is a `data:` line of one event;
                // a blank line ends the event.
                for line in content.split(|b| *b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    out.put_slice(b"data: ");
                    out.put_slice(line);
                    out.put_u8(b'\n');
                }
                out.put_u8(b'\n');
            }
            _ => {
                // A line per message: embedded newlines would split it.
                for &b in content {
                    if b == b'\n' || b == b'\r' {
                        out.put_u8(b' ');
                    } else {
                        out.put_u8(b);
                    }
                }
                out.put_u8(b'\n');
            }
        }
        out.freeze()
    }

    /// The last chunk of a stream that failed.
    fn error_event(self, message: &str) -> Bytes {
        match self {
            StreamMode::Sse => {
                let one_line = message.replace(['\n', '\r'], " ");
                Bytes::from(format!("event: error\ndata: {one_line}\n\n"))
            }
            _ => {
                let doc = serde_json::json!({ "error": message });
                Bytes::from(format!("{doc}\n"))
            }
        }
    }
}

/// Sends `first` and then every message the pipeline stores for the
/// request, until it is acknowledged, fails or runs past `deadline`. Ends
/// early when the caller goes away (the receiver is dropped).
pub(super) async fn pump(
    mode: StreamMode,
    first: Vec<Message>,
    store: ResponseStore,
    mut delivery: Delivery,
    deadline: Instant,
    chunks: mpsc::Sender<Bytes>,
) {
    let send_all = |messages: Vec<Message>| {
        let chunks = chunks.clone();
        async move {
            for msg in messages {
                if chunks.send(mode.event(msg.content())).await.is_err() {
                    return false;
                }
            }
            true
        }
    };
    if !send_all(first).await {
        return;
    }
    loop {
        tokio::select! {
            () = store.pushed() => {
                if !send_all(store.take_messages()).await {
                    return;
                }
            }
            outcome = &mut delivery => {
                if !send_all(store.take_messages()).await {
                    return;
                }
                if let Outcome::Failed(err) = outcome {
                    tracing::error!(error = %err, "Streamed reply failed after its first message.");
                    // The caller may be gone already; nothing else to tell.
                    let _sent = chunks.send(mode.error_event(&err.to_string())).await;
                }
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!("Streamed reply timed out before the pipeline finished.");
                let _sent = chunks.send(mode.error_event("Request timed out")).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_carry_every_line_of_a_message() {
        let event = StreamMode::Sse.event(b"first\r\nsecond");
        assert_eq!(&event[..], b"data: first\ndata: second\n\n");
        let error = StreamMode::Sse.error_event("broken\npipe");
        assert_eq!(&error[..], b"event: error\ndata: broken pipe\n\n");
    }

    #[test]
    fn ndjson_keeps_a_message_on_one_line() {
        assert_eq!(
            &StreamMode::Ndjson.event(b"{\"a\":\n1}")[..],
            b"{\"a\": 1}\n"
        );
        assert_eq!(
            &StreamMode::Ndjson.error_event("it \"broke\"")[..],
            b"{\"error\":\"it \\\"broke\\\"\"}\n"
        );
    }
}
