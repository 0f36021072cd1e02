//! Proxies for the `http_client` output and `http` processor: `proxy_url`,
//! and without it `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` from sluice's
//! environment, as Go's `http.ProxyFromEnvironment` reads them for Benthos.
//! A small forward proxy in the test records what it is asked for and
//! relays plain requests to the upstream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::support::{Sluice, post};
use crate::upstream::{Reply, Upstream};

/// A forward proxy: records each request line (method and target as
/// received) and relays plain requests to `target`, whatever host they
/// name; a `CONNECT` tunnel is refused with 403.
struct ForwardProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ForwardProxy {
    async fn start(target: SocketAddr) -> ForwardProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let log = Arc::clone(&log);
                        async move { relay(&log, target, req).await }
                    });
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                        .unwrap_or_default();
                });
            }
        });
        ForwardProxy { addr, seen, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    log: &Mutex<Vec<(String, String)>>,
    target: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    log.lock()
        .unwrap()
        .push((parts.method.to_string(), parts.uri.to_string()));
    if parts.method == http::Method::CONNECT {
        let mut res = Response::new(Full::new(Bytes::from_static(b"no tunnels here")));
        *res.status_mut() = http::StatusCode::FORBIDDEN;
        return Ok(res);
    }
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let relayed = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .request(parts.method, format!("http://{target}{path}"))
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = relayed.status();
    *res.body_mut() = Full::new(relayed.bytes().await.unwrap());
    Ok(res)
}

/// `http_server` on `/post` -> `http_client` to `url` with
/// `propagate_response`, no retries, and `extra` output fields.
fn config(url: &str, extra: &str) -> String {
    format!(
        "input:\n  http_server:\n    path: /post\noutput:\n  http_client:\n    url: {url}\n    propagate_response: true\n    retries: 0\n{extra}"
    )
}

/// The environment for a run: only the variables given are set (empty
/// values hide any the test itself runs with).
fn env<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all: Vec<(&str, &str)> = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, ""))
    .collect();
    all.extend_from_slice(vars);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_from_the_environment_carries_requests() {
    let upstream = Upstream::always(Reply::ok("stored")).await;
    let proxy = ForwardProxy::start(upstream.addr).await;
    // The name does not resolve: only the proxy can deliver the request.
    let named = format!("http://orders.invalid:{}/orders?id=7", upstream.addr.port());
    let sluice = Sluice::start_with_env(&config(&named, ""), &env(&[("HTTP_PROXY", &proxy.url())]));
    assert_eq!(
        post(&sluice, "/post", "order 7").await,
        (200, "stored".to_owned())
    );
    assert_eq!(proxy.seen(), [("POST".to_owned(), named.clone())]);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/orders?id=7");
    assert_eq!(
        seen[0].header("host"),
        format!("orders.invalid:{}", upstream.addr.port())
    );
    assert_eq!(seen[0].text(), "order 7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_http_proxy_works_for_the_http_processor() {
    let upstream = Upstream::always(Reply::ok("enriched")).await;
    let proxy = ForwardProxy::start(upstream.addr).await;
    let named = format!("http://lookup.invalid:{}/lookup", upstream.addr.port());
    let sluice = Sluice::start_with_env(
        &format!(
            "input:\n  http_server:\n    path: /post\npipeline:\n  processors:\n    - http:\n        url: {named}\n    - sync_response: {{}}\noutput:\n  drop: {{}}\n"
        ),
        &env(&[("http_proxy", &proxy.url())]),
    );
    assert_eq!(
        post(&sluice, "/post", "x").await,
        (200, "enriched".to_owned())
    );
    assert_eq!(proxy.seen(), [("POST".to_owned(), named)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_goes_direct_even_with_a_proxy_set() {
    // Go never proxies localhost or loopback addresses.
    let upstream = Upstream::always(Reply::ok("direct")).await;
    let proxy = ForwardProxy::start(upstream.addr).await;
    let sluice = Sluice::start_with_env(
        &config(&upstream.url("/here"), ""),
        &env(&[("HTTP_PROXY", &proxy.url())]),
    );
    assert_eq!(
        post(&sluice, "/post", "x").await,
        (200, "direct".to_owned())
    );
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!(proxy.seen(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_hosts_go_direct() {
    let upstream = Upstream::always(Reply::ok("stored")).await;
    let proxy = ForwardProxy::start(upstream.addr).await;
    let named = format!("http://skip.invalid:{}/x", upstream.addr.port());
    let sluice = Sluice::start_with_env(
        &config(&named, ""),
        &env(&[
            ("HTTP_PROXY", &proxy.url()),
            ("NO_PROXY", "example.com, .invalid"),
        ]),
    );
    // Direct, the name cannot be resolved: the request fails without ever
    // reaching the proxy.
    let (status, body) = post(&sluice, "/post", "x").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("skip.invalid"), "{body}");
    assert_eq!(proxy.seen(), []);
    assert_eq!(upstream.seen().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_urls_use_https_proxy_through_a_tunnel() {
    let upstream = Upstream::always(Reply::ok("unused")).await;
    let proxy = ForwardProxy::start(upstream.addr).await;
    let sluice = Sluice::start_with_env(
        &config("https://secure.invalid:8443/pay", ""),
        &env(&[("HTTPS_PROXY", &proxy.url())]),
    );
    let (status, body) = post(&sluice, "/post", "x").await;
    assert_eq!(status, 502, "{body}");
    // reqwest asks for a tunnel to the host; this proxy refuses it.
    assert_eq!(
        proxy.seen(),
        [("CONNECT".to_owned(), "secure.invalid:8443".to_owned())]
    );
    // HTTP_PROXY alone is not used for https.
    let proxy = ForwardProxy::start(upstream.addr).await;
    let sluice = Sluice::start_with_env(
        &config("https://secure.invalid:8443/pay", ""),
        &env(&[("HTTP_PROXY", &proxy.url())]),
    );
    assert_eq!(post(&sluice, "/post", "x").await.0, 502);
    assert_eq!(proxy.seen(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_takes_every_request_over_the_environment() {
    let upstream = Upstream::always(Reply::ok("via proxy_url")).await;
    let configured = ForwardProxy::start(upstream.addr).await;
    let from_env = ForwardProxy::start(upstream.addr).await;
    let sluice = Sluice::start_with_env(
        &config(
            &upstream.url("/loop"),
            &format!("    proxy_url: {}\n", configured.url()),
        ),
        &env(&[("HTTP_PROXY", &from_env.url())]),
    );
    assert_eq!(
        post(&sluice, "/post", "x").await,
        (200, "via proxy_url".to_owned())
    );
    // Even a loopback URL goes through proxy_url, as in Benthos.
    assert_eq!(
        configured.seen(),
        [("POST".to_owned(), upstream.url("/loop"))]
    );
    assert_eq!(from_env.seen(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_proxy_variable_stops_the_config() {
    let (_dir, path) = crate::support::write_config(&config("http://127.0.0.1:1/", ""));
    let path = path.display().to_string();
    let out = std::process::Command::new(crate::support::bin())
        .args(["-c", &path, "--set", "http.address=127.0.0.1:0"])
        .envs(env(&[("HTTP_PROXY", "http://[broken")]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Logged in logfmt, so quotes inside the message are escaped.
    assert!(
        stderr.contains(&format!(
            r#"{path}(6,5) invalid proxy address \"http://[broken\" in HTTP_PROXY: "#
        )),
        "{stderr}"
    );
}
