//! A scriptable local HTTP server standing in for a downstream service: it
//! records every request it sees (with the time it arrived) and answers each
//! one as its script says (status, headers, body, delay, redirect, closing
//! the connection, multipart bodies). Plain HTTP or TLS with a certificate
//! generated at test time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One request the upstream received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) at: Instant,
    pub(crate) method: String,
    /// Path and query.
    pub(crate) uri: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Seen {
    /// A request header as text ("" when absent).
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How to answer one request.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    delay: Duration,
    close: bool,
}

impl Reply {
    /// `status` with `body`.
    pub(crate) fn new(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            close: false,
        }
    }

    /// 200 with `body`.
    pub(crate) fn ok(body: impl Into<Bytes>) -> Reply {
        Reply::new(200, body)
    }

    /// A redirect to `location`.
    pub(crate) fn redirect(status: u16, location: &str) -> Reply {
        Reply::new(status, format!("moved to {location}")).header("Location", location)
    }

    /// Closes the connection without answering.
    pub(crate) fn close() -> Reply {
        Reply {
            close: true,
            ..Reply::new(200, "")
        }
    }

    /// A `multipart/mixed` body with one part per entry.
    pub(crate) fn multipart(parts: &[&str]) -> Reply {
        let mut body = String::new();
        for part in parts {
            body.push_str("--BOUNDARY\r\nContent-Type: text/plain\r\n\r\n");
            body.push_str(part);
            body.push_str("\r\n");
        }
        body.push_str("--BOUNDARY--\r\n");
        Reply::ok(body).header("Content-Type", "multipart/mixed; boundary=BOUNDARY")
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits `delay` before answering.
    pub(crate) fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct State {
    seen: Mutex<Vec<Seen>>,
    count: AtomicUsize,
    connections: AtomicUsize,
    script: Box<Script>,
}

/// A running upstream; stops when dropped.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

/// A CA, a server certificate for `localhost` and `127.0.0.1` and a client
/// certificate, both signed by the CA, written as PEM files.
pub(crate) struct Certs {
    _dir: tempfile::TempDir,
    /// The client certificate and its key, for `tls.client_certs`.
    pub(crate) client_cert_file: PathBuf,
    pub(crate) client_key_file: PathBuf,
    /// The CA certificate, for `tls.root_cas_file`.
    pub(crate) ca_file: PathBuf,
    /// The server certificate and its key, for a server's `cert_file`/`key_file`.
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Certs {
    pub(crate) fn generate() -> Certs {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write CA");
        let cert_file = dir.path().join("server.pem");
        std::fs::write(&cert_file, cert.pem()).expect("write server certificate");
        let key_file = dir.path().join("server-key.pem");
        std::fs::write(&key_file, key.serialize_pem()).expect("write server key");
        let client_key = KeyPair::generate().expect("client key");
        let mut client_params =
            CertificateParams::new(Vec::<String>::new()).expect("client params");
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice test client");
        let client = client_params
            .signed_by(&client_key, &ca, &ca_key)
            .expect("client cert");
        let client_cert_file = dir.path().join("client.pem");
        std::fs::write(&client_cert_file, client.pem()).expect("write client certificate");
        let client_key_file = dir.path().join("client-key.pem");
        std::fs::write(&client_key_file, client_key.serialize_pem()).expect("write client key");
        Certs {
            _dir: dir,
            client_cert_file,
            client_key_file,
            ca_file,
            cert_file,
            key_file,
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    pub(crate) fn ca_path(&self) -> &Path {
        &self.ca_file
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
        .expect("server TLS config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl Upstream {
    /// Starts a plain HTTP upstream; `script(request, n)` answers the `n`th
    /// request (0-based).
    pub(crate) async fn start(
        script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Self::start_inner(Box::new(script), None).await
    }

    /// Starts an HTTPS upstream with `certs`.
    pub(crate) async fn start_tls(
        certs: &Certs,
        script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Self::start_inner(Box::new(script), Some(certs.acceptor())).await
    }

    /// Answers the `n`th request with `replies[n]`, the last one repeated.
    pub(crate) async fn sequence(replies: Vec<Reply>) -> Upstream {
        assert!(!replies.is_empty());
        Self::start(move |_, n| replies[n.min(replies.len() - 1)].clone()).await
    }

    /// Always answers `reply`.
    pub(crate) async fn always(reply: Reply) -> Upstream {
        Self::sequence(vec![reply]).await
    }

    async fn start_inner(script: Box<Script>, tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let state = Arc::new(State {
            seen: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            script,
        });
        let is_tls = tls.is_some();
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&shared);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { handle(&state, req).await }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                // A connection ending early is part of some scripts.
                                builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await
                                    .unwrap_or_default();
                            }
                        }
                        None => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                                .unwrap_or_default();
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            tls: is_tls,
            state,
            task,
        }
    }

    /// `http(s)://127.0.0.1:port{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Every request seen so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many connections were accepted.
    pub(crate) fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests were seen (or `timeout` passed) and returns
    /// them.
    pub(crate) async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Seen> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.seen();
            if seen.len() >= n || Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by the test upstream")
    }
}

impl std::error::Error for Closed {}

async fn handle(state: &State, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Closed> {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        at,
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let n = state.count.fetch_add(1, Ordering::SeqCst);
    let reply = (state.script)(&seen, n);
    state.seen.lock().unwrap().push(seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.close {
        // An error from the service makes hyper drop the connection without
        // writing a response.
        return Err(Closed);
    }
    let mut res = Response::new(Full::new(reply.body));
    *res.status_mut() = http::StatusCode::from_u16(reply.status).expect("status");
    for (name, value) in reply.headers {
        res.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(&value).expect("header value"),
        );
    }
    Ok(res)
}

/// The gaps between consecutive requests.
pub(crate) fn gaps(seen: &[Seen]) -> Vec<Duration> {
    seen.windows(2).map(|w| w[1].at - w[0].at).collect()
}

/// Answers every request with `raw` bytes written straight to the socket,
/// then closes the connection: for answers hyper would refuse to send (a
/// body shorter than its `Content-Length`). Returns the address and a
/// counter of requests.
pub(crate) async fn raw_upstream(
    raw: &'static [u8],
) -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw upstream");
    let addr = listener.local_addr().expect("raw upstream address");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (pos + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                stream.write_all(raw).await.unwrap_or_default();
                stream.shutdown().await.unwrap_or_default();
            });
        }
    });
    (addr, count, task)
}
