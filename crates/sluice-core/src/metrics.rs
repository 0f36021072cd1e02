//! Counters, gauges and timings with Benthos's metric names, rendered in the
//! Prometheus text format.
//!
//! Hand-rolled on purpose: sluice needs a few dozen metric families whose
//! names and label sets are only known at config time, and Benthos exports
//! timings as summaries with quantiles, which neither Rust Prometheus client
//! offers. A map of atomics is smaller and faster than adapting a
//! typed-label registry to that.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;
type Family<T> = RwLock<BTreeMap<(String, Labels), Arc<T>>>;

/// How timings are exported (`metrics.prometheus.use_histogram_timing`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum TimingExport {
    /// A summary in nanoseconds with the 0.5, 0.9 and 0.99 quantiles, as
    /// Benthos exports timings by default.
    #[default]
    Summary,
    /// A histogram in seconds over these ascending bucket bounds.
    Histogram(Vec<f64>),
}

/// The bucket bounds (in seconds) of Prometheus's Go client, which Benthos
/// uses when `histogram_buckets` is empty.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The quantiles a summary reports, as Benthos's Prometheus exporter does.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

#[derive(Default)]
struct Registry {
    counters: Family<AtomicU64>,
    gauges: Family<AtomicU64>,
    timers: Family<TimerCell>,
    timing: TimingExport,
    /// `timing`'s histogram bounds in nanoseconds; empty for summaries.
    bounds_ns: Arc<[u64]>,
}

/// A clonable handle on the metrics registry of one process. In streams
/// mode each stream's handle adds a `stream` label to what it registers.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Registry>, Option<Arc<str>>);

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

/// Sub-buckets per power of two of a summary's log-linear buckets: 8 keeps
/// every quantile within 1/16 (6%) of the true value.
const SUB_BITS: u32 = 3;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
const LOG_BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB_BUCKETS;

