//! Entry points of the fuzz targets under `fuzz/` that reach the
//! components' handling of what callers and brokers send, and of the tests
//! that replay their checked-in corpora on the stable toolchain.

use std::net::SocketAddr;

use bytes::Bytes;
use lapin::types::FieldTable;
use rdkafka::message::Headers;
use sluice_bloblang::Value;
use sluice_core::message::{Message, Metadata};

use crate::http::RequestInfo;
use crate::http::router::PathPattern;
use crate::inputs::http_server::{
    NextFrame, RequestSnapshot, multipart_boundary, next_body, request_metadata, socket_config,
    split_multipart,
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

/// The body limits a WebSocket target is tried with; 0 is tungstenite's own.
const WS_LIMITS: [usize; 5] = [0, 16, 125, 126, 1024];

/// Arbitrary bytes as what a WebSocket client sends to `http_server`'s
/// socket, read with the server's configuration and loop step
/// ([`next_body`]), each message echoed back as the server answers. The
/// first byte picks the body limit and whether the rest goes on the wire
/// as it is or as frames built from it (masked, as a client's must be, so
/// that the fuzzer reaches past the masking check). A message delivered
/// over the limit is a finding, as is a panic or a hang.
pub fn websocket_frames(data: &[u8]) {
    // Every payload byte comes from the input, framed or raw.
    let delivered: usize = delivered_messages(data).iter().sum();
    assert!(delivered <= data.len(), "more delivered than was sent");
}

/// The sizes of the messages the server delivers from `data`, in order.
fn delivered_messages(data: &[u8]) -> Vec<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    let Some((&first, rest)) = data.split_first() else {
        return Vec::new();
    };
    let limit = WS_LIMITS[usize::from(first >> 1) % WS_LIMITS.len()];
    let wire = if first & 1 == 1 {
        rest.to_vec()
    } else {
        client_frames(rest)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let serve = async {
            let mut socket =
                WebSocketStream::from_raw_socket(server, Role::Server, Some(socket_config(limit)))
                    .await;
            let mut delivered = Vec::new();
            loop {
                let frame = futures::StreamExt::next(&mut socket).await;
                match next_body(&mut socket, frame, limit).await {
                    NextFrame::Deliver(body) => {
                        assert!(
                            limit == 0 || body.len() <= limit,
                            "a {}-byte message passed the {limit}-byte limit",
                            body.len()
                        );
                        delivered.push(body.len());
                        let text = String::from_utf8_lossy(&body).into_owned();
                        let answer = tokio_tungstenite::tungstenite::Message::Text(text.into());
                        if futures::SinkExt::send(&mut socket, answer).await.is_err() {
                            break;
                        }
                    }
                    NextFrame::Skip => {}
                    NextFrame::Stop => break,
                }
            }
            delivered
        };
        let send = async {
            // The server may stop reading (a close, a broken frame) first.
            let _sent = to_server.write_all(&wire).await;
            let _shut = to_server.shutdown().await;
        };
        let receive = async {
            let mut sink = Vec::new();
            let _read = from_server.read_to_end(&mut sink).await;
        };
        let (delivered, (), ()) = tokio::join!(serve, send, receive);
        delivered
    })
}

/// Frames a client would send, built from `data`: each frame takes a head
/// byte (FIN, RSV and opcode bits as given) and a length byte (255 means a
/// two-byte length follows), then that many payload bytes, masked.
fn client_frames(mut data: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(data.len() * 2);
    let mut key = [0x37u8, 0xfa, 0x21, 0x3d];
    while let [head, len, rest @ ..] = data {
        let (len, rest) = match (*len, rest) {
            (255, [hi, lo, rest @ ..]) => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
            (len, rest) => (usize::from(len), rest),
        };
        let payload = &rest[..len.min(rest.len())];
        data = &rest[payload.len()..];
        wire.push(*head);
        match payload.len() {
            n @ 0..=125 => wire.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                wire.push(0x80 | 126);
                wire.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                wire.push(0x80 | 127);
                wire.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        key.rotate_left(1);
    }
    wire
}

/// Arbitrary bytes as message metadata (lines of `key=value`) written as
/// Kafka record headers and AMQP headers, and read back as the inputs read
/// them: every key the output includes comes back with its text, no other
/// comes back, Kafka header names hold no NUL (librdkafka would cut them
/// short) and AMQP's stay within the protocol's 255-byte names.
pub fn broker_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut msg = Message::new(Bytes::new());
    for line in text.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        msg.metadata_mut()
            .insert(key.into(), Value::from(value.to_owned()));
    }

    // Kafka: the `kafka` output's policy (everything but excluded prefixes).
    let policy = HeaderPolicy::AllExcept(vec!["x-internal-".to_owned()]);
    let owned = record_headers(&policy, &[], &msg);
    let mut read = Metadata::new();
    headers_into_metadata(owned.iter().map(|h| (h.key, h.value)), false, &mut read);
    for key in read.keys() {
        assert!(
            msg.metadata().contains_key(key.as_str()),
            "kafka header {key:?} was never set"
        );
    }
    for (key, value) in msg.metadata() {
        if key.starts_with("x-internal-") || key.contains('\0') {
            assert!(!read.contains_key(key.as_str()), "{key:?} was not left out");
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
    fn the_websocket_frames_corpus_runs_clean() {
        replay("websocket_frames", websocket_frames);
    }

    #[test]
    fn a_message_over_the_limit_is_refused_and_one_within_it_delivered() {
        // Framed mode, 16-byte limit: a 10-byte text frame, then a 40-byte one.
        let mut data = vec![1 << 1];
        data.extend([0x81, 10]);
        data.extend(b"0123456789");
        data.extend([0x81, 40]);
        data.extend([b'x'; 40]);
        assert_eq!(delivered_messages(&data), vec![10]);
        // Raw mode: an unmasked client frame is refused.
        assert_eq!(
            delivered_messages(&[1, 0x81, 2, b'h', b'i']),
            Vec::<usize>::new()
        );
        let wire = client_frames(&[0x81, 2, b'h', b'i']);
        assert_eq!(wire.len(), 2 + 4 + 2);
        assert_eq!(wire[1], 0x82, "masked, length 2");
    }

    #[test]
    fn the_broker_headers_corpus_runs_clean() {
        replay("broker_headers", broker_headers);
    }
}
