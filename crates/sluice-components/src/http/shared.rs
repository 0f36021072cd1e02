//! The service-wide HTTP server (the top-level `http:` section): `/ping`,
//! `/ready`, `/version`, `/endpoints`, `/metrics`, and the endpoints of
//! `http_server` inputs that have no address of their own.

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use sluice_core::metrics::Metrics;
use sluice_core::runtime::connection::ConnectionStatus;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Handler, HttpResponse, RequestInfo, Router, ok_response};

type ReadinessCheck = Box<dyn Fn() -> Vec<ConnectionStatus> + Send + Sync>;

/// The service-wide HTTP server.
pub struct SharedHttpServer {
    router: Arc<Router>,
    root_path: String,
    readiness: Mutex<Vec<ReadinessCheck>>,
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
                let statuses = weak.upgrade().map(|s| s.statuses()).unwrap_or_default();
                async move { readiness_response(&statuses) }.boxed()
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

    /// Registers `handler` at `path` and at `root_path + path`; the last
    /// registration of a path wins.
    pub(crate) fn register(
        &self,
        path: &str,
        description: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<(), String> {
        self.router
            .register(path, description, Arc::clone(&handler))?;
        if !self.root_path.is_empty() {
            let prefixed = format!("{}{path}", self.root_path);
            self.router.register(&prefixed, description, handler)?;
        }
        Ok(())
    }

    /// Adds connections that `/ready` reports.
    pub fn add_readiness_check(
        &self,
        check: impl Fn() -> Vec<ConnectionStatus> + Send + Sync + 'static,
    ) {
        self.readiness
            .lock()
            .expect("readiness lock poisoned")
            .push(Box::new(check));
    }

    fn statuses(&self) -> Vec<ConnectionStatus> {
        self.readiness
            .lock()
            .expect("readiness lock poisoned")
            .iter()
            .flat_map(|check| check())
            .collect()
    }

    /// Serves until `stop` is cancelled; in-flight requests complete.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: CancellationToken) {
        super::serve(listener, Arc::clone(&self.router), None, stop).await;
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
