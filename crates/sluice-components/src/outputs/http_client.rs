//! `http_client` output: sends each message to a URL; with
//! `propagate_response` the downstream answer becomes the synchronous
//! response (spec 6).

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::{Batch, Message};
use sluice_core::response::store_responses;
use sluice_core::runtime::batching::BatchPolicy;

use crate::http::client::{HttpClient, HttpClientConfig, response_parts};

struct HttpClientOutput {
    client: HttpClient,
    batch_as_multipart: bool,
    propagate_response: bool,
}

impl HttpClientOutput {
    /// Turns a successful response into response messages: part `i` keeps
    /// the metadata (and so the caller) of request message `i`, extra parts
    /// those of the first request message (Benthos).
    async fn propagate(
        &self,
        requests: &[Message],
        response: &crate::http::client::Response,
    ) -> Vec<Message> {
        let mut out = Vec::new();
        for (index, body) in response_parts(response).await.into_iter().enumerate() {
            let mut msg = requests.get(index).unwrap_or(&requests[0]).clone();
            msg.set_content(body);
            self.client.response_metadata(response, &mut msg);
            msg.clear_error();
            out.push(msg);
        }
        out
    }
}

#[async_trait]
impl Output for HttpClientOutput {
    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let mut responses = Vec::new();
        if self.batch_as_multipart && batch.len() > 1 {
            let response = self
                .client
                .send(&batch[..])
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            if self.propagate_response {
                responses.extend(self.propagate(&batch[..], &response).await);
            }
        } else {
            // One request per message, in order, stopping at the first
            // failure: the whole batch is then nacked (Benthos).
            for msg in batch.iter() {
                let response = self
                    .client
                    .send(std::slice::from_ref(msg))
                    .await
                    .map_err(|e| OutputError::Failed(Box::new(e)))?;
                if self.propagate_response {
                    responses.extend(self.propagate(std::slice::from_ref(msg), &response).await);
                }
            }
        }
        if !responses.is_empty() {
            store_responses(&Batch::new(responses));
        }
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: HttpClientConfig = builder.config(node)?;
    if config.parallel {
        return Err(vec![Lint::error(
            node.mark,
            "field parallel is invalid when the component type is http_client (output)",
        )]);
    }
    let client = HttpClient::build(&config, node, builder)?;
    let batch_processors = builder.processor_list(&config.batching.processors)?;
    let batching = BatchPolicy::from_config(&config.batching, batch_processors)
        .map_err(|e| vec![Lint::error(node.mark, e)])?;
    Ok(BuiltOutput {
        output: Arc::new(HttpClientOutput {
            client,
            batch_as_multipart: config.batch_as_multipart,
            propagate_response: config.propagate_response,
        }),
        max_in_flight: config.max_in_flight.unwrap_or(64).max(1),
        batching,
    })
}
