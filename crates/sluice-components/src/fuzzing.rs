//! Entry points of the fuzz targets under `fuzz/` that reach the
//! components' handling of what callers and brokers send, and of the tests
//! that replay their checked-in corpora on the stable toolchain.

use std::net::SocketAddr;

use bytes::Bytes;
use lapin::types::FieldTable;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use sluice_bloblang::Value;
use sluice_core::message::{Message, Metadata};

use crate::http::RequestInfo;
use crate::http::router::PathPattern;
use crate::inputs::http_server::{
    RequestSnapshot, multipart_boundary, request_metadata, split_multipart,
};
use crate::kafka::consumer::headers_into_metadata;
use crate::kafka::producer::{HeaderPolicy, record_headers};
use crate::outputs::amqp_0_9::message_headers;

/// The path patterns the request target matches its path against, as
/// `http_server` paths with parameters would.
const PATTERNS: &[&str] = &["/post", "/post/{id}", "/{a}/{b}/c", "/files/{rest:.*}"];

/// Arbitrary bytes as one HTTP/1.1 request: the head parsed as hyper
/// parses it (httparse), then what `http_server` makes of it: the request
/// metadata (headers, query, cookies, path parameters) and, for a multipart
/// body, its parts. A WebSocket upgrade is taken from the first byte. Only
/// a panic is a finding; the metadata must hold the request's path.
pub fn http_request(data: &[u8]) {
    let websocket = data.first().is_some_and(|b| b & 1 == 1);
    let data = data.get(1..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(data) else {
        return;
    };
    let (Some(method), Some(target)) = (parsed.method, parsed.path) else {
        return;
    };
    let mut request = http::Request::builder().method(method).uri(target);
    for h in parsed.headers.iter() {
        request = request.header(h.name, h.value);
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let params = PATTERNS
        .iter()
        .filter_map(|p| PathPattern::parse(p).ok())
        .find_map(|p| p.matches(&path))
        .unwrap_or_default();
    let snapshot = RequestSnapshot {
        parts,
        info: RequestInfo {
            remote: SocketAddr::from(([127, 0, 0, 1], 4195)),
            params,
            tls: None,
        },
        websocket,
    };
    let meta = request_metadata(&snapshot);
    if !websocket {
        assert!(
            meta.contains_key("http_server_request_path"),
            "the request path is missing from the metadata"
        );
    }
    let body = Bytes::copy_from_slice(&data[head_len..]);
    if let Ok(Some(boundary)) = multipart_boundary(&snapshot.parts) {
        let parts = futures::executor::block_on(split_multipart(body.clone(), boundary));
        if let Ok(parts) = parts {
            let total: usize = parts.iter().map(Bytes::len).sum();
            assert!(total <= body.len(), "parts larger than the body");
        }
    }
}

/// Arbitrary bytes as message metadata (lines of `key=value`) written as
/// Kafka record headers and AMQP headers, and read back as the inputs read
/// them: every key the output includes comes back with its text, and AMQP
/// headers stay within the protocol's 255-byte names.
pub fn broker_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut msg = Message::new(Bytes::new());
    for line in text.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        msg.metadata_mut()
            .insert(key.to_owned(), Value::from(value.to_owned()));
    }

    // Kafka: the `kafka` output's policy (everything but excluded prefixes).
    let policy = HeaderPolicy::AllExcept(vec!["x-internal-".to_owned()]);
    let written = record_headers(&policy, &[], &msg);
    let mut owned = OwnedHeaders::new_with_capacity(written.len());
    for (key, value) in &written {
        owned = owned.insert(Header {
            key,
            value: Some(value),
        });
    }
    let mut read = Metadata::new();
    headers_into_metadata(owned.iter().map(|h| (h.key, h.value)), false, &mut read);
    for (key, value) in msg.metadata() {
        if key.starts_with("x-internal-") {
            assert!(!read.contains_key(key.as_str()), "{key:?} was not excluded");
            continue;
        }
        assert_eq!(
            read.get(key.as_str()).map(Value::to_interp_string),
            Some(value.to_interp_string()),
            "kafka header {key:?}"
        );
    }

    // AMQP: encoded as on the wire and parsed back.
    let table = message_headers(&msg, &[]);
    let encoded = lapin::types::generation::gen_field_table(&table)(Vec::new().into())
        .expect("a field table encodes")
        .write;
    let (rest, decoded): (_, FieldTable) =
        lapin::types::parsing::parse_field_table(&encoded[..]).expect("the encoded table parses");
    assert!(rest.is_empty(), "bytes left after the table");
    let mut read = Metadata::new();
    crate::amqp::flatten_headers("", &decoded, &mut read);
    for (key, value) in msg.metadata() {
        let got = read.get(key.as_str()).map(Value::to_interp_string);
        if key.len() > 255 {
            assert!(
                got.is_none(),
                "a {}-byte header name was written",
                key.len()
            );
        } else {
            assert_eq!(got, Some(value.to_interp_string()), "amqp header {key:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, run: fn(&[u8])) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut ran = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{} failed", path.display());
            ran += 1;
        }
        assert!(ran >= 3, "only {ran} corpus inputs for {target}");
    }

    #[test]
    fn the_http_request_corpus_runs_clean() {
        replay("http_request", http_request);
    }

    #[test]
    fn the_broker_headers_corpus_runs_clean() {
        replay("broker_headers", broker_headers);
    }
}
