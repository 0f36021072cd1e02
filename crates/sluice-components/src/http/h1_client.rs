//! A lean HTTP/1.1 client for plain `http://` downstreams reached without a
//! proxy: the proxy path's hot loop.
//!
//! Why not hyper's or reqwest's client here: both hand every request to a
//! per-connection background task over channels and wrap it in layers
//! (reqwest also parses each URL twice more). Measured with
//! `bench/proxy_load.py`, hyper's pooled client with nothing else around it
//! costs 1.38x nginx's CPU per proxied request, over the 1.3x the proxy
//! path is held to. This client writes the request and reads the answer on
//! the caller's own task: one write and usually one read per exchange.
//! Everything else (TLS, proxies, HTTP/2) still goes through reqwest.
//!
//! Response framing follows RFC 9112: `Transfer-Encoding: chunked`, else
//! `Content-Length`, else the body runs to the end of the connection. A
//! connection is reused only when the whole response was read with a known
//! length and neither side asked to close it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::has_token;

/// Most headers a response head may have.
const MAX_HEADERS: usize = 128;
/// Largest response head read before giving up on it.
const MAX_HEAD_BYTES: usize = 1 << 20;
/// Bodies up to this size are written in the same `write` as the head.
const INLINE_BODY_BYTES: usize = 16 * 1024;
/// The most a response body reserves before its bytes arrive.
const MAX_RESERVED_BODY_BYTES: usize = 1 << 20;
/// How long an unused connection is kept (reqwest's and Go's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where a request goes: the parts of an `http://` URL the wire needs.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The host to connect to (an IPv6 address without brackets).
    host: String,
    port: u16,
    /// The `Host` header: the host, and the port unless it is 80.
    authority: String,
    /// The path and query, as sent on the request line.
    path_and_query: String,
}

impl Target {
    /// The target of a plain `http://` URL; `None` for any other scheme.
    pub(crate) fn from_url(url: &url::Url) -> Option<Target> {
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut path_and_query = url.path().to_owned();
        if let Some(query) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        Some(Target {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            authority,
            path_and_query,
        })
    }

    fn pool_key(&self) -> &str {
        &self.authority
    }
}

/// A complete response.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Keep-alive connections per `host:port`, most recently used last.
pub(crate) struct H1Client {
    idle: Mutex<HashMap<String, Vec<(Connection, Instant)>>>,
    max_idle_per_host: usize,
}

impl H1Client {
    pub(crate) fn new(max_idle_per_host: usize) -> H1Client {
        H1Client {
            idle: Mutex::new(HashMap::new()),
            max_idle_per_host,
        }
    }

