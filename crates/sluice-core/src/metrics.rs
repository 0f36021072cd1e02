//! Counters and latency sums with Benthos's metric names, rendered in the
//! Prometheus text format.
//!
//! Hand-rolled on purpose: sluice needs a few dozen counter families whose
//! names and label sets are only known at config time; a map of atomics is
//! smaller and faster than adapting a typed-label registry to that.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    counters: RwLock<BTreeMap<(String, Labels), Arc<AtomicU64>>>,
    gauges: RwLock<BTreeMap<(String, Labels), Arc<AtomicU64>>>,
}

/// A clonable handle on the metrics registry of one process.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Registry>);

/// One counter; increments are a single atomic add.
#[derive(Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn incr(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One gauge.
#[derive(Clone)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

fn entry(
    map: &RwLock<BTreeMap<(String, Labels), Arc<AtomicU64>>>,
    name: &str,
    labels: &[(&'static str, &str)],
) -> Arc<AtomicU64> {
    let key = (
        name.to_owned(),
        labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    );
    if let Some(found) = map.read().expect("metrics lock poisoned").get(&key) {
        return Arc::clone(found);
    }
    Arc::clone(
        map.write()
            .expect("metrics lock poisoned")
            .entry(key)
            .or_default(),
    )
}

impl Metrics {
    /// The counter `name` with `labels`, created on first use.
    pub fn counter(&self, name: &str, labels: &[(&'static str, &str)]) -> Counter {
        Counter(entry(&self.0.counters, name, labels))
    }

    /// The gauge `name` with `labels`, created on first use.
    pub fn gauge(&self, name: &str, labels: &[(&'static str, &str)]) -> Gauge {
        Gauge(entry(&self.0.gauges, name, labels))
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (kind, map) in [("counter", &self.0.counters), ("gauge", &self.0.gauges)] {
            let map = map.read().expect("metrics lock poisoned");
            let mut last_name = "";
            for ((name, labels), value) in map.iter() {
                if name != last_name {
                    out.push_str(&format!("# TYPE {name} {kind}\n"));
                    last_name = name;
                }
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
                        out.push_str(&format!("{k}=\"{escaped}\""));
                    }
                    out.push('}');
                }
                out.push_str(&format!(" {}\n", value.load(Ordering::Relaxed)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let metrics = Metrics::default();
        metrics
            .counter(
                "processor_error",
                &[("label", ""), ("path", "root.pipeline")],
            )
            .incr();
        let text = metrics.render_prometheus();
        assert!(text.contains("# TYPE processor_error counter\n"));
        assert!(text.contains("processor_error{label=\"\",path=\"root.pipeline\"} 1\n"));
    }
}
