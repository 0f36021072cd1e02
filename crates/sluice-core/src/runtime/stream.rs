//! One stream: input -> processors -> output, with back pressure and a
//! two-phase shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::component::buffer::{Buffer, BufferError, WriteRejected};
use crate::component::input::InputError;
use crate::component::processor::{Processor, run_processors};
use crate::environment::{BuiltInput, BuiltOutput};
use crate::metrics::{Counter, Metrics, Timer};
use crate::runtime::backoff::Backoff;
use crate::runtime::batching::run_batcher;
use crate::runtime::connection::{ConnectionState, ConnectionStatus};
use crate::runtime::output::OutputDriver;
use crate::trace::Tracer;
use crate::transaction::{Ack, DeliveryError, Outcome, Transaction};

/// Everything a stream needs to run, already built.
pub struct Stream {
    /// The input with its own processors.
    pub input: BuiltInput,
    /// The `buffer` between the input's processors and the pipeline;
    /// `None` couples them directly (the `none` buffer).
    pub buffer: Option<Arc<dyn Buffer>>,
    /// `pipeline.processors`.
    pub pipeline: Vec<Box<dyn Processor>>,
    /// `pipeline.threads` resolved (>= 1).
    pub threads: usize,
    /// The output.
    pub output: BuiltOutput,
    /// The output's type name, for logs.
    pub output_type: String,
    /// The output's `label`, empty when it has none.
    pub output_label: String,
    /// How long in-flight transactions may take to drain after a stop.
    pub shutdown_timeout: Duration,
    /// Where metrics go.
    pub metrics: Metrics,
    /// The tracer, unless tracing is off.
    pub tracer: Option<Arc<dyn Tracer>>,
}

/// Where processed transactions go.
enum OutputStage {
    Direct(Arc<OutputDriver>),
    Batched(mpsc::Sender<Transaction>),
    /// The input side of a buffered stream: processed transactions go into
    /// the buffer, which resolves their acks.
    Buffered(Arc<dyn Buffer>),
}

struct Engine {
    processors: Vec<Box<dyn Processor>>,
    /// One permit per pipeline thread, taken in read order.
    processing: Arc<Semaphore>,
    output: OutputStage,
    received: Counter,
    /// Requests dropped before processing: their callers stopped waiting.
    abandoned: Counter,
    /// From handing a transaction to the pipeline until its ack resolves
    /// (Benthos's `input_latency_ns`).
    latency: Timer,
}

impl Engine {
    /// Takes a processing slot; slots are granted in the order asked for.
    async fn processing_slot(&self) -> OwnedSemaphorePermit {
        // A free slot is only counted as free when nobody queues for it, so
        // taking it directly keeps the order.
        if let Ok(slot) = Arc::clone(&self.processing).try_acquire_owned() {
            return slot;
        }
        Arc::clone(&self.processing)
            .acquire_owned()
            .await
            .expect("processing semaphore is never closed")
    }

