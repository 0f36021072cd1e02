//! Counts what every processor receives, sends and flags, with Benthos's
//! metric names, and traces each run when a tracer is on (its
//! `auto_observed` wrapper).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::component::processor::{Failed, Processor, ProcessorError};
use crate::message::Batch;
use crate::metrics::{Counter, Metrics, Timer};
use crate::trace::{Span, TraceContext, Tracer};

/// A processor with metrics around it.
pub struct ObservedProcessor {
    inner: Box<dyn Processor>,
    received: Counter,
    batch_received: Counter,
    sent: Counter,
    batch_sent: Counter,
    error: Counter,
    latency_ns: Timer,
    tracer: Option<Arc<dyn Tracer>>,
    /// The span name: the label, or else the processor type.
    span_name: String,
}

impl ObservedProcessor {
    /// Wraps `inner`, labelled by its `label` and a `path` naming it.
    pub fn new(
        inner: Box<dyn Processor>,
        metrics: &Metrics,
        tracer: Option<Arc<dyn Tracer>>,
        label: &str,
        path: &str,
    ) -> Self {
        let labels = [("label", label), ("path", path)];
        let span_name = if label.is_empty() {
            path.rsplit('.').next().unwrap_or(path)
        } else {
            label
        };
        Self {
            tracer,
            span_name: span_name.to_owned(),
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

/// One child span per distinct trace the batch's messages belong to.
pub(crate) fn child_spans(tracer: &dyn Tracer, name: &str, batch: &Batch) -> Vec<Box<dyn Span>> {
    let mut parents: Vec<&TraceContext> = Vec::new();
    for msg in batch.iter() {
        if let Some(ctx) = msg.trace_context()
            && !parents.contains(&ctx)
        {
            parents.push(ctx);
        }
    }
    parents
        .into_iter()
        .map(|parent| tracer.start(name, Some(parent)))
        .collect()
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
        let mut spans = match &self.tracer {
            Some(tracer) => child_spans(tracer.as_ref(), &self.span_name, &batch),
            None => Vec::new(),
        };
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
            Err(failed) => {
                self.error.add(failed.input.len() as u64);
                for span in &mut spans {
                    span.set_error(&failed.error.to_string());
                }
            }
        }
        drop(spans);
        res
    }

    async fn close(&self) -> Result<(), ProcessorError> {
        self.inner.close().await
    }
}