/// The log-linear bucket of `ns`: exact below 8, then 8 per power of two.
fn log_bucket(ns: u64) -> usize {
    if ns < SUB_BUCKETS as u64 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros();
    let mantissa = (ns >> (exp - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
    ((exp - SUB_BITS + 1) as usize) * SUB_BUCKETS + mantissa
}

/// The middle of log-linear bucket `idx`, the estimate for values in it.
fn log_bucket_mid(idx: usize) -> f64 {
    if idx < SUB_BUCKETS {
        return idx as f64;
    }
    let group = (idx / SUB_BUCKETS) as u32;
    let mantissa = (idx % SUB_BUCKETS) as u64;
    let width = 1u64 << (group - 1);
    let lower = (SUB_BUCKETS as u64 + mantissa) << (group - 1);
    lower as f64 + (width - 1) as f64 / 2.0
}

struct TimerCell {
    count: AtomicU64,
    sum_ns: AtomicU64,
    /// Log-linear buckets for a summary; one per bound plus `+Inf` for a
    /// histogram. Each counts only its own range (not cumulative).
    buckets: Box<[AtomicU64]>,
}

impl TimerCell {
    fn new(n_buckets: usize) -> Self {
        Self {
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            buckets: (0..n_buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn snapshot(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }
}

/// One timing (Benthos's `StatTimer`); an observation is three atomic adds.
#[derive(Clone)]
pub struct Timer {
    cell: Arc<TimerCell>,
    /// Histogram bounds in nanoseconds; empty for a summary.
    bounds_ns: Arc<[u64]>,
}

impl Timer {
    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        self.observe_ns(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one duration in nanoseconds; like Benthos, at least 1.
    pub fn observe_ns(&self, ns: u64) {
        let ns = ns.max(1);
        let idx = if self.bounds_ns.is_empty() {
            log_bucket(ns)
        } else {
            // Buckets are few (11 by default): a scan beats a search.
            self.bounds_ns
                .iter()
                .position(|bound| ns <= *bound)
                .unwrap_or(self.bounds_ns.len())
        };
        self.cell.buckets[idx].fetch_add(1, Ordering::Relaxed);
        self.cell.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.cell.count.fetch_add(1, Ordering::Relaxed);
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.cell.count.load(Ordering::Relaxed)
    }
}

fn entry<T>(
    map: &Family<T>,
    name: &str,
    labels: &[(&'static str, &str)],
    make: impl FnOnce() -> T,
) -> Arc<T> {
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
            .or_insert_with(|| Arc::new(make())),
    )
}

/// Appends `{k="v",...}` with `extra` last, or nothing without labels.
fn push_labels(out: &mut String, labels: &Labels, extra: Option<(&str, &str)>) {
    let extra = extra.into_iter();
    let all: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra)
        .collect();
    if all.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let escaped = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        // Writing into a String cannot fail.
        write!(out, "{k}=\"{escaped}\"").expect("writing to a String never fails");
    }
    out.push('}');
}

/// A float the way Prometheus reads it.
fn prom_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

impl Metrics {
    /// A registry exporting timings as `timing` says.
    pub fn new(timing: TimingExport) -> Self {
        let bounds_ns: Arc<[u64]> = match &timing {
            TimingExport::Summary => Arc::from([]),
            TimingExport::Histogram(bounds) => bounds
                .iter()
                .map(|secs| (secs * 1e9).round().clamp(0.0, u64::MAX as f64) as u64)
                .collect(),
        };
        Self(
            Arc::new(Registry {
                timing,
                bounds_ns,
                ..Registry::default()
            }),
            None,
        )
    }

    /// The same registry, with `stream="<name>"` on every metric registered
    /// through the handle (as Benthos labels metrics in streams mode).
    pub fn for_stream(&self, name: &str) -> Self {
        Self(Arc::clone(&self.0), Some(Arc::from(name)))
    }

    /// `labels` with the stream label, when there is one.
    fn labelled<'a>(&'a self, labels: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
        let mut all = labels.to_vec();
        if let Some(stream) = &self.1 {
            all.push(("stream", stream));
        }
        all
    }

    /// The counter `name` with `labels`, created on first use.
    pub fn counter(&self, name: &str, labels: &[(&'static str, &str)]) -> Counter {
        let labels = self.labelled(labels);
        Counter(entry(&self.0.counters, name, &labels, AtomicU64::default))
    }

    /// The gauge `name` with `labels`, created on first use.
    pub fn gauge(&self, name: &str, labels: &[(&'static str, &str)]) -> Gauge {
        let labels = self.labelled(labels);
        Gauge(entry(&self.0.gauges, name, &labels, AtomicU64::default))
    }

    /// The timer `name` with `labels`, created on first use.
    pub fn timer(&self, name: &str, labels: &[(&'static str, &str)]) -> Timer {
        let n_buckets = if self.0.bounds_ns.is_empty() {
            LOG_BUCKETS
        } else {
            self.0.bounds_ns.len() + 1
        };
        let labels = self.labelled(labels);
        Timer {
            cell: entry(&self.0.timers, name, &labels, || TimerCell::new(n_buckets)),
            bounds_ns: Arc::clone(&self.0.bounds_ns),
        }
    }

    /// Renders every metric in the Prometheus text exposition format,
    /// families sorted by name as Prometheus's Go client does.
    pub fn render_prometheus(&self) -> String {
        // name -> (type, rendered samples)
        let mut families: BTreeMap<String, (&str, String)> = BTreeMap::new();
        for (kind, map) in [("counter", &self.0.counters), ("gauge", &self.0.gauges)] {
            for ((name, labels), value) in map.read().expect("metrics lock poisoned").iter() {
                let out = &mut families
                    .entry(name.clone())
                    .or_insert((kind, String::new()))
                    .1;
                out.push_str(name);
                push_labels(out, labels, None);
                writeln!(out, " {}", value.load(Ordering::Relaxed))
                    .expect("writing to a String never fails");
            }
        }
        let kind = match self.0.timing {
            TimingExport::Summary => "summary",
            TimingExport::Histogram(_) => "histogram",
        };
        for ((name, labels), cell) in self.0.timers.read().expect("metrics lock poisoned").iter() {
            let out = &mut families
                .entry(name.clone())
                .or_insert((kind, String::new()))
                .1;
            match &self.0.timing {
                TimingExport::Summary => render_summary(out, name, labels, cell),
                TimingExport::Histogram(bounds) => {
                    render_histogram(out, name, labels, cell, bounds)
                }
            }
        }
        let mut text = String::new();
        for (name, (kind, samples)) in families {
            writeln!(text, "# TYPE {name} {kind}").expect("writing to a String never fails");
            text.push_str(&samples);
        }
        text
    }
}

fn render_summary(out: &mut String, name: &str, labels: &Labels, cell: &TimerCell) {
    let buckets = cell.snapshot();
    let total: u64 = buckets.iter().sum();
    for q in QUANTILES {
        let value = quantile(&buckets, total, q);
        out.push_str(name);
        push_labels(out, labels, Some(("quantile", &prom_float(q))));
        writeln!(out, " {}", prom_float(value)).expect("writing to a String never fails");
    }
    out.push_str(name);
    out.push_str("_sum");
    push_labels(out, labels, None);
    writeln!(out, " {}", cell.sum_ns.load(Ordering::Relaxed))
        .expect("writing to a String never fails");
    out.push_str(name);
    out.push_str("_count");
    push_labels(out, labels, None);
    writeln!(out, " {}", cell.count.load(Ordering::Relaxed))
        .expect("writing to a String never fails");
}

/// The `q` quantile estimated from log-linear `buckets` holding `total`
/// observations; NaN without any, as Prometheus's Go client reports.
fn quantile(buckets: &[u64], total: u64, q: f64) -> f64 {
    if total == 0 {
        return f64::NAN;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (idx, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return log_bucket_mid(idx).round();
        }
    }
    f64::NAN
}

fn render_histogram(
    out: &mut String,
    name: &str,
    labels: &Labels,
    cell: &TimerCell,
    bounds: &[f64],
) {
    let buckets = cell.snapshot();
    let mut cumulative = 0;
    let les = bounds.iter().copied().chain([f64::INFINITY]);
    for (n, le) in buckets.iter().zip(les) {
        cumulative += n;
        out.push_str(name);
        out.push_str("_bucket");
        push_labels(out, labels, Some(("le", &prom_float(le))));
        writeln!(out, " {cumulative}").expect("writing to a String never fails");
    }
    out.push_str(name);
    out.push_str("_sum");
    push_labels(out, labels, None);
    // Benthos converts histogram timings to seconds to fit the buckets.
    let sum_secs = cell.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    writeln!(out, " {}", prom_float(sum_secs)).expect("writing to a String never fails");
    out.push_str(name);
    out.push_str("_count");
    push_labels(out, labels, None);
    writeln!(out, " {cumulative}").expect("writing to a String never fails");
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

    fn labelled_output(metrics: &Metrics) -> Timer {
        metrics.timer(
            "output_latency_ns",
            &[("label", ""), ("path", "root.output")],
        )
    }

    #[test]
    fn summaries_report_quantiles_sum_and_count_in_nanoseconds() {
        let metrics = Metrics::default();
        let timer = labelled_output(&metrics);
        for ms in 1..=100 {
            timer.observe(Duration::from_millis(ms));
        }
        let text = metrics.render_prometheus();
        assert!(
            text.contains("# TYPE output_latency_ns summary\n"),
            "{text}"
        );
        let sample = |suffix: &str| -> f64 {
            let prefix = format!("output_latency_ns{suffix} ");
            let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap();
            line[prefix.len()..].parse().unwrap()
        };
        let median = sample(r#"{label="",path="root.output",quantile="0.5"}"#);
        let p99 = sample(r#"{label="",path="root.output",quantile="0.99"}"#);
        // Within the 1/16 resolution of the buckets.
        assert!((median - 50e6).abs() / 50e6 < 0.07, "{median}");
        assert!((p99 - 99e6).abs() / 99e6 < 0.07, "{p99}");
        assert_eq!(sample(r#"_sum{label="",path="root.output"}"#), 5050e6);
        assert_eq!(sample(r#"_count{label="",path="root.output"}"#), 100.0);
    }

    #[test]
    fn empty_summaries_report_nan_quantiles() {
        let metrics = Metrics::default();
        labelled_output(&metrics);
        let text = metrics.render_prometheus();
        assert!(
            text.contains(
                "output_latency_ns{label=\"\",path=\"root.output\",quantile=\"0.9\"} NaN\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn histograms_count_cumulatively_in_seconds() {
        let metrics = Metrics::new(TimingExport::Histogram(vec![0.001, 0.01]));
        let timer = labelled_output(&metrics);
        timer.observe(Duration::from_micros(500));
        timer.observe(Duration::from_millis(5));
        timer.observe(Duration::from_millis(10));
        timer.observe(Duration::from_secs(1));
        let text = metrics.render_prometheus();
        let expected = "# TYPE output_latency_ns histogram
output_latency_ns_bucket{label=\"\",path=\"root.output\",le=\"0.001\"} 1
output_latency_ns_bucket{label=\"\",path=\"root.output\",le=\"0.01\"} 3
output_latency_ns_bucket{label=\"\",path=\"root.output\",le=\"+Inf\"} 4
output_latency_ns_sum{label=\"\",path=\"root.output\"} 1.0155
output_latency_ns_count{label=\"\",path=\"root.output\"} 4
";
        assert_eq!(text, expected);
    }

    #[test]
    fn log_buckets_are_contiguous_and_cover_u64() {
        let mut last = 0;
        for ns in [0u64, 1, 7, 8, 9, 15, 16, 17, 1000, 1 << 40, u64::MAX] {
            let idx = log_bucket(ns);
            assert!(idx >= last && idx < LOG_BUCKETS, "{ns} -> {idx}");
            last = idx;
        }
        for idx in 0..LOG_BUCKETS {
            let mid = log_bucket_mid(idx);
            assert_eq!(log_bucket(mid as u64), idx, "{idx} {mid}");
        }
    }
}