    /// Sends one request and reads its whole response. Errors are texts in
    /// the words of Go's HTTP client, which Benthos users know.
    pub(crate) async fn send(
        &self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Answer, String> {
        if let Some(conn) = self.checkout(target) {
            match self.exchange(conn, method, target, headers, body).await {
                // A kept connection can be closed by the server just as a
                // request goes out on it. As Go's transport does, the request
                // is sent again on a new connection when the server cannot
                // have acted on it (the write failed), or when it received
                // nothing back and repeating the request is harmless.
                Err(failure)
                    if failure.write_failed
                        || (!failure.received_any && is_replayable(method, headers)) => {}
                done => return done.map_err(|failure| failure.text),
            }
        }
        let conn = Connection::open(target).await?;
        self.exchange(conn, method, target, headers, body)
            .await
            .map_err(|failure| failure.text)
    }

    /// One request and its response on `conn`, which goes back to the pool
    /// when both sides let it carry another request.
    async fn exchange(
        &self,
        mut conn: Connection,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Answer, Failure> {
        conn.received_any = false;
        let keep_alive = conn
            .write_request(method, target, headers, body)
            .await
            .map_err(|text| Failure {
                text,
                write_failed: true,
                received_any: false,
            })?;
        let (answer, reusable) = conn.read_response(method).await.map_err(|text| Failure {
            text,
            write_failed: false,
            received_any: conn.received_any,
        })?;
        if keep_alive && reusable {
            self.checkin(target, conn);
        }
        Ok(answer)
    }

    /// An idle connection to `target` that the server has not closed.
    fn checkout(&self, target: &Target) -> Option<Connection> {
        let mut idle = self.idle.lock().expect("connection pool lock poisoned");
        let conns = idle.get_mut(target.pool_key())?;
        while let Some((conn, since)) = conns.pop() {
            if since.elapsed() < IDLE_TIMEOUT && conn.is_idle_and_open() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, target: &Target, conn: Connection) {
        let mut idle = self.idle.lock().expect("connection pool lock poisoned");
        let conns = match idle.get_mut(target.pool_key()) {
            Some(conns) => conns,
            None => idle.entry(target.pool_key().to_owned()).or_default(),
        };
        if conns.len() < self.max_idle_per_host {
            conns.push((conn, Instant::now()));
        }
    }
}

/// Why an exchange failed, with what tells whether it may be repeated.
struct Failure {
    text: String,
    /// The request did not get out whole.
    write_failed: bool,
    /// Some bytes of a response arrived.
    received_any: bool,
}

/// Whether a request may be sent twice without harm (Go's `isReplayable`):
/// a safe method, or one that carries an idempotency key.
fn is_replayable(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || headers.contains_key("idempotency-key")
        || headers.contains_key("x-idempotency-key")
}

/// How a response body is delimited.
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// A response head, parsed.
struct Head {
    status: u16,
    headers: HeaderMap,
    /// Whether the server lets the connection be reused (version and
    /// `Connection` header).
    keep_alive: bool,
}

/// How much of a large body went out.
enum BodySent {
    Whole,
    /// The server answered before taking all of it.
    AnsweredEarly,
}

struct Connection {
    stream: TcpStream,
    /// Bytes read and not consumed yet.
    read: BytesMut,
    /// The request being written; kept to reuse its allocation.
    write: Vec<u8>,
    /// Whether any byte arrived since the current request was written.
    received_any: bool,
}

impl Connection {
    async fn open(target: &Target) -> Result<Connection, String> {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                format!(
                    "dial tcp {}:{}: connect: {}",
                    target.host,
                    target.port,
                    io_text(&e)
                )
            })?;
        // Requests are written whole; Nagle would only delay them.
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set TCP_NODELAY: {}", io_text(&e)))?;
        Ok(Connection {
            stream,
            read: BytesMut::with_capacity(8 * 1024),
            write: Vec::with_capacity(1024),
            received_any: false,
        })
    }

    /// Whether an idle connection can take a request: no bytes and no end
    /// of stream arrived while it sat in the pool. This reads only what the
    /// reactor has already seen, so a live connection costs no system call.
    fn is_idle_and_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Writes the request; returns whether the request lets the connection
    /// be kept afterwards.
    async fn write_request(
        &mut self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<bool, String> {
        let out = &mut self.write;
        out.clear();
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !headers.contains_key(header::HOST) {
            push_header(out, b"host", target.authority.as_bytes());
        }
        let mut keep_alive = true;
        for (name, value) in headers {
            // The body's framing is this client's to write.
            if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
                continue;
            }
            if name == header::CONNECTION && has_token(value, "close") {
                keep_alive = false;
            }
            push_header(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if !headers.contains_key(header::ACCEPT) {
            push_header(out, b"accept", b"*/*");
        }
        if !body.is_empty() || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let mut digits = itoa::Buffer::new();
            push_header(out, b"content-length", digits.format(body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        let inline = body.len() <= INLINE_BODY_BYTES;
        if inline {
            out.extend_from_slice(body);
        }
        if inline {
            self.stream
                .write_all(out)
                .await
                .map_err(|e| format!("write: {}", io_text(&e)))?;
            return Ok(keep_alive);
        }
        self.stream
            .write_all(out)
            .await
            .map_err(|e| format!("write: {}", io_text(&e)))?;
        match self.write_body_watching_for_an_answer(body).await {
            Ok(BodySent::Whole) => Ok(keep_alive),
            // The rest of the body is not wanted; the connection is out
            // of step with it and is not kept.
            Ok(BodySent::AnsweredEarly) => Ok(false),
            Err(e) => Err(format!("write: {}", io_text(&e))),
        }
    }

    /// Writes a large body while watching for a response: a server may
    /// answer (a 413, a 401) before reading it all and then close, and
    /// once it closes, the rest of the body only earns a reset that would
    /// hide its answer. As Go's transport does, the answer wins.
    async fn write_body_watching_for_an_answer(
        &mut self,
        body: &Bytes,
    ) -> std::io::Result<BodySent> {
        let Connection {
            stream,
            read,
            received_any,
            ..
        } = self;
        let (mut reader, mut writer) = stream.split();
        let write = writer.write_all(body);
        tokio::pin!(write);
        let mut closed = false;
        loop {
            tokio::select! {
                // An answer already there wins over the write's outcome.
                biased;
                got = reader.read_buf(read), if !closed => match got {
                    Ok(0) | Err(_) => closed = true,
                    Ok(_) => {
                        *received_any = true;
                        // `100 Continue` asks for the rest; anything else
                        // is the answer.
                        if !read.starts_with(b"HTTP/1.1 1") && !read.starts_with(b"HTTP/1.0 1") {
                            return Ok(BodySent::AnsweredEarly);
                        }
                    }
                },
                written = &mut write => {
                    let err = match written {
                        Ok(()) => return Ok(BodySent::Whole),
                        Err(e) => e,
                    };
                    // The reset may have overtaken the reading of an
                    // answer that arrived before it.
                    if read.is_empty() && !closed {
                        let late = tokio::time::timeout(
                            Duration::from_millis(50),
                            reader.read_buf(read),
                        );
                        if let Ok(Ok(n)) = late.await && n > 0 {
                            *received_any = true;
                        }
                    }
                    return if read.is_empty() { Err(err) } else { Ok(BodySent::AnsweredEarly) };
                }
            }
        }
    }

    /// Reads the response to a `method` request: the answer, and whether
    /// the connection can carry another request.
    async fn read_response(&mut self, method: &Method) -> Result<(Answer, bool), String> {
        let head = self.read_head().await?;
        let framing = if *method == Method::HEAD || matches!(head.status, 204 | 304) {
            Framing::None
        } else {
            framing(&head.headers)?
        };
        let (body, known_length) = match framing {
            Framing::None => (Bytes::new(), true),
            Framing::Length(len) => (self.read_exact_body(len).await?, true),
            Framing::Chunked => (self.read_chunked_body().await?, true),
            Framing::UntilClose => (self.read_to_close().await?, false),
        };
        // Bytes beyond the response mean the connection is out of step.
        let reusable = head.keep_alive && known_length && self.read.is_empty();
        let answer = Answer {
            status: head.status,
            headers: head.headers,
            body,
        };
        Ok((answer, reusable))
    }

    /// Reads more bytes; `Ok(0)` is the end of the stream.
    async fn fill(&mut self) -> Result<usize, String> {
        self.read.reserve(8 * 1024);
        let n = self
            .stream
            .read_buf(&mut self.read)
            .await
            .map_err(|e| format!("read: {}", io_text(&e)))?;
        self.received_any |= n > 0;
        Ok(n)
    }

    /// Reads the response head, skipping informational (1xx) ones.
    async fn read_head(&mut self) -> Result<Head, String> {
        loop {
            if !self.read.is_empty() {
                let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Response::new(&mut slots);
                match parsed.parse(&self.read) {
                    Ok(httparse::Status::Complete(len)) => {
                        let head = head_of(&parsed)?;
                        self.read.advance(len);
                        match head.status {
                            101 => return Err("unexpected 101 Switching Protocols".to_owned()),
                            100..=199 => continue,
                            _ => return Ok(head),
                        }
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(format!("malformed HTTP response: {e}")),
                }
                if self.read.len() > MAX_HEAD_BYTES {
                    return Err("server response headers exceeded 1 MiB".to_owned());
                }
            }
            if self.fill().await? == 0 {
                return Err(match self.read.is_empty() {
                    // The server closed the connection without answering.
                    true => "EOF".to_owned(),
                    false => "unexpected EOF reading the response head".to_owned(),
                });
            }
        }
    }

    async fn read_exact_body(&mut self, len: usize) -> Result<Bytes, String> {
        if self.read.len() >= len {
            // A copy lets the read buffer be reused; a split would share it.
            let body = Bytes::copy_from_slice(&self.read[..len]);
            self.read.advance(len);
            return Ok(body);
        }
        // The length is the server's word: reserved up front, a
        // `Content-Length` of a terabyte would abort the process on a failed
        // allocation before a byte arrived. Past this, the body grows as it
        // comes.
        let mut body = BytesMut::with_capacity(len.min(MAX_RESERVED_BODY_BYTES));
        self.take_into(len, &mut body).await?;
        Ok(body.freeze())
    }

    /// Moves exactly `len` bytes into `out`, reading as needed.
    async fn take_into(&mut self, mut len: usize, out: &mut BytesMut) -> Result<(), String> {
        loop {
            let now = len.min(self.read.len());
            out.extend_from_slice(&self.read[..now]);
            self.read.advance(now);
            len -= now;
            if len == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err("unexpected EOF".to_owned());
            }
        }
    }

    /// One line without its CRLF (a bare LF is tolerated, as in Go).
    async fn read_line(&mut self) -> Result<BytesMut, String> {
        loop {
            if let Some(at) = self.read.iter().position(|&b| b == b'\n') {
                let mut line = self.read.split_to(at + 1);
                line.truncate(at);
                if line.last() == Some(&b'\r') {
                    line.truncate(at - 1);
                }
                return Ok(line);
            }
            if self.read.len() > MAX_HEAD_BYTES {
                return Err("malformed chunked encoding: line too long".to_owned());
            }
            if self.fill().await? == 0 {
                return Err("unexpected EOF".to_owned());
            }
        }
    }

    async fn read_chunked_body(&mut self) -> Result<Bytes, String> {
        let mut body = BytesMut::new();
        loop {
            let line = self.read_line().await?;
            let size = chunk_size(&line)?;
            if size == 0 {
                break;
            }
            self.take_into(size, &mut body).await?;
            if !self.read_line().await?.is_empty() {
                return Err("malformed chunked encoding".to_owned());
            }
        }
        // Trailers, which Benthos does not read either, end at an empty line.
        while !self.read_line().await?.is_empty() {}
        Ok(body.freeze())
    }

    async fn read_to_close(&mut self) -> Result<Bytes, String> {
        while self.fill().await? > 0 {}
        Ok(self.read.split().freeze())
    }
}

/// The status, headers and keep-alive of a parsed head.
fn head_of(parsed: &httparse::Response<'_, '_>) -> Result<Head, String> {
    let status = parsed.code.ok_or("malformed HTTP response: no status")?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("malformed HTTP response: header name {:?}", h.name))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("malformed HTTP response: value of header {}", h.name))?;
        headers.append(name, value);
    }
    let connection = headers.get_all(header::CONNECTION);
    let keep_alive = match parsed.version {
        // HTTP/1.0 closes unless asked to keep the connection.
        Some(0) => connection.iter().any(|v| has_token(v, "keep-alive")),
        _ => !connection.iter().any(|v| has_token(v, "close")),
    };
    Ok(Head {
        status,
        headers,
        keep_alive,
    })
}

/// How the body after `headers` is delimited (RFC 9112, section 6.3).
fn framing(headers: &HeaderMap) -> Result<Framing, String> {
    if let Some(last) = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .next_back()
    {
        let chunked = last
            .to_str()
            .ok()
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        return Ok(if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let parsed = value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| format!("bad Content-Length {value:?}"))?;
        if length.is_some_and(|seen| seen != parsed) {
            return Err("conflicting Content-Length headers".to_owned());
        }
        length = Some(parsed);
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// The size on a chunk-size line, ignoring chunk extensions.
fn chunk_size(line: &[u8]) -> Result<usize, String> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits)
        .map(str::trim)
        .map_err(|_| "malformed chunked encoding".to_owned())?;
    if digits.is_empty() || digits.len() > 16 {
        return Err("malformed chunked encoding".to_owned());
    }
    usize::from_str_radix(digits, 16).map_err(|_| "malformed chunked encoding".to_owned())
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// An I/O error as Go words it (`connection refused`), without Rust's
/// `(os error 111)` suffix.
fn io_text(err: &std::io::Error) -> String {
    if err.raw_os_error().is_some() {
        let text = err.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        text.to_lowercase()
    } else {
        err.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that reads one request head and writes `reply` in pieces.
    async fn serve(pieces: Vec<&'static [u8]>) -> (Target, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            for piece in pieces {
                socket.write_all(piece).await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        });
        let url = url::Url::parse(&format!("http://{addr}/p?q=1")).unwrap();
        (Target::from_url(&url).unwrap(), task)
    }

    async fn exchange(pieces: Vec<&'static [u8]>) -> (Result<Answer, String>, String, usize) {
        let (target, server) = serve(pieces).await;
        let client = H1Client::new(4);
        let got = client
            .send(
                &Method::POST,
                &target,
                &HeaderMap::new(),
                &Bytes::from("hi"),
            )
            .await;
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        let pooled = client.idle.lock().unwrap().values().map(Vec::len).sum();
        (got, request, pooled)
    }

    #[tokio::test]
    async fn request_line_host_and_length_are_written() {
        let (got, request, pooled) =
            exchange(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]).await;
        let got = got.unwrap();
        assert_eq!((got.status, &got.body[..]), (200, &b"ok"[..]));
        assert!(
            request.starts_with("POST /p?q=1 HTTP/1.1\r\nhost: 127.0.0.1:"),
            "{request}"
        );
        assert!(request.contains("\r\ncontent-length: 2\r\n"), "{request}");
        assert_eq!(pooled, 1);
    }

    #[tokio::test]
    async fn chunked_bodies_split_across_reads_are_joined() {
        let (got, _, pooled) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel",
            b"lo\r\n6\r\n world\r\n0\r\nTrailer: x\r\n",
            b"\r\n",
        ])
        .await;
        assert_eq!(&got.unwrap().body[..], b"hello world");
        assert_eq!(pooled, 1);
    }

    #[tokio::test]
    async fn informational_heads_are_skipped() {
        let (got, _, _) = exchange(vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        assert_eq!(got.unwrap().status, 201);
    }

    #[tokio::test]
    async fn a_body_without_length_runs_to_the_close_and_is_not_pooled() {
        let (got, _, pooled) = exchange(vec![b"HTTP/1.1 200 OK\r\n\r\nall of it"]).await;
        assert_eq!(&got.unwrap().body[..], b"all of it");
        assert_eq!(pooled, 0);
    }

    #[tokio::test]
    async fn connection_close_and_http10_are_not_pooled() {
        let (_, _, pooled) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
        ])
        .await;
        assert_eq!(pooled, 0);
        let (_, _, pooled) = exchange(vec![b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"]).await;
        assert_eq!(pooled, 0);
    }

    #[tokio::test]
    async fn short_bodies_and_silent_closes_are_errors() {
        let (got, _, _) =
            exchange(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        assert_eq!(got.err().unwrap(), "unexpected EOF");
        let (got, _, _) = exchange(vec![]).await;
        assert_eq!(got.err().unwrap(), "EOF");
        let (got, _, _) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ])
        .await;
        assert_eq!(got.err().unwrap(), "malformed chunked encoding");
        let (got, _, _) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
        ])
        .await;
        assert_eq!(got.err().unwrap(), "conflicting Content-Length headers");
    }

    #[tokio::test]
    async fn a_huge_content_length_is_not_reserved_up_front() {
        // Reserved at once, a terabyte would abort the process.
        let (got, _, _) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\nonly this",
        ])
        .await;
        assert_eq!(got.err().unwrap(), "unexpected EOF");
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_by_the_server_is_not_reused() {
        let (target, server) = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).await;
        let client = H1Client::new(4);
        let headers = HeaderMap::new();
        client
            .send(&Method::GET, &target, &headers, &Bytes::new())
            .await
            .unwrap();
        // The server task ends and closes its side.
        server.await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(client.checkout(&target).is_none());
    }

    async fn read_head(socket: &mut TcpStream) {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending a request");
            seen.extend_from_slice(&buf[..n]);
        }
    }

    /// A server that answers the first request on its first connection,
    /// then reads the second request there and closes without answering,
    /// and answers one request on a second connection if one comes.
    async fn serve_then_drop_the_second_request() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            let (mut first, _) = listener.accept().await.unwrap();
            read_head(&mut first).await;
            first.write_all(ok).await.unwrap();
            read_head(&mut first).await;
            drop(first);
            let (mut second, _) = listener.accept().await.unwrap();
            read_head(&mut second).await;
            second.write_all(ok).await.unwrap();
        });
        let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
        Target::from_url(&url).unwrap()
    }

    #[tokio::test]
    async fn a_get_dropped_by_a_kept_connection_is_sent_again_on_a_new_one() {
        let target = serve_then_drop_the_second_request().await;
        let client = H1Client::new(4);
        let (headers, body) = (HeaderMap::new(), Bytes::new());
        for _ in 0..2 {
            let got = client.send(&Method::GET, &target, &headers, &body).await;
            assert_eq!(&got.unwrap().body[..], b"ok");
        }
    }

    #[tokio::test]
    async fn a_post_dropped_by_a_kept_connection_is_not_sent_twice() {
        let target = serve_then_drop_the_second_request().await;
        let client = H1Client::new(4);
        let (headers, body) = (HeaderMap::new(), Bytes::from("x"));
        let first = client.send(&Method::POST, &target, &headers, &body).await;
        assert_eq!(&first.unwrap().body[..], b"ok");
        let second = client.send(&Method::POST, &target, &headers, &body).await;
        assert_eq!(second.err().unwrap(), "EOF");
    }

    #[test]
    fn io_errors_read_as_in_go() {
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(io_text(&refused), "connection refused");
    }
}