    /// Runs the processors and hands the results to the output. `slot` is
    /// released once the first result holds its place at the output, so with
    /// one pipeline thread messages reach the output in the order they were
    /// read, as with Benthos's pipeline workers.
    async fn process(&self, tx: Transaction, slot: Option<OwnedSemaphorePermit>) {
        let started = Instant::now();
        let slot = match slot {
            Some(slot) => slot,
            None => self.processing_slot().await,
        };
        let Transaction { batch, mut ack } = tx;
        if !matches!(self.output, OutputStage::Direct(_)) {
            // A batcher or a buffer acks later than this call returns: time
            // the ack.
            let latency = self.latency.clone();
            let inner = ack;
            ack = Ack::from_fn(move |outcome| {
                latency.observe(started.elapsed());
                inner.resolve(outcome);
            });
        }
        self.received.add(batch.len() as u64);
        if crate::deadline::batch_abandoned(&batch) {
            self.abandoned.add(batch.len() as u64);
            tracing::warn!(
                messages = batch.len(),
                "Caller stopped waiting, request dropped before processing."
            );
            ack.resolve(crate::transaction::Outcome::Failed(
                crate::transaction::DeliveryError::Abandoned,
            ));
            return;
        }
        let mut batches = run_processors(&self.processors, batch).await;
        match &self.output {
            // The usual case, one batch in and one out: its transaction
            // keeps the ack as it is, and no joining is needed.
            OutputStage::Direct(driver) if batches.len() == 1 => {
                let only = batches.pop().expect("one batch");
                let first_slot = driver.reserve().await;
                drop(slot);
                let ended = driver
                    .write_reserved(Transaction::new(only, ack), first_slot)
                    .await;
                self.latency.observe(ended - started);
            }
            OutputStage::Direct(driver) => {
                let acks = ack.split(batches.len());
                let mut txs = batches
                    .into_iter()
                    .zip(acks)
                    .map(|(batch, ack)| Transaction::new(batch, ack));
                if let Some(first) = txs.next() {
                    let first_slot = driver.reserve().await;
                    drop(slot);
                    let rest = futures::future::join_all(txs.map(|tx| driver.write(tx)));
                    futures::future::join(driver.write_reserved(first, first_slot), rest).await;
                }
                // Every write has resolved its ack by now.
                self.latency.observe(started.elapsed());
            }
            OutputStage::Batched(sender) => {
                let acks = ack.split(batches.len());
                let txs = batches
                    .into_iter()
                    .zip(acks)
                    .map(|(batch, ack)| Transaction::new(batch, ack));
                for tx in txs {
                    // A closed batcher hands the transaction back; dropping
                    // it nacks it.
                    if let Err(returned) = sender.send(tx).await {
                        drop(returned);
                    }
                }
            }
            OutputStage::Buffered(buffer) => {
                let acks = ack.split(batches.len());
                for (batch, ack) in batches.into_iter().zip(acks) {
                    if let Err(WriteRejected { tx, error }) =
                        buffer.write(Transaction::new(batch, ack)).await
                    {
                        tracing::warn!(error = %error, "Buffer refused a batch.");
                        tx.ack
                            .resolve(Outcome::Failed(DeliveryError::Buffer(Arc::new(error))));
                    }
                }
                // With one thread, the next batch is written after this one.
                drop(slot);
            }
        }
    }
}

/// Lets an input that receives requests itself (such as `http_server`) hand
/// transactions straight to the pipeline from its request handlers, without
/// a hop through its own `read` loop.
///
/// Capacity is bounded exactly as for pulled transactions. Once the stream
/// has drained, `dispatch` refuses every transaction.
#[derive(Clone)]
pub struct Dispatcher {
    engine: Weak<Engine>,
    in_flight: Arc<Semaphore>,
    tracker: TaskTracker,
    hard_stop: CancellationToken,
    // Set just before `hard_stop` is cancelled: every dispatch checks it,
    // and a flag costs no lock where asking the token takes one.
    hard_stopped: Arc<AtomicBool>,
    shutdown_timeout: Duration,
}

