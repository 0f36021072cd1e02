//! `broker` input: merges several inputs into one stream. Each message keeps
//! its own context, so replies still reach the request they came from.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::{Input, InputError};
use sluice_core::component::processor::run_processors;
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltInput};
use sluice_core::runtime::backoff::Backoff;
use sluice_core::runtime::batching::BatchPolicyConfig;
use sluice_core::transaction::Transaction;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn default_copies() -> usize {
    1
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokerConfig {
    /// How many copies of the child inputs to run.
    #[serde(default = "default_copies")]
    copies: usize,
    /// The child inputs whose messages are merged.
    #[schemars(with = "Vec<sluice_core::config::json_schema::InputNode>")]
    inputs: Vec<Node>,
    /// How messages are batched (not supported yet).
    #[serde(default)]
    batching: BatchPolicyConfig,
}

struct BrokerInput {
    children: Vec<BuiltInput>,
    sender: Option<mpsc::Sender<Transaction>>,
    receiver: mpsc::Receiver<Transaction>,
    stop: CancellationToken,
}

async fn run_child(child: BuiltInput, sender: mpsc::Sender<Transaction>, stop: CancellationToken) {
    let BuiltInput {
        input: mut reader,
        processors,
        type_name,
        label: _,
    } = child;
    let mut backoff = Backoff::new(
        std::time::Duration::from_millis(500),
        std::time::Duration::from_secs(1),
    );
    'connect: loop {
        let connected = tokio::select! {
            () = stop.cancelled() => break,
            res = reader.connect() => res,
        };
        if let Err(err) = connected {
            if matches!(err, InputError::EndOfInput) {
                break;
            }
            tracing::error!(error = %err, "Failed to connect to {type_name}: {err}");
            tokio::time::sleep(backoff.next_wait()).await;
            continue;
        }
        loop {
            let read = tokio::select! {
                () = stop.cancelled() => break 'connect,
                read = reader.read() => read,
            };
            match read {
                Ok(Transaction { batch, ack }) => {
                    let batches = run_processors(&processors, batch).await;
                    let acks = ack.split(batches.len());
                    for (batch, ack) in batches.into_iter().zip(acks) {
                        if sender.send(Transaction::new(batch, ack)).await.is_err() {
                            break 'connect;
                        }
                    }
                }
                Err(InputError::EndOfInput) => break 'connect,
                Err(InputError::NotConnected) => continue 'connect,
                Err(err) => {
                    tracing::warn!(error = %err, "Failed to read from {type_name}: {err}");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }
    if let Err(err) = reader.close().await {
        tracing::warn!(error = %err, "Failed to close broker child input.");
    }
}

#[async_trait]
impl Input for BrokerInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        if let Some(sender) = self.sender.take() {
            for child in self.children.drain(..) {
                tokio::spawn(run_child(child, sender.clone(), self.stop.clone()));
            }
        }
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        self.receiver.recv().await.ok_or(InputError::EndOfInput)
    }

    async fn close(&mut self) -> Result<(), InputError> {
        self.stop.cancel();
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: BrokerConfig = builder.config(node)?;
    if !config.batching.is_noop() {
        return Err(vec![Lint::error(
            node.mark,
            "broker input field batching is not supported yet",
        )]);
    }
    let mut children = Vec::new();
    let mut lints = Vec::new();
    for _ in 0..config.copies.max(1) {
        for child in &config.inputs {
            match builder.input(child) {
                Ok(built) => children.push(built),
                Err(l) => lints.extend(l),
            }
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    let (sender, receiver) = mpsc::channel(children.len().max(1));
    Ok(Box::new(BrokerInput {
        children,
        sender: Some(sender),
        receiver,
        stop: CancellationToken::new(),
    }))
}
