//! Transactions and acknowledgements (Benthos `message/transaction.go`).
//!
//! Every batch moving between components travels with an [`Ack`]. The source
//! of the batch holds the matching [`Delivery`], which resolves once every
//! clone of the ack is gone, to the worst outcome any clone reported. A clone
//! dropped without being resolved counts as a failure, so a bug causes a
//! redelivery, never a silent loss.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::message::Batch;

/// Why a batch was not delivered.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DeliveryError {
    /// An ack handle was dropped without being resolved.
    #[error("message was not acknowledged")]
    Unacknowledged,
    /// The stream is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// The request's caller stopped waiting, so the write was not made.
    #[error("caller stopped waiting, write abandoned")]
    Abandoned,
    /// An output failed to write the batch.
    #[error("{0}")]
    Output(Arc<crate::component::output::OutputError>),
    /// A processor failed in a way that aborts the transaction.
    #[error("{0}")]
    Processing(Arc<crate::component::processor::ProcessorError>),
    /// The buffer refused the batch, or gave up on it.
    #[error("{0}")]
    Buffer(Arc<crate::component::buffer::BufferError>),
}

/// The result of delivering a batch.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every destination confirmed the batch.
    Delivered,
    /// At least one destination did not.
    Failed(DeliveryError),
}

impl Outcome {
    /// Whether the batch was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered)
    }
}

type Callback = Box<dyn FnOnce(Outcome) + Send + Sync>;

enum Sink {
    Delivery(oneshot::Sender<Outcome>),
    Parents(Vec<Ack>),
    Callback(Callback),
}

struct Shared {
    // The first failure reported wins; `Delivered` is the absence of one.
    failure: OnceLock<DeliveryError>,
    sink: Option<Sink>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let outcome = match self.failure.take() {
            Some(err) => Outcome::Failed(err),
            None => Outcome::Delivered,
        };
        match self.sink.take() {
            Some(Sink::Delivery(tx)) => {
                // The source may have stopped waiting (a caller that timed
                // out); the outcome then has nobody to tell.
                drop(tx.send(outcome));
            }
            Some(Sink::Parents(parents)) => {
                for parent in parents {
                    parent.resolve(outcome.clone());
                }
            }
            Some(Sink::Callback(callback)) => callback(outcome),
            None => {}
        }
    }
}

/// A handle on the acknowledgement of one transaction.
///
/// Cloning shares the handle; the source learns the outcome once every clone
/// has been resolved or dropped.
pub struct Ack {
    shared: Arc<Shared>,
    resolved: bool,
}

impl Ack {
    fn with_sink(sink: Sink) -> Ack {
        Ack {
            shared: Arc::new(Shared {
                failure: OnceLock::new(),
                sink: Some(sink),
            }),
            resolved: false,
        }
    }

    /// A new ack and the delivery future its source awaits.
    pub fn pair() -> (Ack, Delivery) {
        let (tx, rx) = oneshot::channel();
        (Ack::with_sink(Sink::Delivery(tx)), Delivery(rx))
    }

    /// An ack that calls `callback` with the final outcome.
    pub fn from_fn(callback: impl FnOnce(Outcome) + Send + Sync + 'static) -> Ack {
        Ack::with_sink(Sink::Callback(Box::new(callback)))
    }

    /// An ack nobody waits for (inputs without acknowledgement semantics).
    pub fn detached() -> Ack {
        Ack::from_fn(|_| {})
    }

    /// One ack that resolves every ack in `acks` with its own outcome (batching).
    pub fn merge(acks: impl IntoIterator<Item = Ack>) -> Ack {
        Ack::with_sink(Sink::Parents(acks.into_iter().collect()))
    }

    /// Reports the outcome of this clone.
    pub fn resolve(mut self, outcome: Outcome) {
        if let Outcome::Failed(err) = outcome {
            drop(self.shared.failure.set(err));
        }
        self.resolved = true;
    }

    /// Splits this handle into `n` handles; with `n == 0` the source is told
    /// the batch was delivered (filtered to nothing).
    pub fn split(mut self, n: usize) -> Vec<Ack> {
        let acks = (0..n).map(|_| self.clone()).collect();
        self.resolved = true;
        acks
    }
}

impl Clone for Ack {
    fn clone(&self) -> Self {
        Ack {
            shared: Arc::clone(&self.shared),
            resolved: false,
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if !self.resolved {
            drop(self.shared.failure.set(DeliveryError::Unacknowledged));
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack").finish_non_exhaustive()
    }
}

/// Resolves once to the outcome of a transaction.
pub struct Delivery(oneshot::Receiver<Outcome>);

impl Future for Delivery {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|res| res.unwrap_or(Outcome::Failed(DeliveryError::Unacknowledged)))
    }
}

/// A batch together with its acknowledgement handle.
#[derive(Debug)]
pub struct Transaction {
    /// The messages.
    pub batch: Batch,
    /// Resolved by the runtime once the batch is delivered or has failed.
    pub ack: Ack,
}

impl Transaction {
    /// A transaction over `batch`.
    pub fn new(batch: Batch, ack: Ack) -> Self {
        Self { batch, ack }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(delivery: Delivery) -> Outcome {
        let mut delivery = delivery;
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(&mut delivery).poll(&mut cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => panic!("delivery still pending"),
        }
    }

    #[test]
    fn worst_outcome_wins_and_dropping_is_a_nack() {
        let (ack, delivery) = Ack::pair();
        let clones = ack.split(3);
        let mut it = clones.into_iter();
        it.next().unwrap().resolve(Outcome::Delivered);
        it.next().unwrap().resolve(Outcome::Delivered);
        drop(it);
        assert!(matches!(
            now(delivery),
            Outcome::Failed(DeliveryError::Unacknowledged)
        ));

        let (ack, delivery) = Ack::pair();
        for clone in ack.split(2) {
            clone.resolve(Outcome::Delivered);
        }
        assert!(now(delivery).is_delivered());
    }

    #[test]
    fn split_into_nothing_is_delivered_and_merge_fans_back() {
        let (ack, delivery) = Ack::pair();
        assert!(ack.split(0).is_empty());
        assert!(now(delivery).is_delivered());

        let (a, da) = Ack::pair();
        let (b, db) = Ack::pair();
        Ack::merge([a, b]).resolve(Outcome::Failed(DeliveryError::ShuttingDown));
        assert!(!now(da).is_delivered());
        assert!(!now(db).is_delivered());
    }
}
