//! `http_client` input: requests a URL over and over (usually paced by a
//! rate limit) and turns each response into a message. The request's
//! body is `payload`, and it and the URL and headers are interpolated
//! against the previous response, so a poll can carry a cursor forward.
//! It shares the whole client (auth, TLS, retries, rate limits) with the
//! `http_client` output and the `http` processor. In stream mode one long
//! request is made instead, its body split into messages by a scanner as it
//! arrives, and made again when the body ends if `reconnect` says so.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use schemars::{Schema, SchemaGenerator};
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::json_schema::{InterpolatedString, without_properties};
use sluice_core::config::{Lint, Node, NodeKind};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::transaction::{Ack, Transaction};
use tokio::sync::Notify;

use crate::codec::{ScanReader, Scanner};
use crate::http::client::{HttpClient, HttpClientConfig, StreamBody, response_parts};

const fn default_true() -> bool {
    true
}

/// The fields of the input beyond the client's.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputOnlyConfig {
    /// The body of each request; supports interpolation against the previous response.
    #[serde(default)]
    #[schemars(with = "Option<InterpolatedString>")]
    payload: Option<String>,
    /// Whether a response with an empty body is skipped rather than made a message.
    #[serde(default = "default_true")]
    drop_empty_bodies: bool,
    /// Streaming mode: one request kept open, its body split into messages as it arrives.
    #[serde(default)]
    stream: StreamConfig,
    /// Whether rejected messages are delivered again.
    #[serde(default = "default_true")]
    auto_replay_nacks: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StreamConfig {
    /// Whether the response body is read as a stream of messages.
    #[serde(default)]
    enabled: bool,
    /// Whether the request is made again once the body ends.
    #[serde(default = "default_true")]
    reconnect: bool,
    /// Deprecated: how the body is split into messages (lines, delim:x, csv, csv:x or all-bytes); when set it wins over scanner.
    #[serde(default)]
    codec: Option<String>,
    /// Deprecated: the longest message the codec reads, in bytes.
    #[serde(default = "crate::inputs::stdin::default_max_buffer")]
    max_buffer: usize,
    /// How the body is split into messages: lines (the default), csv or to_the_end.
    #[serde(default)]
    #[schemars(with = "Option<crate::codec::ScannerSchema>", extend("default" = {"lines": {}}))]
    scanner: Option<Node>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            reconnect: true,
            codec: None,
            max_buffer: crate::inputs::stdin::default_max_buffer(),
            scanner: None,
        }
    }
}

/// The fields the input takes from the shared client config and its own.
const INPUT_ONLY: [&str; 4] = [
    "payload",
    "drop_empty_bodies",
    "stream",
    "auto_replay_nacks",
];

/// The client fields that only an output or the processor has.
const NOT_FOR_INPUT: [&str; 6] = [
    "batch_as_multipart",
    "propagate_response",
    "max_in_flight",
    "batching",
    "multipart",
    "parallel",
];

/// The config schema: the client's fields, less the ones an input lacks,
/// and the input's own.
pub(crate) fn schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = without_properties(HttpClientConfig::json_schema(generator), &NOT_FOR_INPUT);
    let own = InputOnlyConfig::json_schema(generator);
    if let (Some(into), Some(from)) = (
        schema.get_mut("properties").and_then(|p| p.as_object_mut()),
        own.get("properties").and_then(|p| p.as_object()),
    ) {
        for (key, value) in from {
            into.insert(key.clone(), value.clone());
        }
    }
    schema
}

struct HttpClientInput {
    client: HttpClient,
    payload: Interpolation,
    drop_empty_bodies: bool,
    /// The last response, which the next request's interpolations read.
    previous: Message,
    /// Set in stream mode.
    stream: Option<StreamMode>,
    /// With `auto_replay_nacks`: batches the pipeline nacked.
    replays: Option<Arc<Replays>>,
}

/// Batches the pipeline nacked, each read again after a wait that grows
/// with its attempts (1ms, ×1.1 each time, at most 1s, as Benthos waits).
#[derive(Default)]
struct Replays {
    queue: Mutex<VecDeque<Replay>>,
    added: Notify,
}

