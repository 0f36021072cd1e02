//! Runs streams on the process's shared HTTP server, one at a time, and
//! swaps in a new one without turning requests away (`--watcher`).
//!
//! A stream is built against a staging copy of the server, so a config that
//! fails to build never answers anyone; once it is built its endpoints go
//! live in one step, and the old stream drains what it already accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_components::{InprocPipes, ListenerPool, SharedHttpServer};
use sluice_core::config::{Config, Lint, Node};
use sluice_core::environment::Environment;
use sluice_core::metrics::Metrics;
use sluice_core::runtime::stream::Stream;
use sluice_core::trace::Tracer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::load::{BuiltStream, HostedParts, build_hosted_stream, build_stream};

/// What streams share for the life of the process: the component registry,
/// metrics, the shared HTTP server, the sockets of own-address inputs and
/// the `inproc` pipes.
/// Streams are named; `run` has one, named "".
pub(crate) struct StreamHost {
    env: Environment,
    metrics: Metrics,
    shared: Option<Arc<SharedHttpServer>>,
    // Whether a stream's endpoints live under `/<name>` (streams mode).
    prefix_endpoints: bool,
    // Each stream's sockets, which its next version takes over.
    listeners: Mutex<HashMap<String, Arc<ListenerPool>>>,
    // The `inproc` pipes every stream of the process shares.
    inproc: Arc<InprocPipes>,
    tracer: Option<Arc<dyn Tracer>>,
}

/// A stream that built without problems and is not running yet.
pub(crate) struct StagedStream {
    metrics: Metrics,
    name: String,
    listeners: Arc<ListenerPool>,
    built: BuiltStream,
    staging: Option<Arc<SharedHttpServer>>,
    threads: usize,
    shutdown_timeout: Duration,
}

impl StagedStream {
    /// The build's warnings, to be logged.
    pub(crate) fn warnings(&self) -> &[Lint] {
        &self.built.warnings
    }
}

/// A running stream.
pub(crate) struct RunningStream {
    stop: CancellationToken,
    // None once the stream has ended and its task was awaited.
    done: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl StreamHost {
    pub(crate) fn new(
        env: Environment,
        metrics: Metrics,
        shared: Option<Arc<SharedHttpServer>>,
        prefix_endpoints: bool,
        tracer: Option<Arc<dyn Tracer>>,
    ) -> Self {
        Self {
            env,
            metrics,
            shared,
            prefix_endpoints,
            listeners: Mutex::new(HashMap::new()),
            inproc: Arc::default(),
            tracer,
        }
    }

    /// The registry handle of the stream `name`: streams mode labels each
    /// stream's metrics with its name; `run`'s one stream has none.
    fn metrics_for(&self, name: &str) -> Metrics {
        if name.is_empty() {
            self.metrics.clone()
        } else {
            self.metrics.for_stream(name)
        }
    }

    /// Finds every problem of `config` without building anything that
    /// would bind or connect.
    pub(crate) fn check(&self, config: &Config, root: &Node) -> Result<(), Vec<Lint>> {
        build_stream(
            &self.env,
            config,
            root,
            &Metrics::default(),
            None,
            None,
            true,
        )
        .map(drop)
    }

    /// Builds every component of the stream `name` without making any of it
    /// live.
    pub(crate) fn build(
        &self,
        name: &str,
        config: &Config,
        root: &Node,
    ) -> Result<StagedStream, Vec<Lint>> {
        let listeners = Arc::clone(
            self.listeners
                .lock()
                .expect("listeners lock poisoned")
                .entry(name.to_owned())
                .or_default(),
        );
        listeners.begin();
        let prefix = if self.prefix_endpoints {
            format!("/{name}")
        } else {
            String::new()
        };
        let staging = self.shared.as_ref().map(|live| live.staging(name, &prefix));
        let metrics = self.metrics_for(name);
        let built = build_hosted_stream(
            &self.env,
            config,
            root,
            &metrics,
            staging.clone(),
            HostedParts {
                listeners: Arc::clone(&listeners),
                inproc: Arc::clone(&self.inproc),
            },
            self.tracer.clone(),
        )
        .inspect_err(|_| listeners.abandon())?;
        let threads = match config.pipeline.threads {
            n if n > 0 => n as usize,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(StagedStream {
            metrics,
            name: name.to_owned(),
            listeners,
            built,
            staging,
            threads,
            shutdown_timeout: config.shutdown_timeout.0,
        })
    }

    /// Puts `staged` live and runs it. Endpoints of a stream that ran before
    /// are taken off the server and handed back, still answering the
    /// requests they already have.
    pub(crate) fn start(
        &self,
        staged: StagedStream,
    ) -> (RunningStream, Option<sluice_components::RetiredRoutes>) {
        let retired = match (&self.shared, &staged.staging) {
            (Some(live), Some(staging)) => Some(live.adopt_routes(staging)),
            _ => None,
        };
        staged.listeners.release_unwanted();
        let built = staged.built;
        let stream = Stream {
            input: built.input,
            buffer: built.buffer,
            pipeline: built.pipeline,
            threads: staged.threads,
            output: built.output,
            output_type: built.output_type,
            output_label: built.output_label,
            shutdown_timeout: staged.shutdown_timeout,
            metrics: staged.metrics,
            tracer: self.tracer.clone(),
        };
        let stop = CancellationToken::new();
        let readiness_server = self.shared.clone();
        let name = staged.name;
        let done = tokio::spawn(stream.run(stop.clone(), move |readiness| {
            if let Some(server) = readiness_server {
                server.set_readiness_check(&name, move || readiness.statuses());
            }
        }));
        let running = RunningStream {
            stop,
            done: Some(done),
            shutdown_timeout: staged.shutdown_timeout,
        };
        (running, retired)
    }
}

impl StreamHost {
    /// Takes the stream `name`'s endpoints, readiness check and sockets
    /// away, for a stream that is being deleted. The endpoints are handed
    /// back for [`RunningStream::retire`].
    pub(crate) fn remove(&self, name: &str) -> Option<sluice_components::RetiredRoutes> {
        self.listeners
            .lock()
            .expect("listeners lock poisoned")
            .remove(name);
        let live = self.shared.as_ref()?;
        live.remove_readiness_check(name);
        Some(live.remove_routes(name))
    }
}

impl RunningStream {
    /// Waits until the stream ends by itself (its input ran out).
    /// Never returns for a stream that has already ended.
    pub(crate) async fn finished(&mut self) {
        match &mut self.done {
            Some(done) => {
                if let Err(err) = done.await {
                    tracing::error!(error = %err, "The stream task failed.");
                }
                self.done = None;
            }
            None => std::future::pending().await,
        }
    }

    /// Whether the stream is still running.
    pub(crate) fn is_running(&self) -> bool {
        self.done.as_ref().is_some_and(|done| !done.is_finished())
    }

    /// Stops the stream and waits for it to drain.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        if let Some(done) = self.done
            && let Err(err) = done.await
        {
            tracing::error!(error = %err, "The stream task failed.");
        }
    }

    /// Stops the stream once the requests its retired endpoints still hold
    /// have been answered (bounded by its shutdown timeout), then drains.
    pub(crate) async fn retire(self, routes: Option<sluice_components::RetiredRoutes>) {
        if let Some(routes) = routes
            && !routes.wait_idle(self.shutdown_timeout).await
        {
            tracing::warn!(
                "Requests to the previous stream did not finish within the shutdown timeout."
            );
        }
        self.stop().await;
    }
}
