//! The top-level `tracer` section: `none` (the default, no tracing at all)
//! or `open_telemetry_collector`.

#[cfg(feature = "otel")]
mod open_telemetry_collector;

use std::sync::Arc;

use sluice_core::config::{ComponentKind, Lint, Node, split_component};
use sluice_core::trace::Tracer;

/// Tracers Benthos and Redpanda Connect know; the others are refused by name.
const KNOWN: [&str; 5] = [
    "none",
    "open_telemetry_collector",
    "jaeger",
    "gcp_cloudtrace",
    "redpanda",
];

/// A checked `tracer` section, not yet running.
pub struct TracerSetup {
    #[cfg(feature = "otel")]
    otel: Option<open_telemetry_collector::OtelSetup>,
}

/// A running tracer and what stops it.
pub struct RunningTracer {
    /// Starts spans for every component.
    pub tracer: Arc<dyn Tracer>,
    shutdown: Box<dyn FnOnce() -> Result<(), String> + Send>,
}

impl RunningTracer {
    /// Exports every span still buffered and stops the exporter. Blocks:
    /// call it off the async runtime (`spawn_blocking`).
    pub fn shutdown(self) -> Result<(), String> {
        (self.shutdown)()
    }
}

impl TracerSetup {
    /// Checks the `tracer` node (absent = `none`), gathering every problem.
    pub fn parse(node: Option<&Node>) -> Result<TracerSetup, Vec<Lint>> {
        let Some(node) = node else {
            return Ok(TracerSetup::none());
        };
        let component = split_component(node, ComponentKind::Tracer, &KNOWN)?;
        match component.type_name {
            "none" => Ok(TracerSetup::none()),
            #[cfg(feature = "otel")]
            "open_telemetry_collector" => Ok(TracerSetup {
                otel: Some(open_telemetry_collector::OtelSetup::parse(
                    component.config,
                    component.type_mark,
                )?),
            }),
            other => Err(vec![Lint::error(
                component.type_mark,
                format!("tracer type '{other}' is not supported yet"),
            )]),
        }
    }

    fn none() -> TracerSetup {
        TracerSetup {
            #[cfg(feature = "otel")]
            otel: None,
        }
    }

    /// Starts exporting; `None` for `tracer: none`. Exports run on
    /// `runtime`.
    pub fn start(self, runtime: tokio::runtime::Handle) -> Result<Option<RunningTracer>, String> {
        #[cfg(feature = "otel")]
        if let Some(otel) = self.otel {
            return otel.start(runtime).map(Some);
        }
        drop(runtime);
        Ok(None)
    }
}
