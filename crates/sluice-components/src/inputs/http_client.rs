//! `http_client` input: requests a URL over and over (usually paced by a
//! rate limit) and turns each response into a message. The request's
//! body is `payload`, and it and the URL and headers are interpolated
//! against the previous response, so a poll can carry a cursor forward.
//! It shares the whole client (auth, TLS, retries, rate limits) with the
//! `http_client` output and the `http` processor.

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

use crate::http::client::{HttpClient, HttpClientConfig, response_parts};

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
    /// Streaming a single long response body (not supported yet).
    #[serde(default)]
    stream: StreamConfig,
    /// Whether rejected messages are delivered again.
    #[serde(default = "default_true")]
    auto_replay_nacks: bool,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StreamConfig {
    /// Whether the response body is read as a stream of messages.
    #[serde(default)]
    enabled: bool,
    /// Whether the stream is opened again after it ends.
    #[serde(default = "default_true")]
    reconnect: bool,
    /// How the stream is split into messages.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    scanner: Option<Node>,
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
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
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
            return Ok(Transaction::new(Batch::new(messages), Ack::detached()));
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
    if own.stream.enabled {
        return Err(vec![Lint::error(
            node.mark,
            "http_client input stream mode is not supported yet",
        )]);
    }
    let _ = (
        own.stream.reconnect,
        &own.stream.scanner,
        own.auto_replay_nacks,
    );
    let config: HttpClientConfig = builder.config(&client_node)?;
    let client = HttpClient::build(&config, &client_node, builder)?;
    let payload = builder.interpolation(own.payload.as_deref().unwrap_or(""), node.mark)?;
    Ok(Box::new(HttpClientInput {
        client,
        payload,
        drop_empty_bodies: own.drop_empty_bodies,
        previous: Message::new(Vec::new()),
    }))
}
