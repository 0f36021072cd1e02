//! The top-level `metrics` section: which exporter serves the registry and
//! how it exports timings.

use serde::Deserialize;
use sluice_core::config::{ComponentKind, Lint, Node, from_node_all, split_component};
use sluice_core::metrics::{DEFAULT_BUCKETS, Metrics, TimingExport};

/// Exporters Benthos and Redpanda Connect know; only `prometheus` and
/// `none` run here, the others are refused by name.
const KNOWN: [&str; 8] = [
    "prometheus",
    "none",
    "json_api",
    "statsd",
    "influxdb",
    "aws_cloudwatch",
    "logger",
    "open_telemetry_collector",
];

/// `metrics.prometheus`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PrometheusConfig {
    /// Export timings as histograms in seconds instead of summaries in ns.
    use_histogram_timing: bool,
    /// Histogram bucket bounds in seconds; empty means Prometheus's defaults.
    histogram_buckets: Vec<f64>,
    add_process_metrics: bool,
    add_go_metrics: bool,
    push_url: String,
    push_interval: String,
    push_job_name: String,
    push_basic_auth: PushBasicAuth,
    file_output_path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PushBasicAuth {
    username: String,
    password: String,
}

/// The metrics registry a config asks for.
pub(crate) struct MetricsSetup {
    /// Where every component reports.
    pub(crate) metrics: Metrics,
    /// Whether `/metrics` and `/stats` serve it (`prometheus`, not `none`).
    pub(crate) served: bool,
    /// Settings accepted but without effect here, to log at startup.
    pub(crate) warnings: Vec<Lint>,
}

/// Reads the `metrics` node (absent = `prometheus: {}`).
pub(crate) fn setup(node: Option<&Node>) -> Result<MetricsSetup, Vec<Lint>> {
    let Some(node) = node else {
        return Ok(MetricsSetup {
            metrics: Metrics::default(),
            served: true,
            warnings: Vec::new(),
        });
    };
    let component = split_component(node, ComponentKind::Metrics, &KNOWN)?;
    let mut lints = Vec::new();
    if let Some(mapping) = node.get("mapping")
        && mapping.as_str().is_some_and(|m| !m.trim().is_empty())
    {
        lints.push(Lint::error(
            mapping.mark,
            "metrics field mapping is not supported yet",
        ));
    }
    match component.type_name {
        "none" => {
            return if lints.is_empty() {
                Ok(MetricsSetup {
                    metrics: Metrics::default(),
                    served: false,
                    warnings: Vec::new(),
                })
            } else {
                Err(lints)
            };
        }
        "prometheus" => {}
        other => {
            lints.push(Lint::error(
                component.type_mark,
                format!("metrics type '{other}' is not supported yet"),
            ));
            return Err(lints);
        }
    }
    let config: PrometheusConfig = from_node_all(component.config)?;
    let at = |field: &str| {
        component
            .config
            .get(field)
            .map_or(component.type_mark, |n| n.mark)
    };
    for (set, field) in [
        (config.add_process_metrics, "add_process_metrics"),
        (!config.push_url.is_empty(), "push_url"),
        (!config.file_output_path.is_empty(), "file_output_path"),
    ] {
        if set {
            lints.push(Lint::error(
                at(field),
                format!("prometheus field {field} is not supported yet"),
            ));
        }
    }
    let mut bounds = if config.histogram_buckets.is_empty() {
        DEFAULT_BUCKETS.to_vec()
    } else {
        config.histogram_buckets.clone()
    };
    if bounds.iter().any(|b| !b.is_finite() || *b < 0.0) {
        lints.push(Lint::error(
            at("histogram_buckets"),
            "histogram_buckets must be finite, non-negative numbers of seconds",
        ));
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    let mut warnings = Vec::new();
    if config.add_go_metrics {
        warnings.push(Lint::warning(
            at("add_go_metrics"),
            "prometheus field add_go_metrics has no effect: sluice has no Go runtime",
        ));
    }
    let timing = if config.use_histogram_timing {
        TimingExport::Histogram(bounds)
    } else {
        TimingExport::Summary
    };
    Ok(MetricsSetup {
        metrics: Metrics::new(timing),
        served: true,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<(bool, String), String> {
        let node = Node::parse(yaml).unwrap();
        match setup(node.get("metrics")) {
            Ok(setup) => {
                let timer = setup.metrics.timer("t_ns", &[]);
                timer.observe_ns(1);
                let text = setup.metrics.render_prometheus();
                Ok((setup.served, text.lines().next().unwrap_or("").to_owned()))
            }
            Err(lints) => Err(lints.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn prometheus_summaries_by_default_and_histograms_on_request() {
        assert_eq!(
            check("metrics:\n  prometheus: {}\n"),
            Ok((true, "# TYPE t_ns summary".to_owned()))
        );
        assert_eq!(
            check("metrics:\n  prometheus:\n    use_histogram_timing: true\n"),
            Ok((true, "# TYPE t_ns histogram".to_owned()))
        );
        assert_eq!(
            check("metrics:\n  none: {}\n"),
            Ok((false, "# TYPE t_ns summary".to_owned()))
        );
    }

    #[test]
    fn unsupported_exporters_and_fields_are_refused() {
        let err = check("metrics:\n  statsd:\n    address: x\n").unwrap_err();
        assert!(
            err.contains("metrics type 'statsd' is not supported yet"),
            "{err}"
        );
        let err = check("metrics:\n  prometheus:\n    push_url: http://x\n").unwrap_err();
        assert!(
            err.contains("prometheus field push_url is not supported yet"),
            "{err}"
        );
        let err = check("metrics:\n  mapping: root = this\n  prometheus: {}\n").unwrap_err();
        assert!(
            err.contains("metrics field mapping is not supported yet"),
            "{err}"
        );
    }
}