struct Replay {
    batch: Batch,
    attempts: i32,
    ready_at: Instant,
}

impl Replays {
    fn push(&self, batch: Batch, attempts: i32) {
        let wait = Duration::from_secs_f64((0.001 * 1.1_f64.powi(attempts)).min(1.0));
        self.queue
            .lock()
            .expect("replay lock poisoned")
            .push_back(Replay {
                batch,
                attempts,
                ready_at: Instant::now() + wait,
            });
        self.added.notify_waiters();
    }

    /// The first replay that is due, or else when the next one will be.
    fn pop_due(&self) -> Result<Replay, Option<Instant>> {
        let mut queue = self.queue.lock().expect("replay lock poisoned");
        let now = Instant::now();
        match queue.iter().position(|r| r.ready_at <= now) {
            Some(at) => Ok(queue.remove(at).expect("position is in range")),
            None => Err(queue.iter().map(|r| r.ready_at).min()),
        }
    }
}

/// The state of stream mode.
struct StreamMode {
    scanner: Scanner,
    reconnect: bool,
    /// The open response body; `None` between connections.
    reader: Option<ScanReader<StreamBody>>,
}

impl HttpClientInput {
    /// The message the next request is built from: the payload as its
    /// body, the previous response's metadata.
    fn next_request(&self) -> Result<Message, String> {
        let body = self
            .payload
            .render(std::slice::from_ref(&self.previous), 0)
            .map_err(|e| format!("failed to interpolate payload: {e}"))?;
        let mut request = Message::new(body.into_bytes());
        request.set_metadata(self.previous.metadata().clone());
        Ok(request)
    }
}

#[async_trait::async_trait]
impl Input for HttpClientInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        let request = match &self.stream {
            Some(stream) if stream.reader.is_none() => self
                .next_request()
                .map_err(|e| InputError::Failed(e.into()))?,
            _ => return Ok(()),
        };
        let opened = self
            .client
            .open_stream(std::slice::from_ref(&request))
            .await
            .map_err(|e| InputError::Failed(Box::new(e)))?;
        // The next request reads the response's headers (lower-cased, the
        // first value of each), as in Benthos.
        let mut previous = Message::new(Vec::new());
        for name in opened.headers.keys() {
            if let Some(value) = opened.headers.get(name).and_then(|v| v.to_str().ok()) {
                previous.set_meta(name.as_str().to_ascii_lowercase(), value);
            }
        }
        self.previous = previous;
        if let Some(stream) = &mut self.stream {
            stream.reader = Some(ScanReader::new(opened.body, stream.scanner.clone()));
        }
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        let Some(replays) = self.replays.clone() else {
            let batch = self.read_batch().await?;
            return Ok(self.transaction(batch, 0));
        };
        loop {
            let added = replays.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            let next_due = match replays.pop_due() {
                Ok(replay) => return Ok(self.transaction(replay.batch, replay.attempts + 1)),
                Err(next_due) => next_due,
            };
            let due = async {
                match next_due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            if self.stream.is_none() {
                // A request is not cancel-safe: wait for a due replay first.
                if next_due.is_some() {
                    due.await;
                    continue;
                }
                let batch = self.read_batch().await?;
                return Ok(self.transaction(batch, 0));
            }
            // The stream's reader is cancel-safe: a replay falling due, or
            // one added meanwhile, goes first.
            tokio::select! {
                read = self.read_batch() => return Ok(self.transaction(read?, 0)),
                () = added => {}
                () = due => {}
            }
        }
    }
}

impl HttpClientInput {
    /// A transaction over `batch`, read for the `attempts`th time before;
    /// with `auto_replay_nacks` its nack queues it to be read again.
    fn transaction(&self, batch: Batch, attempts: i32) -> Transaction {
        let Some(replays) = &self.replays else {
            return Transaction::new(batch, Ack::detached());
        };
        let replays = Arc::clone(replays);
        let copy = batch.clone();
        let ack = Ack::from_fn(move |outcome| {
            if !outcome.is_delivered() {
                replays.push(copy, attempts);
            }
        });
        Transaction::new(batch, ack)
    }

