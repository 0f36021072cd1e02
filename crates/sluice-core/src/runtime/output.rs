//! Driving outputs: connection management, in-flight limits, turning write
//! results into acknowledgements, and output-level processors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::component::output::{Output, OutputError};
use crate::component::processor::{Processor, run_processors};
use crate::message::Batch;
use crate::metrics::{Counter, Metrics, Timer};
use crate::runtime::backoff::Backoff;
use crate::runtime::connection::{ConnectionState, ConnectionStatus};
use crate::trace::{Span, TraceContext, Tracer};
use crate::transaction::{DeliveryError, Outcome, Transaction};

/// An output with sibling `processors:` that run on this output's copy only.
pub struct ProcessedOutput {
    processors: Vec<Box<dyn Processor>>,
    inner: Arc<dyn Output>,
}

impl ProcessedOutput {
    /// Wraps `inner` so `processors` run before each write.
    pub fn new(processors: Vec<Box<dyn Processor>>, inner: Arc<dyn Output>) -> Self {
        Self { processors, inner }
    }
}

#[async_trait]
impl Output for ProcessedOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.inner.connect().await
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        for batch in run_processors(&self.processors, batch.clone()).await {
            self.inner.write(&batch).await?;
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.inner.close().await
    }

    fn connected(&self) -> bool {
        self.inner.connected()
    }
}

/// `error_handling.strict`: refuses batches holding a message that failed
/// processing instead of writing them.
pub struct StrictOutput {
    inner: Arc<dyn Output>,
}

impl StrictOutput {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Output>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Output for StrictOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.inner.connect().await
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        if let Some(error) = batch.iter().find_map(|msg| msg.error()) {
            return Err(OutputError::Rejected {
                reason: format!("rejected due to failed processing: {error}"),
            });
        }
        self.inner.write(batch).await
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.inner.close().await
    }

    fn connected(&self) -> bool {
        self.inner.connected()
    }
}

struct DriverMetrics {
    sent: Counter,
    batch_sent: Counter,
    error: Counter,
    latency: Timer,
    connection_up: Counter,
    connection_failed: Counter,
    connection_lost: Counter,
    abandoned: Counter,
}

/// One of an output's `max_in_flight` write slots, held until the write ends.
pub struct OutputSlot<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
}

/// Runs one output: keeps it connected, bounds concurrent writes to
/// `max_in_flight`, and resolves each transaction's ack with the result.
pub struct OutputDriver {
    output: Arc<dyn Output>,
    type_name: String,
    in_flight: Semaphore,
    connected: AtomicBool,
    /// What `/ready` reports, with the last connection error.
    state: ConnectionState,
    connected_changed: Notify,
    reconnect: Notify,
    metrics: DriverMetrics,
    tracer: Option<Arc<dyn Tracer>>,
    /// `output_<type>`, as Benthos names output spans.
    span_name: String,
}

impl OutputDriver {
    /// A driver for `output`; call [`OutputDriver::run_connector`] in a task.
    pub fn new(
        output: Arc<dyn Output>,
        type_name: &str,
        label: &str,
        max_in_flight: usize,
        metrics: &Metrics,
        tracer: Option<Arc<dyn Tracer>>,
    ) -> Self {
        let labels = [("label", label), ("path", "root.output")];
        Self {
            tracer,
            span_name: format!("output_{type_name}"),
            output,
            type_name: type_name.to_owned(),
            in_flight: Semaphore::new(max_in_flight.max(1)),
            connected: AtomicBool::new(false),
            state: ConnectionState::labelled(label),
            connected_changed: Notify::new(),
            reconnect: Notify::new(),
            metrics: DriverMetrics {
                sent: metrics.counter("output_sent", &labels),
                batch_sent: metrics.counter("output_batch_sent", &labels),
                error: metrics.counter("output_error", &labels),
                latency: metrics.timer("output_latency_ns", &labels),
                connection_up: metrics.counter("output_connection_up", &labels),
                connection_failed: metrics.counter("output_connection_failed", &labels),
                connection_lost: metrics.counter("output_connection_lost", &labels),
                abandoned: metrics.counter("output_abandoned", &labels),
            },
        }
    }

