//! The body of a served response: whole, as nearly every answer is, or
//! streamed chunk by chunk as a pipeline produces it
//! (`sync_response.stream`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

pub(crate) enum ReplyBody {
    Whole(Full<Bytes>),
    /// Chunks as they are sent; the body ends when the sender is dropped.
    Streamed(mpsc::Receiver<Bytes>),
}

impl ReplyBody {
    /// The whole body's bytes; `None` for a streamed one.
    pub(crate) fn whole_bytes(self) -> Option<Bytes> {
        match self {
            // A `Full` body yields its single frame immediately.
            Self::Whole(full) => Some(
                full.collect()
                    .now_or_never()
                    .and_then(Result::ok)
                    .map(|c| c.to_bytes())
                    .unwrap_or_default(),
            ),
            Self::Streamed(_) => None,
        }
    }
}

impl From<Full<Bytes>> for ReplyBody {
    fn from(full: Full<Bytes>) -> Self {
        Self::Whole(full)
    }
}

impl From<Bytes> for ReplyBody {
    fn from(bytes: Bytes) -> Self {
        Self::Whole(Full::new(bytes))
    }
}

impl Default for ReplyBody {
    fn default() -> Self {
        Self::Whole(Full::default())
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Whole(full) => Pin::new(full).poll_frame(cx),
            Self::Streamed(chunks) => chunks
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(full) => full.is_end_stream(),
            Self::Streamed(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(full) => full.size_hint(),
            Self::Streamed(_) => SizeHint::default(),
        }
    }
}
