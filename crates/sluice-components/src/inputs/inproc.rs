//! `inproc` input: reads the transactions an `inproc` output of the same
//! name in this process writes. Their acknowledgements travel back to that
//! output, so its stream's input learns what became of them.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::transaction::Transaction;

use crate::inproc::{InprocPipes, PipeReceiver};

/// Why the input could not attach to its pipe.
#[derive(Debug, thiserror::Error)]
#[error("pipe '{name}' was not found")]
struct PipeNotFound {
    name: String,
}

struct InprocInput {
    name: String,
    pipes: Arc<InprocPipes>,
    receiver: Option<PipeReceiver>,
}

#[async_trait]
impl Input for InprocInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        let Some(receiver) = self.pipes.get(&self.name) else {
            return Err(InputError::Failed(Box::new(PipeNotFound {
                name: self.name.clone(),
            })));
        };
        tracing::info!(pipe = %self.name, "Receiving inproc messages from ID: {}.", self.name);
        self.receiver = Some(receiver);
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        let Some(receiver) = &self.receiver else {
            return Err(InputError::NotConnected);
        };
        match receiver.recv().await {
            Ok(tx) => Ok(tx),
            // The output closed (or was replaced): find the name's pipe again.
            Err(async_channel::RecvError) => {
                self.receiver = None;
                Err(InputError::NotConnected)
            }
        }
    }

    async fn close(&mut self) -> Result<(), InputError> {
        self.receiver = None;
        Ok(())
    }

    fn connected(&self) -> bool {
        self.receiver.is_some()
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let name: Option<String> = builder.config(node)?;
    Ok(Box::new(InprocInput {
        name: name.unwrap_or_default(),
        pipes: builder.resources().get::<InprocPipes>().unwrap_or_default(),
        receiver: None,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_core::component::output::Output;
    use sluice_core::message::{Batch, Message};
    use sluice_core::transaction::{DeliveryError, Outcome};

    use super::*;

    fn output(pipes: &Arc<InprocPipes>, name: &str) -> Arc<dyn Output> {
        let mut resources = sluice_core::environment::Resources::default();
        resources.insert(Arc::clone(pipes));
        let env = sluice_core::environment::Environment::default();
        let mut builder = Builder::new(&env, &resources);
        crate::outputs::inproc::build(&Node::plain(name), &mut builder)
            .unwrap()
            .output
    }

    fn input(pipes: &Arc<InprocPipes>, name: &str) -> InprocInput {
        InprocInput {
            name: name.to_owned(),
            pipes: Arc::clone(pipes),
            receiver: None,
        }
    }

    #[tokio::test]
    async fn a_write_completes_with_the_readers_outcome() {
        let pipes = Arc::new(InprocPipes::default());
        let mut reader = input(&pipes, "foo");
        assert!(reader.connect().await.is_err(), "no output holds foo yet");
        let writer = output(&pipes, "foo");
        writer.connect().await.unwrap();
        reader.connect().await.unwrap();

        let write = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move { writer.write(&Batch::from(Message::new("hi"))).await }
        });
        let tx = reader.read().await.unwrap();
        assert_eq!(tx.batch[0].content(), b"hi");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!write.is_finished(), "unacknowledged yet");
        tx.ack.resolve(Outcome::Delivered);
        write.await.unwrap().unwrap();

        let write = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move { writer.write(&Batch::from(Message::new("no"))).await }
        });
        let tx = reader.read().await.unwrap();
        tx.ack.resolve(Outcome::Failed(DeliveryError::ShuttingDown));
        let err = write.await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "shutting down");

        writer.close().await.unwrap();
        assert!(matches!(reader.read().await, Err(InputError::NotConnected)));
        assert!(
            reader.connect().await.is_err(),
            "the closed output let go of foo"
        );
    }

    #[tokio::test]
    async fn a_later_output_takes_the_name_over() {
        let pipes = Arc::new(InprocPipes::default());
        let first = output(&pipes, "foo");
        first.connect().await.unwrap();
        let second = output(&pipes, "foo");
        second.connect().await.unwrap();
        first.close().await.unwrap();
        let mut reader = input(&pipes, "foo");
        reader.connect().await.unwrap();
        tokio::spawn(async move { second.write(&Batch::from(Message::new("2"))).await });
        let tx = reader.read().await.unwrap();
        assert_eq!(tx.batch[0].content(), b"2");
        tx.ack.resolve(Outcome::Delivered);
    }
}
