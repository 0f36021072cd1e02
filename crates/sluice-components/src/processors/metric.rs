//! `metric`: counts, sets or times a custom metric per message from an
//! interpolated value, into the same registry as sluice's own metrics (so
//! `/metrics` shows it beside them).

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::json_schema::InterpolatedString;
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::metrics::Metrics;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricConfig {
    /// The metric type: counter, counter_by, gauge or timing.
    #[serde(rename = "type")]
    kind: String,
    /// The metric's name.
    name: String,
    /// Label names and their interpolated values.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, InterpolatedString>")]
    labels: BTreeMap<String, String>,
    /// The value counted by, set or timed (ignored by counter); supports interpolation.
    #[serde(default)]
    #[schemars(with = "InterpolatedString")]
    value: String,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    CounterBy,
    Gauge,
    Timing,
}

struct MetricProcessor {
    metrics: Metrics,
    kind: Kind,
    name: String,
    /// Sorted by name, as Benthos registers them.
    labels: Vec<(&'static str, Interpolation)>,
    value: Interpolation,
}

/// A non-negative number from a value's text. Counters and gauges hold
/// integers here: a fraction is dropped, as Benthos documents for exporters
/// without floats.
fn non_negative(text: &str) -> Result<u64, String> {
    if let Ok(i) = text.parse::<i64>() {
        return u64::try_from(i).map_err(|_| format!("value {i} is negative"));
    }
    let f: f64 = text
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {text:?}: invalid syntax"))?;
    if f < 0.0 {
        return Err(format!("value {f:.6} is negative"));
    }
    Ok(f as u64)
}

impl MetricProcessor {
    fn record(&self, batch: &[Message], index: usize) -> Result<(), String> {
        let value = self
            .value
            .render(batch, index)
            .map_err(|e| format!("value interpolation error: {e}"))?;
        let mut label_values = Vec::with_capacity(self.labels.len());
        for (name, value) in &self.labels {
            let text = value
                .render(batch, index)
                .map_err(|e| format!("label interpolation error: {e}"))?;
            label_values.push((*name, text));
        }
        let labels: Vec<(&'static str, &str)> =
            label_values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match self.kind {
            Kind::Counter => self.metrics.counter(&self.name, &labels).incr(),
            Kind::CounterBy => self
                .metrics
                .counter(&self.name, &labels)
                .add(non_negative(&value)?),
            Kind::Gauge => self
                .metrics
                .gauge(&self.name, &labels)
                .set(non_negative(&value)?),
            Kind::Timing => {
                let ns: i64 = value
                    .parse()
                    .map_err(|_| format!("strconv.ParseInt: parsing {value:?}: invalid syntax"))?;
                let ns = u64::try_from(ns).map_err(|_| "value is negative".to_owned())?;
                self.metrics.timer(&self.name, &labels).observe_ns(ns);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Processor for MetricProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for index in 0..batch.len() {
            // A value that is not a number is logged, not an error on the
            // message: the metric is a side effect, as in Benthos.
            if let Err(err) = self.record(&batch[..], index) {
                tracing::error!(metric = %self.name, "Handler error: {err}");
            }
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: MetricConfig = builder.config(node)?;
    let kind = match config.kind.to_ascii_lowercase().as_str() {
        "counter" => Kind::Counter,
        "counter_by" => Kind::CounterBy,
        "gauge" => Kind::Gauge,
        "timing" => Kind::Timing,
        other => {
            return Err(vec![Lint::error(
                node.mark,
                format!("metric type unrecognised: {other}"),
            )]);
        }
    };
    if config.name.is_empty() {
        return Err(vec![Lint::error(
            node.mark,
            "metric name must not be empty",
        )]);
    }
    let mut labels = Vec::with_capacity(config.labels.len());
    for (name, value) in &config.labels {
        // The registry keys labels by static names, each kept once.
        let name = sluice_core::intern::intern(name);
        labels.push((name, builder.interpolation(value, node.mark)?));
    }
    Ok(Box::new(MetricProcessor {
        metrics: builder.resources().metrics().clone(),
        kind,
        name: config.name,
        labels,
        value: builder.interpolation(&config.value, node.mark)?,
    }))
}
