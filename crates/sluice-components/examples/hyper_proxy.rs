//! The proxy baseline beside nginx: a minimal hyper server forwarding each
//! request to an upstream through hyper's pooled client and answering with
//! the upstream's status and body. `bench/proxy_load.py` measures it next to
//! sluice and nginx, which shows how much of a proxy's CPU is hyper itself.
//!
//! Usage: `hyper_proxy LISTEN UPSTREAM` (e.g. `127.0.0.1:4198 127.0.0.1:4196`)

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Full<Bytes>>;

async fn forward(
    client: Upstream,
    upstream: Uri,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let mut out = Request::new(Full::new(body.to_bytes()));
    *out.method_mut() = parts.method;
    *out.uri_mut() = upstream;
    if let Some(content_type) = parts.headers.get(http::header::CONTENT_TYPE) {
        out.headers_mut()
            .insert(http::header::CONTENT_TYPE, content_type.clone());
    }
    let Ok(res) = client.request(out).await else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    let (parts, body) = res.into_parts();
    let Ok(body) = body.collect().await else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    let mut answer = Response::new(Full::new(body.to_bytes()));
    *answer.status_mut() = parts.status;
    Ok(answer)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:4198".to_owned());
    let upstream = args.next().unwrap_or_else(|| "127.0.0.1:4196".to_owned());
    let upstream: Uri = format!("http://{upstream}/post")
        .parse()
        .map_err(std::io::Error::other)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                forward(client.clone(), upstream.clone(), req)
            });
            // A connection ending with an error (a client going away) is
            // nothing the benchmark needs to hear about.
            drop(
                hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await,
            );
        });
    }
}
