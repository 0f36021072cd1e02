//! What one client connection may hold of the server: how long it may take
//! to send a request's headers, how many connections are open at once, how
//! long a TLS handshake may take, and how the accept loop behaves when the
//! process is out of file descriptors.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Hyper's own default for the header read timeout; Go's server has none, so
/// a client that sends half a header would otherwise hold its connection
/// (and a file descriptor) forever.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A TLS handshake that has not finished by then is dropped.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors kept back from connections for everything else the
/// process opens (brokers, files, outgoing HTTP).
const RESERVED_DESCRIPTORS: usize = 128;

/// The limits a server applies to its connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers, also how
    /// long a kept-alive connection may wait for its next request.
    pub header_read_timeout: Duration,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// Connections open at once; past it the server stops accepting until
    /// one closes (new clients wait in the listen backlog).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

/// The default connection cap: what the process's open-file limit leaves
/// after a reserve, so that the server stops accepting before `accept` fails
/// with "too many open files".
pub fn default_max_connections() -> usize {
    soft_open_file_limit()
        .map(|limit| limit.saturating_sub(RESERVED_DESCRIPTORS).max(16))
        .unwrap_or(10_000)
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (the crate forbids
/// the `unsafe` a `getrlimit` call would need).
fn soft_open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    // "unlimited" has no number: no cap from it.
    soft.parse().ok()
}

/// Waits between failed `accept` calls, as Go's `net/http` does: 5 ms,
/// doubling to 1 s, back to nothing after a success. Without it a process
/// out of file descriptors spins at full CPU, failing accept millions of
/// times a second.
#[derive(Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
    // The warning is written at most once a second; failures in between are
    // counted and reported with the next one.
    last_warning: Option<Instant>,
    suppressed: u64,
}

const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(1);

impl AcceptBackoff {
    /// Logs the failure (rate limited) and returns how long to wait before
    /// the next accept.
    pub fn failed(&mut self, err: &io::Error) -> Duration {
        let delay = match self.delay {
            None => ACCEPT_BACKOFF_FIRST,
            Some(d) => (d * 2).min(ACCEPT_BACKOFF_MAX),
        };
        self.delay = Some(delay);
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_WARNING_EVERY)
        {
            tracing::warn!(
                error = %err,
                retry_in_ms = delay.as_millis() as u64,
                suppressed = self.suppressed,
                "Failed to accept connection."
            );
            self.last_warning = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        delay
    }

    /// An accept succeeded: the next failure starts from the first delay.
    pub fn succeeded(&mut self) {
        self.delay = None;
    }
}

/// A plain TCP connection that can answer `408 Request Timeout` when hyper
/// gives up on a client that started a request but did not finish its
/// headers in time. Hyper itself just closes the connection; the answer is
/// written, without waiting, as the connection is dropped.
pub(crate) struct PlainConnection {
    stream: TcpStream,
    // Bytes arrived since the last answer was written: a request is under way.
    request_started: bool,
    header_timed_out: Arc<AtomicBool>,
}

impl PlainConnection {
    /// The connection, and the flag to raise when its header read timed out.
    pub(crate) fn new(stream: TcpStream) -> (Self, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        let conn = Self {
            stream,
            request_started: false,
            header_timed_out: Arc::clone(&flag),
        };
        (conn, flag)
    }
}

const REQUEST_TIMEOUT_ANSWER: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

impl Drop for PlainConnection {
    fn drop(&mut self) {
        // An idle kept-alive connection that timed out is just closed, as Go
        // closes it; only a client in the middle of a request is told why.
        if self.request_started && self.header_timed_out.load(Ordering::Acquire) {
            tracing::debug!("Request headers not received in time, answered 408.");
            if let Err(err) = self.stream.try_write(REQUEST_TIMEOUT_ANSWER) {
                tracing::debug!(error = %err, "Failed to write the 408 answer.");
            }
        }
    }
}

impl AsyncRead for PlainConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.request_started = true;
        }
        res
    }
}

impl AsyncWrite for PlainConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.request_started = false;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.request_started = false;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A connection that is closed, as if the client had hung up, when its
/// first byte does not arrive in time. Hyper's header read timeout starts
/// only once it reads a request head, and the first read (which tells HTTP/1
/// from HTTP/2) has none: without this, a client that connects and sends
/// nothing holds its connection forever.
pub(crate) struct FirstByteDeadline<IO> {
    io: IO,
    // Dropped once a byte has arrived: from then on hyper's timers apply.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> FirstByteDeadline<IO> {
    pub(crate) fn new(io: IO, limit: Duration) -> Self {
        Self {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.io).poll_read(cx, buf);
        match &mut self.deadline {
            None => res,
            Some(_) if buf.filled().len() > before => {
                self.deadline = None;
                res
            }
            Some(deadline) => {
                if res.is_pending() && deadline.as_mut().poll(cx).is_ready() {
                    tracing::debug!("No request arrived in time, connection closed.");
                    return Poll::Ready(Ok(()));
                }
                res
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets() {
        let mut backoff = AcceptBackoff::default();
        let err = io::Error::other("too many open files");
        let waits: Vec<_> = (0..10).map(|_| backoff.failed(&err)).collect();
        assert_eq!(waits[0], Duration::from_millis(5));
        assert_eq!(waits[1], Duration::from_millis(10));
        assert_eq!(waits[7], Duration::from_millis(640));
        assert_eq!(waits[8], Duration::from_secs(1));
        assert_eq!(waits[9], Duration::from_secs(1));
        backoff.succeeded();
        assert_eq!(backoff.failed(&err), Duration::from_millis(5));
    }

    #[test]
    fn warnings_are_written_once_a_second_with_the_count_in_between() {
        let mut backoff = AcceptBackoff::default();
        let err = io::Error::other("too many open files");
        for _ in 0..100 {
            backoff.failed(&err);
        }
        // One warning written, 99 counted for the next one.
        assert_eq!(backoff.suppressed, 99);
    }

    #[test]
    fn the_default_cap_leaves_descriptors_for_the_rest() {
        let cap = default_max_connections();
        if let Some(limit) = soft_open_file_limit() {
            assert!(cap < limit, "cap {cap} within limit {limit}");
        }
        assert!(cap >= 16);
    }
}
