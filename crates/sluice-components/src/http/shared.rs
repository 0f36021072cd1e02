//! The service-wide HTTP server (the top-level `http:` section): `/ping`,
//! `/ready`, `/version`, `/endpoints`, `/metrics`, and the endpoints of
//! `http_server` inputs that have no address of their own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use sluice_core::metrics::Metrics;
use sluice_core::runtime::connection::ConnectionStatus;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Handler, HttpResponse, RequestInfo, Router, error_response, ok_response};

type ReadinessCheck = Box<dyn Fn() -> Vec<ConnectionStatus> + Send + Sync>;

/// Request bodies of the service's own API endpoints are capped: they are
/// configs, never data.
const API_BODY_LIMIT: usize = 4 << 20;

/// A request to one of the service's own API endpoints, body read.
pub struct ApiRequest {
    /// The HTTP method.
    pub method: http::Method,
    /// Path parameters, in the order the path declares them.
    pub params: Vec<(String, String)>,
    /// The query string, if any.
    pub query: Option<String>,
    /// The whole body.
    pub body: bytes::Bytes,
}

/// The answer of an API endpoint.
pub struct ApiResponse {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: bytes::Bytes,
    /// Its content type.
    pub content_type: &'static str,
}

/// The service-wide HTTP server.
pub struct SharedHttpServer {
    router: Arc<Router>,
    root_path: String,
    // One check per stream, by stream name.
    readiness: Mutex<Vec<(String, ReadinessCheck)>>,
    // Prepended to the paths a stream registers (streams mode).
    prefix: String,
    // Streams mode: with no stream at all, `/ready` answers 200 (as
    // Benthos's streams API does), where a single stream that has not
    // reported yet is still starting.
    ready_without_streams: std::sync::atomic::AtomicBool,
    // Set when a shutdown begins: `/ready` answers 503 from then on, so a
    // load balancer stops sending while accepted requests drain.
    shutting_down: std::sync::atomic::AtomicBool,
}

/// The handlers a reload took off the server. Requests that reached them
/// before the switch are still being answered by the old stream.
pub struct RetiredRoutes {
    handlers: Vec<Arc<dyn Handler>>,
}

impl RetiredRoutes {
    /// Waits, at most `limit`, until no request is inside a retired handler,
    /// so that stopping the old stream turns nobody away. Returns whether
    /// they went idle in time.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        // Polled: handlers keep only a counter on their hot path, and a
        // reload is rare enough that a few millisecond ticks cost nothing.
        while self.handlers.iter().any(|h| h.in_progress() > 0) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

struct FnHandler<F>(F);

impl<F> Handler for FnHandler<F>
where
    F: Fn(Request<Incoming>, RequestInfo) -> BoxFuture<'static, HttpResponse> + Send + Sync,
{
    fn handle(
        &self,
        req: Request<Incoming>,
        info: RequestInfo,
    ) -> BoxFuture<'static, HttpResponse> {
        (self.0)(req, info)
    }
}

