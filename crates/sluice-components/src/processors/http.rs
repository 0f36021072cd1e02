//! `http` processor: sends each message to a URL and replaces it with the
//! response; a failed request flags the message.

use async_trait::async_trait;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use crate::http::client::{HttpClient, HttpClientConfig, RequestError, response_parts};

struct HttpProcessor {
    client: HttpClient,
    batch_as_multipart: bool,
    parallel: bool,
}

impl HttpProcessor {
    async fn one(&self, batch: &[Message], index: usize) -> Vec<Message> {
        let msg = &batch[index];
        match self.client.send(std::slice::from_ref(msg)).await {
            Ok(response) => {
                let mut out = Vec::new();
                for body in response_parts(&response).await {
                    let mut next = msg.clone();
                    next.set_content(body);
                    self.client.response_metadata(&response, &mut next);
                    out.push(next);
                }
                out
            }
            Err(err) => {
                let mut failed = msg.clone();
                if let RequestError::Status { response, .. } = &err {
                    self.client.response_metadata(response, &mut failed);
                }
                tracing::error!(error = %err, "HTTP request failed.");
                failed.set_error(&err);
                vec![failed]
            }
        }
    }
}

#[async_trait]
impl Processor for HttpProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let messages = &batch[..];
        let out: Vec<Message> = if self.batch_as_multipart && messages.len() > 1 {
            match self.client.send(messages).await {
                Ok(response) => {
                    let mut out = Vec::new();
                    for (index, body) in response_parts(&response).await.into_iter().enumerate() {
                        // Part i keeps message i's metadata, extra parts the
                        // first message's (Benthos).
                        let mut next = messages.get(index).unwrap_or(&messages[0]).clone();
                        next.set_content(body);
                        self.client.response_metadata(&response, &mut next);
                        out.push(next);
                    }
                    out
                }
                Err(err) => {
                    tracing::error!(error = %err, "HTTP request failed.");
                    messages
                        .iter()
                        .map(|m| {
                            let mut failed = m.clone();
                            if let RequestError::Status { response, .. } = &err {
                                self.client.response_metadata(response, &mut failed);
                            }
                            failed.set_error(&err);
                            failed
                        })
                        .collect()
                }
            }
        } else if self.parallel {
            let all =
                futures::future::join_all((0..messages.len()).map(|i| self.one(messages, i))).await;
            all.into_iter().flatten().collect()
        } else {
            let mut out = Vec::new();
            for index in 0..messages.len() {
                out.extend(self.one(messages, index).await);
            }
            out
        };
        Ok(vec![Batch::new(out)])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: HttpClientConfig = builder.config(node)?;
    let mut lints = Vec::new();
    for (set, name) in [
        (config.propagate_response, "propagate_response"),
        (config.max_in_flight.is_some(), "max_in_flight"),
        (!config.batching.is_noop(), "batching"),
        (!config.multipart.is_empty(), "multipart"),
    ] {
        if set {
            lints.push(Lint::error(
                node.mark,
                format!("field {name} is invalid when the component type is http (processor)"),
            ));
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    let client = HttpClient::build(&config, node, builder)?;
    Ok(Box::new(HttpProcessor {
        client,
        batch_as_multipart: config.batch_as_multipart,
        parallel: config.parallel,
    }))
}
