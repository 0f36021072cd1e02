//! The Kafka fan-out baseline: a minimal hyper server that produces each
//! request body to a topic through rdkafka and answers once the broker has
//! acknowledged the record (its delivery report), with the body in upper
//! case, as the seed `fan_out` config (kafka + sync_response) does. Each
//! record carries the headers sluice's `http_server` metadata would give it
//! (the request's headers, canonicalised, and the request path, verb, user
//! agent and remote address), so both write the same records.
//! `bench/kafka_load.py` measures it next to sluice in the same run.
//!
//! Usage: `hyper_kafka LISTEN BROKER TOPIC` (e.g. `127.0.0.1:4198 127.0.0.1:9092 bench`)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// `content-type` as `Content-Type`, as Go's http.CanonicalHeaderKey.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

async fn produce(
    producer: Arc<FutureProducer>,
    topic: Arc<str>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let body = body.to_bytes();
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let remote = remote.ip().to_string();
    let mut headers = OwnedHeaders::new_with_capacity(parts.headers.len() + 4);
    for (key, value) in [
        ("http_server_user_agent", user_agent),
        ("http_server_request_path", parts.uri.path()),
        ("http_server_verb", parts.method.as_str()),
        ("http_server_remote_ip", remote.as_str()),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    for (name, value) in &parts.headers {
        headers = headers.insert(Header {
            key: &canonical(name.as_str()),
            value: Some(value.as_bytes()),
        });
    }
    let record = FutureRecord::<(), [u8]>::to(&topic)
        .payload(&body[..])
        .headers(headers);
    match producer.send(record, Duration::from_secs(5)).await {
        Ok(_) => Ok(Response::new(Full::new(Bytes::from(
            body.to_ascii_uppercase(),
        )))),
        Err(_) => Ok(status(StatusCode::INTERNAL_SERVER_ERROR)),
    }
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
    let broker = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic: Arc<str> = args.next().unwrap_or_else(|| "bench".to_owned()).into();
    // The settings sluice's kafka output gives librdkafka by default:
    // one broker ack, no lingering, one attempt per send.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .set("acks", "1")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "5000")
        .set("message.send.max.retries", "0")
        .create()
        .map_err(std::io::Error::other)?;
    let producer = Arc::new(producer);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    loop {
        let (stream, remote) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (producer, topic) = (Arc::clone(&producer), Arc::clone(&topic));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                produce(Arc::clone(&producer), Arc::clone(&topic), remote, req)
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