/// The version reported by `/version` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl SharedHttpServer {
    /// A server whose endpoints also answer under `root_path`; with
    /// `metrics`, `/metrics` and `/stats` serve them in the Prometheus format.
    pub fn new(root_path: &str, metrics: Option<Metrics>) -> Arc<Self> {
        let server = Arc::new(Self {
            router: Arc::new(Router::default()),
            root_path: root_path.trim_end_matches('/').to_owned(),
            readiness: Mutex::new(Vec::new()),
            prefix: String::new(),
            ready_without_streams: std::sync::atomic::AtomicBool::new(false),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        });
        server.register_fn("/ping", "Ping me.", |_, _| {
            async { ok_response("pong", "text/plain; charset=utf-8") }.boxed()
        });
        server.register_fn("/version", "Returns the service version.", |_, _| {
            let body = format!(r#"{{"version":"{VERSION}","built":"unknown"}}"#);
            async move { ok_response(body, "application/json") }.boxed()
        });
        let weak = Arc::downgrade(&server);
        server.register_fn(
            "/ready",
            "Returns 200 when every input and output is connected, 503 otherwise.",
            move |_, _| {
                let response = match weak.upgrade() {
                    Some(server) if server.is_shutting_down() => {
                        let mut res = readiness_response(&server.statuses());
                        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        res
                    }
                    Some(server) if server.ready_for_lack_of_streams() => {
                        ok_response("{\"statuses\":[]}\n", "application/json")
                    }
                    Some(server) => readiness_response(&server.statuses()),
                    None => readiness_response(&[]),
                };
                async move { response }.boxed()
            },
        );
        let weak = Arc::downgrade(&server);
        server.register_fn(
            "/endpoints",
            "Lists the registered endpoints.",
            move |_, _| {
                let endpoints = weak
                    .upgrade()
                    .map(|s| s.router.endpoints())
                    .unwrap_or_default();
                let map: serde_json::Map<String, serde_json::Value> = endpoints
                    .into_iter()
                    .map(|(path, desc)| (path, serde_json::Value::String(desc)))
                    .collect();
                let body = serde_json::to_vec(&map).unwrap_or_default();
                async move { ok_response(body, "application/json") }.boxed()
            },
        );
        if let Some(metrics) = metrics {
            for path in ["/metrics", "/stats"] {
                let metrics = metrics.clone();
                server.register_fn(path, "Prometheus metrics.", move |_, _| {
                    let body = metrics.render_prometheus();
                    async move { ok_response(body, "text/plain; version=0.0.4") }.boxed()
                });
            }
        }
        server
    }

    fn register_fn<F>(&self, path: &str, description: &str, f: F)
    where
        F: Fn(Request<Incoming>, RequestInfo) -> BoxFuture<'static, HttpResponse>
            + Send
            + Sync
            + 'static,
    {
        self.register(path, description, Arc::new(FnHandler(f)))
            .expect("built-in paths are valid");
    }

    /// Adds an endpoint of the service itself (such as the streams API),
    /// which streams never replace. Its handler gets the whole body.
    pub fn register_api<F>(&self, path: &str, description: &str, f: F)
    where
        F: Fn(ApiRequest) -> BoxFuture<'static, ApiResponse> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.register_fn(path, description, move |req, info| {
            let f = Arc::clone(&f);
            async move {
                use http_body_util::{BodyExt as _, Limited};
                let (parts, body) = req.into_parts();
                let body = match Limited::new(body, API_BODY_LIMIT).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => {
                        return error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "Request body too large",
                        );
                    }
                };
                let res = f(ApiRequest {
                    method: parts.method,
                    params: info.params,
                    query: parts.uri.query().map(str::to_owned),
                    body,
                })
                .await;
                let mut out = ok_response(res.body, res.content_type);
                *out.status_mut() = res.status;
                out
            }
            .boxed()
        });
    }

    /// An empty server with the same `root_path`, where the stream `owner`
    /// registers its endpoints (under `prefix`) while it is being built;
    /// [`adopt_routes`](Self::adopt_routes) then puts them live. A stream
    /// that fails to build never answers anyone.
    pub fn staging(&self, owner: &str, prefix: &str) -> Arc<Self> {
        Arc::new(Self {
            router: Arc::new(Router::owned(owner)),
            root_path: self.root_path.clone(),
            readiness: Mutex::new(Vec::new()),
            prefix: prefix.trim_end_matches('/').to_owned(),
            ready_without_streams: std::sync::atomic::AtomicBool::new(false),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Makes the endpoints registered on `staged` live, in one step, in
    /// place of those the same stream registered before.
    pub fn adopt_routes(&self, staged: &SharedHttpServer) -> RetiredRoutes {
        RetiredRoutes {
            handlers: self.router.replace_routes(&staged.router),
        }
    }

    /// Takes the endpoints of the stream `owner` off the server.
    pub fn remove_routes(&self, owner: &str) -> RetiredRoutes {
        RetiredRoutes {
            handlers: self.router.remove_owned(owner),
        }
    }

    /// Registers `handler` at `path` and at `root_path + path`; the last
    /// registration of a path wins.
    pub(crate) fn register(
        &self,
        path: &str,
        description: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<(), String> {
        let path = format!("{}{path}", self.prefix);
        self.router
            .register(&path, description, Arc::clone(&handler))?;
        if !self.root_path.is_empty() {
            let prefixed = format!("{}{path}", self.root_path);
            self.router.register(&prefixed, description, handler)?;
        }
        Ok(())
    }

    /// Sets the connections `/ready` reports for the stream `owner`.
    pub fn set_readiness_check(
        &self,
        owner: &str,
        check: impl Fn() -> Vec<ConnectionStatus> + Send + Sync + 'static,
    ) {
        let mut checks = self.readiness.lock().expect("readiness lock poisoned");
        checks.retain(|(name, _)| name != owner);
        checks.push((owner.to_owned(), Box::new(check)));
    }

    /// Forgets the connections of the stream `owner`.
    pub fn remove_readiness_check(&self, owner: &str) {
        self.readiness
            .lock()
            .expect("readiness lock poisoned")
            .retain(|(name, _)| name != owner);
    }

    /// A shutdown has begun: `/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Makes `/ready` answer 200 while no stream runs at all (streams mode).
    pub fn set_ready_without_streams(&self) {
        self.ready_without_streams
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn ready_for_lack_of_streams(&self) -> bool {
        self.ready_without_streams
            .load(std::sync::atomic::Ordering::Relaxed)
            && self
                .readiness
                .lock()
                .expect("readiness lock poisoned")
                .is_empty()
    }

    fn statuses(&self) -> Vec<ConnectionStatus> {
        self.readiness
            .lock()
            .expect("readiness lock poisoned")
            .iter()
            .flat_map(|(_, check)| check())
            .collect()
    }

    /// Serves until `stop` is cancelled, with the `http` section's TLS,
    /// authentication and CORS; in-flight requests complete.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        options: super::ServerOptions,
        stop: CancellationToken,
    ) {
        let site = Arc::new(super::Site {
            router: Arc::clone(&self.router),
            guard: options.guard,
        });
        super::serve(listener, site, options.tls, options.limits, stop).await;
    }
}

/// `/ready`'s answer, as Benthos gives it: every connection as JSON, with 503
/// unless there is at least one and all are connected (none yet means the
/// stream is still starting).
fn readiness_response(statuses: &[ConnectionStatus]) -> HttpResponse {
    let ready = !statuses.is_empty() && statuses.iter().all(|s| s.connected);
    let body = serde_json::json!({ "statuses": statuses });
    let mut res = ok_response(format!("{body}\n"), "application/json");
    if !ready {
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    res
}
