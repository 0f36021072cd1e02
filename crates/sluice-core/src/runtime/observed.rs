//! Counts what every processor receives, sends and flags, with Benthos's
//! metric names (its `auto_observed` wrapper).

use std::time::Instant;

use async_trait::async_trait;

use crate::component::processor::{Failed, Processor, ProcessorError};
use crate::message::Batch;
use crate::metrics::{Counter, Metrics, Timer};

/// A processor with metrics around it.
pub struct ObservedProcessor {
    inner: Box<dyn Processor>,
    received: Counter,
    batch_received: Counter,
    sent: Counter,
    batch_sent: Counter,
    error: Counter,
    latency_ns: Timer,
}

impl ObservedProcessor {
    /// Wraps `inner`, labelled by its `label` and a `path` naming it.
    pub fn new(inner: Box<dyn Processor>, metrics: &Metrics, label: &str, path: &str) -> Self {
        let labels = [("label", label), ("path", path)];
        Self {
            inner,
            received: metrics.counter("processor_received", &labels),
            batch_received: metrics.counter("processor_batch_received", &labels),
            sent: metrics.counter("processor_sent", &labels),
            batch_sent: metrics.counter("processor_batch_sent", &labels),
            error: metrics.counter("processor_error", &labels),
            latency_ns: metrics.timer("processor_latency_ns", &labels),
        }
    }
}

fn errored(batch: &Batch) -> usize {
    batch.iter().filter(|m| m.error().is_some()).count()
}

#[async_trait]
impl Processor for ObservedProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        self.received.add(batch.len() as u64);
        self.batch_received.incr();
        let errors_before = errored(&batch);
        let started = Instant::now();
        let res = self.inner.process(batch).await;
        self.latency_ns.observe(started.elapsed());
        match &res {
            Ok(batches) => {
                let errors_after: usize = batches.iter().map(errored).sum();
                self.error
                    .add(errors_after.saturating_sub(errors_before) as u64);
                self.sent.add(batches.iter().map(|b| b.len() as u64).sum());
                self.batch_sent.add(batches.len() as u64);
            }
            Err(failed) => self.error.add(failed.input.len() as u64),
        }
        res
    }

    async fn close(&self) -> Result<(), ProcessorError> {
        self.inner.close().await
    }
}
