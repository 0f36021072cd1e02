//! The performance baseline: a minimal hyper server doing the weather
//! transform by hand. `scripts/bench_http.py` measures sluice against it.
//!
//! Usage: `hyper_weather 127.0.0.1:4196`

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

async fn weather(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let Ok(body) = req.into_body().collect().await else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let Ok(input) = serde_json::from_slice::<serde_json::Value>(&body.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let out = serde_json::json!({
        "city": input.get("location").cloned().unwrap_or(serde_json::Value::Null),
        "forecast": "Clear skies with light winds",
        "temperature_c": 22,
    });
    let bytes = serde_json::to_vec(&out).unwrap_or_default();
    let mut res = Response::new(Full::new(Bytes::from(bytes)));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    Ok(res)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4196".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(weather);
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