    async fn read_batch(&mut self) -> Result<Batch, InputError> {
        if let Some(stream) = &mut self.stream {
            return read_streamed(stream, self.drop_empty_bodies, &mut self.previous).await;
        }
        loop {
            let request = self
                .next_request()
                .map_err(|e| InputError::Failed(e.into()))?;
            let response = self
                .client
                .send(std::slice::from_ref(&request))
                .await
                .map_err(|e| InputError::Failed(Box::new(e)))?;
            let mut messages = Vec::new();
            for body in response_parts(&response).await {
                let mut msg = Message::new(body);
                self.client.response_metadata(&response, &mut msg);
                messages.push(msg);
            }
            if messages.is_empty()
                || (self.drop_empty_bodies
                    && messages.len() == 1
                    && messages[0].content().is_empty())
            {
                continue;
            }
            self.previous = messages[0].clone();
            return Ok(Batch::new(messages));
        }
    }
}

/// The next message of the open stream. The end of the body ends the input,
/// or with `reconnect` asks the runtime to connect again; a broken body is
/// an error, after which the next read reconnects.
async fn read_streamed(
    stream: &mut StreamMode,
    drop_empty_bodies: bool,
    previous: &mut Message,
) -> Result<Batch, InputError> {
    loop {
        let Some(reader) = &mut stream.reader else {
            return Err(InputError::NotConnected);
        };
        match reader.next().await {
            Ok(Some(msg)) => {
                if drop_empty_bodies && msg.content().is_empty() {
                    continue;
                }
                *previous = msg.clone();
                return Ok(Batch::from(msg));
            }
            Ok(None) => {
                stream.reader = None;
                if stream.reconnect {
                    return Err(InputError::NotConnected);
                }
                return Err(InputError::EndOfInput);
            }
            Err(err) => {
                stream.reader = None;
                return Err(InputError::Failed(Box::new(err)));
            }
        }
    }
}

/// Takes `key` out of the mapping `node`.
fn take_field(node: &mut Node, key: &str) -> Option<(Node, Node)> {
    let NodeKind::Map(entries) = &mut node.kind else {
        return None;
    };
    let at = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    Some(entries.remove(at))
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    // One block in the config, two structs here: the input's own fields are
    // taken out before the rest is read as the shared client config.
    let mut client_node = node.clone();
    let mut own = Node::new(NodeKind::Map(Vec::new()), node.mark);
    for key in INPUT_ONLY {
        if let (Some(entry), NodeKind::Map(entries)) =
            (take_field(&mut client_node, key), &mut own.kind)
        {
            entries.push(entry);
        }
    }
    let mut lints = Vec::new();
    for key in NOT_FOR_INPUT {
        if let Some((k, _)) = take_field(&mut client_node, key) {
            lints.push(Lint::error(
                k.mark,
                format!("field {key} is invalid when the component type is http_client (input)"),
            ));
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    if client_node.get("verb").is_none() {
        // The input's verb defaults to GET, the client's to POST.
        client_node
            .set_path("verb", "GET")
            .map_err(|e| vec![Lint::error(node.mark, e)])?;
    }
    let own: InputOnlyConfig = builder.config(&own)?;
    let stream = if own.stream.enabled {
        let stream_node = node.get("stream");
        let mark = stream_node
            .and_then(|s| s.get("codec"))
            .or(stream_node)
            .map_or(node.mark, |n| n.mark);
        let scanner = Scanner::for_input(
            builder,
            own.stream.codec.as_deref(),
            own.stream.max_buffer,
            own.stream.scanner.as_ref(),
            mark,
        )?;
        Some(StreamMode {
            scanner,
            reconnect: own.stream.reconnect,
            reader: None,
        })
    } else {
        None
    };
    let replays = own.auto_replay_nacks.then(|| Arc::new(Replays::default()));
    let config: HttpClientConfig = builder.config(&client_node)?;
    let client = HttpClient::build(&config, &client_node, builder)?;
    let payload = builder.interpolation(own.payload.as_deref().unwrap_or(""), node.mark)?;
    Ok(Box::new(HttpClientInput {
        client,
        payload,
        drop_empty_bodies: own.drop_empty_bodies,
        previous: Message::new(Vec::new()),
        stream,
        replays,
    }))
}