impl Dispatcher {
    /// How long a stopping stream lets accepted work finish: an input that
    /// drains its callers on `close` waits at most this long.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Hands `tx` to the pipeline, waiting at most `wait` for capacity. The
    /// transaction is handed back when there is none in time or the stream
    /// has stopped. Processing goes on even if the caller stops waiting.
    pub async fn dispatch(&self, tx: Transaction, wait: Duration) -> Result<(), Transaction> {
        // Usually there is capacity: take it without arming a timer.
        let permit = match Arc::clone(&self.in_flight).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let Ok(Ok(permit)) =
                    tokio::time::timeout(wait, Arc::clone(&self.in_flight).acquire_owned()).await
                else {
                    return Err(tx);
                };
                permit
            }
        };
        let Some(engine) = self.engine.upgrade() else {
            return Err(tx);
        };
        if self.hard_stopped.load(Ordering::Acquire) {
            // Dropping the transaction nacks it.
            drop(tx);
            return Ok(());
        }
        // Shutdown waits for this transaction whichever task finishes it.
        let token = self.tracker.token();
        let mut work = Box::pin(async move {
            engine.process(tx, None).await;
            drop(permit);
        });
        // Most pipelines never wait inside (a mapping and a synchronous
        // output): finishing the work right here on the request's task
        // saves a task spawn and a wake-up per request. Work that does wait
        // moves to a task of its own, so it goes on even if the caller stops
        // waiting.
        let finished =
            std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx).is_ready())).await;
        if !finished {
            let hard = self.hard_stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    // Dropping the transaction nacks it.
                    () = hard.cancelled() => {}
                    () = work => {}
                }
                drop(token);
            });
        }
        Ok(())
    }
}

/// A handle for checking a running stream's readiness.
#[derive(Clone)]
pub struct Readiness {
    input: Arc<ConnectionState>,
    output: Arc<OutputDriver>,
}

impl Readiness {
    /// Whether the output is connected.
    pub fn output_connected(&self) -> bool {
        self.output.is_connected()
    }

    /// The input's and the output's connections, in that order.
    pub fn statuses(&self) -> Vec<ConnectionStatus> {
        vec![self.input.status("input", true), self.output.status()]
    }
}

