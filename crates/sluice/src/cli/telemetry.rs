//! The process-wide `metrics` and `tracer` sections, started once for `run`
//! and for streams mode.

use std::path::Path;
use std::sync::Arc;

use sluice_components::tracers::{RunningTracer, TracerSetup};
use sluice_core::config::{Config, Lint};
use sluice_core::metrics::Metrics;
use sluice_core::trace::Tracer;

use super::load::format_lint;
use super::metrics;

/// Metrics and tracing as the config asks for them.
pub(crate) struct Telemetry {
    /// Where every component reports.
    pub(crate) metrics: Metrics,
    /// What `/metrics` serves (`None` for `metrics: none`).
    pub(crate) served: Option<Metrics>,
    /// The tracer spans go to, when `tracer` is set.
    pub(crate) tracer: Option<Arc<dyn Tracer>>,
    running_tracer: Option<RunningTracer>,
}

impl Telemetry {
    /// Reads both sections and starts the tracer's exporter. Problems are
    /// lints; settings without effect are logged as warnings against `path`.
    pub(crate) fn start(config: &Config, path: &Path) -> Result<Self, Vec<Lint>> {
        let setup = metrics::setup(config.metrics.as_ref())?;
        for warning in &setup.warnings {
            tracing::warn!("{}", format_lint(path, warning));
        }
        let tracer_setup = TracerSetup::parse(config.tracer.as_ref())?;
        let running_tracer = tracer_setup
            .start(tokio::runtime::Handle::current())
            .map_err(|err| vec![Lint::error(sluice_core::config::Mark::default(), err)])?;
        let tracer = running_tracer.as_ref().map(|t| Arc::clone(&t.tracer));
        let served = setup.served.then(|| setup.metrics.clone());
        Ok(Self {
            metrics: setup.metrics,
            served,
            tracer,
            running_tracer,
        })
    }

    /// Flushes the spans the exporter still holds.
    pub(crate) async fn shutdown(self) {
        let Some(running) = self.running_tracer else {
            return;
        };
        // Flushing blocks until the exporter has sent what it buffered; the
        // sends themselves run on this runtime, so wait off its threads.
        match tokio::task::spawn_blocking(move || running.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("{err}"),
            Err(err) => tracing::warn!(error = %err, "Trace flush task failed."),
        }
    }
}