    /// Whether the output is connected (for `/ready`).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire) && self.output.connected()
    }

    /// The output's connection as `/ready` reports it.
    pub fn status(&self) -> ConnectionStatus {
        self.state.status("output", self.output.connected())
    }

    /// Connects, and reconnects whenever a write reports `NotConnected`,
    /// backing off from 500ms up to 1s, until `stop` is cancelled.
    pub async fn run_connector(self: Arc<Self>, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(1));
        loop {
            let attempt = tokio::select! {
                () = stop.cancelled() => return,
                res = self.output.connect() => res,
            };
            match attempt {
                Ok(()) => {
                    backoff.reset();
                    self.metrics.connection_up.incr();
                    self.connected.store(true, Ordering::Release);
                    self.state.up();
                    self.connected_changed.notify_waiters();
                    tracing::info!("Output type {} is now active.", self.type_name);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = self.reconnect.notified() => {}
                    }
                    self.metrics.connection_lost.incr();
                }
                Err(err) => {
                    self.metrics.connection_failed.incr();
                    self.state.failed(&err);
                    tracing::error!(error = %err, "Failed to connect to {}: {err}", self.type_name);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff.next_wait()) => {}
                    }
                }
            }
        }
    }

    async fn wait_connected(&self) {
        if self.connected.load(Ordering::Acquire) {
            return;
        }
        loop {
            let changed = self.connected_changed.notified();
            if self.connected.load(Ordering::Acquire) {
                return;
            }
            changed.await;
        }
    }

    /// Writes one transaction and resolves its ack. Waits for a connection
    /// and for an in-flight slot first: this is where back pressure starts.
    pub async fn write(&self, tx: Transaction) {
        let slot = self.reserve().await;
        self.write_reserved(tx, slot).await;
    }

    /// Waits for an in-flight slot. Slots are handed out in the order they
    /// were asked for, so reserving before letting the next transaction go
    /// keeps writes in order.
    pub async fn reserve(&self) -> OutputSlot<'_> {
        // A free slot is only counted as free when nobody queues for it, so
        // taking it directly keeps the order.
        if let Ok(permit) = self.in_flight.try_acquire() {
            return OutputSlot { _permit: permit };
        }
        OutputSlot {
            _permit: self
                .in_flight
                .acquire()
                .await
                .expect("output semaphore is never closed"),
        }
    }

    /// Like [`OutputDriver::write`] with a slot already reserved. Returns
    /// when the write ended, so that callers timing more than the write
    /// need not read the clock again.
    pub async fn write_reserved(&self, tx: Transaction, slot: OutputSlot<'_>) -> Instant {
        let _slot = slot;
        let Transaction { mut batch, ack } = tx;
        let mut spans = match &self.tracer {
            Some(tracer) => self.start_spans(tracer.as_ref(), &mut batch),
            None => Vec::new(),
        };
        let deadline = crate::deadline::batch_deadline(&batch);
        loop {
            let abandoned = match &deadline {
                None => {
                    self.wait_connected().await;
                    false
                }
                Some(deadline) => {
                    tokio::select! {
                        () = self.wait_connected() => crate::deadline::batch_abandoned(&batch),
                        () = deadline.abandoned() => {
                            // The latest caller is gone; an earlier one of
                            // a merged batch may still wait.
                            if !crate::deadline::batch_abandoned(&batch) {
                                self.wait_connected().await;
                            }
                            crate::deadline::batch_abandoned(&batch)
                        }
                    }
                }
            };
            if abandoned {
                self.metrics.abandoned.add(batch.len() as u64);
                tracing::warn!(
                    messages = batch.len(),
                    "Caller stopped waiting, write to {} dropped.",
                    self.type_name
                );
                ack.resolve(Outcome::Failed(DeliveryError::Abandoned));
                return Instant::now();
            }
            let started = Instant::now();
            match self.output.write(&batch).await {
                Ok(()) => {
                    let ended = Instant::now();
                    self.metrics.latency.observe(ended - started);
                    self.metrics.batch_sent.incr();
                    self.metrics.sent.add(batch.len() as u64);
                    ack.resolve(Outcome::Delivered);
                    return ended;
                }
                Err(OutputError::NotConnected) => {
                    if self.connected.swap(false, Ordering::AcqRel) {
                        self.state.lost();
                        self.reconnect.notify_one();
                    }
                }
                Err(err) => {
                    self.metrics.error.incr();
                    for span in &mut spans {
                        span.set_error(&err.to_string());
                    }
                    tracing::error!(error = %err, "Failed to send message to {}: {err}", self.type_name);
                    ack.resolve(Outcome::Failed(DeliveryError::Output(Arc::new(err))));
                    return Instant::now();
                }
            }
        }
    }

    /// Starts this output's span for every trace in `batch` and makes it
    /// the messages' current span, so that a `traceparent` the output sends
    /// on names the write as the parent.
    fn start_spans(&self, tracer: &dyn Tracer, batch: &mut Batch) -> Vec<Box<dyn Span>> {
        let mut spans: Vec<(TraceContext, Box<dyn Span>)> = Vec::new();
        for msg in batch.iter_mut() {
            let Some(parent) = msg.trace_context().copied() else {
                continue;
            };
            let child = match spans.iter().find(|(p, _)| *p == parent) {
                Some((_, span)) => span.context(),
                None => {
                    let span = tracer.start(&self.span_name, Some(&parent));
                    let child = span.context();
                    spans.push((parent, span));
                    child
                }
            };
            msg.set_trace_context(child);
        }
        spans.into_iter().map(|(_, span)| span).collect()
    }

    /// Closes the output.
    pub async fn close(&self) {
        if let Err(err) = self.output.close().await {
            tracing::warn!(error = %err, "Failed to close output.");
        }
    }
}