impl Stream {
    /// Runs until the input ends or `stop` is cancelled, then drains in-flight
    /// transactions for up to `shutdown_timeout` before aborting them.
    pub async fn run(self, stop: CancellationToken, ready: impl FnOnce(Readiness)) {
        let Stream {
            input,
            buffer,
            pipeline,
            threads,
            output,
            output_type,
            output_label,
            shutdown_timeout,
            metrics,
            tracer,
        } = self;
        let BuiltInput {
            input: mut reader,
            processors: input_processors,
            type_name: input_type,
            label: input_label,
        } = input;
        let tracker = TaskTracker::new();
        let hard_stop = CancellationToken::new();
        let hard_stopped = Arc::new(AtomicBool::new(false));
        let connector_stop = CancellationToken::new();

        let driver = Arc::new(OutputDriver::new(
            output.output,
            &output_type,
            &output_label,
            output.max_in_flight,
            &metrics,
            tracer,
        ));
        // The connector runs outside `tracker`, which holds only the work
        // that must drain before shutdown completes.
        let connector = tokio::spawn(
            Arc::clone(&driver)
                .run_connector(connector_stop.clone())
                .instrument(tracing::info_span!("output", r#type = %output_type)),
        );
        let input_state = Arc::new(ConnectionState::labelled(&input_label));
        ready(Readiness {
            input: Arc::clone(&input_state),
            output: Arc::clone(&driver),
        });

        let max_in_flight = output.max_in_flight.max(1);
        let stage = match output.batching {
            None => OutputStage::Direct(Arc::clone(&driver)),
            Some(policy) => {
                let (sender, receiver) = mpsc::channel(max_in_flight);
                let batch_driver = Arc::clone(&driver);
                let write_tracker = tracker.clone();
                tracker.spawn(run_batcher(policy, receiver, move |tx| {
                    let driver = Arc::clone(&batch_driver);
                    write_tracker.spawn(async move { driver.write(tx).await });
                    std::future::ready(())
                }));
                OutputStage::Batched(sender)
            }
        };

        let input_labels = [("label", input_label.as_str()), ("path", "root.input")];
        // Bounds the transactions in flight between the input and the output:
        // once it is exhausted the input stops reading (back pressure).
        // One transaction per pipeline thread and per output slot, plus the
        // one an input holds while it waits to hand it over (as Benthos's
        // input goroutine does).
        let in_flight = Arc::new(Semaphore::new(threads.max(1) + max_in_flight + 1));
        // With a buffer the input's side ends at the buffer: its work is
        // tracked apart, so that the buffer learns the input has ended only
        // once every write into it has finished.
        let input_tracker = TaskTracker::new();
        let (engine, buffered) = match buffer {
            None => {
                let mut processors = input_processors;
                processors.extend(pipeline);
                let engine = Arc::new(Engine {
                    processors,
                    processing: Arc::new(Semaphore::new(threads.max(1))),
                    output: stage,
                    received: metrics.counter("input_received", &input_labels),
                    abandoned: metrics.counter("pipeline_abandoned", &input_labels),
                    latency: metrics.timer("input_latency_ns", &input_labels),
                });
                (engine, None)
            }
            Some(buffer) => {
                // One at a time, as Benthos runs input processors on the
                // input's own goroutine: batches enter the buffer in the
                // order they were read.
                let input_engine = Arc::new(Engine {
                    processors: input_processors,
                    processing: Arc::new(Semaphore::new(1)),
                    output: OutputStage::Buffered(Arc::clone(&buffer)),
                    received: metrics.counter("input_received", &input_labels),
                    abandoned: metrics.counter("pipeline_abandoned", &input_labels),
                    latency: metrics.timer("input_latency_ns", &input_labels),
                });
                let buffer_labels = [("label", ""), ("path", "root.buffer")];
                let pipeline_engine = Arc::new(Engine {
                    processors: pipeline,
                    processing: Arc::new(Semaphore::new(threads.max(1))),
                    output: stage,
                    received: metrics.counter("buffer_sent", &buffer_labels),
                    abandoned: metrics.counter("pipeline_abandoned", &buffer_labels),
                    latency: metrics.timer("buffer_latency_ns", &buffer_labels),
                });
                tracker.spawn(
                    read_buffer(
                        Arc::clone(&buffer),
                        pipeline_engine,
                        Arc::new(Semaphore::new(threads.max(1) + max_in_flight + 1)),
                        tracker.clone(),
                        hard_stop.clone(),
                    )
                    .instrument(tracing::info_span!("buffer")),
                );
                (input_engine, Some(buffer))
            }
        };
        let input_work = if buffered.is_some() {
            input_tracker.clone()
        } else {
            tracker.clone()
        };

        reader.attach_dispatcher(Dispatcher {
            engine: Arc::downgrade(&engine),
            in_flight: Arc::clone(&in_flight),
            tracker: input_work.clone(),
            hard_stop: hard_stop.clone(),
            hard_stopped: Arc::clone(&hard_stopped),
            shutdown_timeout,
        });

        let input_span = tracing::info_span!("input", r#type = %input_type);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(1));
        'connect: loop {
            let connected = tokio::select! {
                () = stop.cancelled() => break 'connect,
                res = reader.connect() => res,
            };
            match connected {
                Ok(()) => {
                    backoff.reset();
                    input_state.up();
                    tracing::info!(parent: &input_span, "Input type {input_type} is now active.");
                }
                Err(InputError::EndOfInput) => break 'connect,
                Err(err) => {
                    input_state.failed(&err);
                    tracing::error!(parent: &input_span, error = %err, "Failed to connect to {input_type}: {err}");
                    tokio::select! {
                        () = stop.cancelled() => break 'connect,
                        () = tokio::time::sleep(backoff.next_wait()) => continue 'connect,
                    }
                }
            }
            loop {
                let permit = tokio::select! {
                    () = stop.cancelled() => break 'connect,
                    permit = Arc::clone(&in_flight).acquire_owned() => {
                        permit.expect("in-flight semaphore is never closed")
                    }
                };
                let read = tokio::select! {
                    () = stop.cancelled() => break 'connect,
                    read = reader.read() => read,
                };
                match read {
                    Ok(tx) => {
                        // Taking the processing slot here, in read order,
                        // keeps the order; on a stop the task waits for it.
                        let slot = tokio::select! {
                            () = stop.cancelled() => None,
                            slot = engine.processing_slot() => Some(slot),
                        };
                        let engine = Arc::clone(&engine);
                        let hard = hard_stop.clone();
                        input_work.spawn(async move {
                            tokio::select! {
                                // Dropping the transaction nacks it.
                                () = hard.cancelled() => {}
                                () = engine.process(tx, slot) => {}
                            }
                            drop(permit);
                        });
                    }
                    Err(InputError::EndOfInput) => break 'connect,
                    Err(InputError::NotConnected) => {
                        input_state.lost();
                        continue 'connect;
                    }
                    Err(err) => {
                        tracing::warn!(parent: &input_span, error = %err, "Failed to read from {input_type}: {err}");
                        tokio::time::sleep(backoff.next_wait()).await;
                    }
                }
            }
        }
        if stop.is_cancelled()
            && let Some(buffer) = &buffered
        {
            buffer.stopping();
        }
        // One budget for the whole stop: an input that lets its accepted
        // callers finish inside `close` spends part of it.
        let stop_deadline = tokio::time::Instant::now() + shutdown_timeout;
        if let Err(err) = reader.close().await {
            tracing::warn!(error = %err, "Failed to close input.");
        }
        drop(engine);
        input_tracker.close();
        tracker.close();

        // Phase one: let in-flight transactions finish; phase two: abort.
        let drained = async {
            if let Some(buffer) = &buffered {
                input_tracker.wait().await;
                buffer.end_of_input();
            }
            tracker.wait().await;
        };
        let graceful = if stop.is_cancelled() {
            tokio::time::timeout_at(stop_deadline, drained)
                .await
                .is_ok()
        } else {
            tokio::select! {
                () = drained => true,
                () = async {
                    stop.cancelled().await;
                    tokio::time::sleep(shutdown_timeout).await;
                } => false,
            }
        };
        if !graceful {
            tracing::warn!("Shutdown timeout reached, aborting in-flight messages.");
            hard_stopped.store(true, Ordering::Release);
            hard_stop.cancel();
        }
        input_tracker.wait().await;
        if let Some(buffer) = &buffered {
            buffer.end_of_input();
        }
        tracker.wait().await;
        connector_stop.cancel();
        if let Err(err) = connector.await {
            tracing::warn!(error = %err, "Output connector task failed.");
        }
        driver.close().await;
    }
}

/// The pipeline side of a buffered stream: reads batches from the buffer
/// and runs them through the pipeline to the output, until the buffer has
/// nothing more (after the input ended) or the stream is aborted.
async fn read_buffer(
    buffer: Arc<dyn Buffer>,
    engine: Arc<Engine>,
    in_flight: Arc<Semaphore>,
    tracker: TaskTracker,
    hard_stop: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(1));
    loop {
        let permit = tokio::select! {
            () = hard_stop.cancelled() => return,
            permit = Arc::clone(&in_flight).acquire_owned() => {
                permit.expect("in-flight semaphore is never closed")
            }
        };
        let read = tokio::select! {
            () = hard_stop.cancelled() => return,
            read = buffer.read() => read,
        };
        match read {
            Ok(tx) => {
                backoff.reset();
                let slot = tokio::select! {
                    () = hard_stop.cancelled() => return,
                    slot = engine.processing_slot() => slot,
                };
                let engine = Arc::clone(&engine);
                let hard = hard_stop.clone();
                tracker.spawn(async move {
                    tokio::select! {
                        // Dropping the transaction nacks it.
                        () = hard.cancelled() => {}
                        () = engine.process(tx, Some(slot)) => {}
                    }
                    drop(permit);
                });
            }
            Err(BufferError::EndOfBuffer) => return,
            Err(err) => {
                tracing::error!(error = %err, "Failed to read buffer: {err}");
                tokio::select! {
                    () = hard_stop.cancelled() => return,
                    () = tokio::time::sleep(backoff.next_wait()) => {}
                }
            }
        }
    }
}
