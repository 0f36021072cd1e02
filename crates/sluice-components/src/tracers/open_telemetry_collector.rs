//! `tracer: open_telemetry_collector`: spans exported over OTLP/HTTP
//! (protobuf) to one or more collectors, with Redpanda Connect's fields.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use serde::Deserialize;
use sluice_core::config::{Lint, Mark, Node, from_node_all};
use sluice_core::trace::{Span, TraceContext, Tracer};

/// How long one export may take, as in Redpanda Connect.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct OtelCollectorConfig {
    /// The service name in traces.
    service: String,
    /// OTLP/HTTP collectors.
    http: Vec<CollectorConfig>,
    /// OTLP/gRPC collectors (refused for now).
    grpc: Vec<CollectorConfig>,
    /// Resource attributes added to every span.
    tags: BTreeMap<String, String>,
    sampling: SamplingConfig,
}

impl Default for OtelCollectorConfig {
    fn default() -> Self {
        Self {
            service: "benthos".to_owned(),
            http: Vec::new(),
            grpc: Vec::new(),
            tags: BTreeMap::new(),
            sampling: SamplingConfig::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CollectorConfig {
    /// `host:port` of the collector (or a full URL).
    address: String,
    /// The deprecated spelling of `address`.
    url: String,
    /// Whether to use HTTPS.
    secure: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SamplingConfig {
    enabled: bool,
    ratio: Option<f64>,
}

/// A checked `open_telemetry_collector` section.
pub(super) struct OtelSetup {
    service: String,
    endpoints: Vec<String>,
    tags: BTreeMap<String, String>,
    ratio: Option<f64>,
}

/// The OTLP/HTTP traces URL of a collector address: `host:port` gets the
/// scheme `secure` asks for; a full URL is taken as the base.
fn traces_url(address: &str, secure: bool) -> String {
    let base = if address.contains("://") {
        address.trim_end_matches('/').to_owned()
    } else {
        let scheme = if secure { "https" } else { "http" };
        format!("{scheme}://{}", address.trim_end_matches('/'))
    };
    if base.ends_with("/v1/traces") {
        base
    } else {
        format!("{base}/v1/traces")
    }
}

impl OtelSetup {
    pub(super) fn parse(node: &Node, mark: Mark) -> Result<OtelSetup, Vec<Lint>> {
        let config: OtelCollectorConfig = from_node_all(node)?;
        let at = |field: &str| node.get(field).map_or(mark, |n| n.mark);
        let mut lints = Vec::new();
        if !config.grpc.is_empty() {
            lints.push(Lint::error(
                at("grpc"),
                "open_telemetry_collector grpc collectors are not supported yet, use http",
            ));
        }
        let mut endpoints = Vec::new();
        for collector in &config.http {
            let address = if collector.address.is_empty() {
                collector.url.as_str()
            } else {
                collector.address.as_str()
            };
            if address.is_empty() {
                lints.push(Lint::error(at("http"), "an address must be specified"));
                continue;
            }
            endpoints.push(traces_url(address, collector.secure));
        }
        let ratio = match (config.sampling.enabled, config.sampling.ratio) {
            (false, _) => None,
            (true, Some(ratio)) if (0.0..=1.0).contains(&ratio) => Some(ratio),
            (true, Some(_)) => {
                lints.push(Lint::error(
                    at("sampling"),
                    "sampling ratio must be between 0 and 1",
                ));
                None
            }
            // Redpanda Connect samples nothing when no ratio is given.
            (true, None) => Some(0.0),
        };
        if !lints.is_empty() {
            return Err(lints);
        }
        Ok(OtelSetup {
            service: config.service,
            endpoints,
            tags: config.tags,
            ratio,
        })
    }

    pub(super) fn start(
        self,
        runtime: tokio::runtime::Handle,
    ) -> Result<super::RunningTracer, String> {
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("failed to build the trace export client: {e}"))?;
        let mut builder = SdkTracerProvider::builder().with_resource(self.resource());
        if let Some(ratio) = self.ratio {
            builder = builder.with_sampler(Sampler::TraceIdRatioBased(ratio));
        }
        for endpoint in &self.endpoints {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(ExportClient {
                    client: client.clone(),
                    runtime: runtime.clone(),
                })
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|e| format!("failed to build the trace exporter for {endpoint}: {e}"))?;
            builder = builder.with_batch_exporter(exporter);
        }
        let provider = builder.build();
        let tracer = OtelTracer(provider.tracer("sluice"));
        Ok(super::RunningTracer {
            tracer: Arc::new(tracer),
            shutdown: Box::new(move || {
                provider
                    .shutdown()
                    .map_err(|e| format!("failed to flush traces: {e}"))
            }),
        })
    }

    /// The tags, plus `service.name` and `service.version` unless the tags
    /// name the service themselves (as Redpanda Connect does).
    fn resource(&self) -> Resource {
        let mut attrs: Vec<KeyValue> = self
            .tags
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        if !self.tags.contains_key("service.name") {
            attrs.push(KeyValue::new("service.name", self.service.clone()));
            if !self.tags.contains_key("service.version") {
                attrs.push(KeyValue::new("service.version", crate::VERSION));
            }
        }
        Resource::builder_empty().with_attributes(attrs).build()
    }
}

/// Sends export requests with the crate's HTTP client on the service's
/// runtime: the batch exporter runs them from its own thread, which has no
/// runtime of its own.
struct ExportClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for ExportClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportClient").finish_non_exhaustive()
    }
}

#[async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let task = self.runtime.spawn(async move {
            let res = client
                .request(parts.method, &url)
                .headers(parts.headers)
                .body(body)
                .send()
                .await;
            // The exporter reports nothing itself: say here why spans are lost.
            let res = match res {
                Ok(res) => res,
                Err(err) => {
                    tracing::warn!(error = %err, "Failed to export traces to {url}.");
                    return Err(err);
                }
            };
            let status = res.status();
            if !status.is_success() {
                tracing::warn!(%status, "Trace collector at {url} refused spans.");
            }
            let headers = res.headers().clone();
            let body = res.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = task.await??;
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

struct OtelTracer(SdkTracer);

impl Tracer for OtelTracer {
    fn start(&self, name: &str, parent: Option<&TraceContext>) -> Box<dyn Span> {
        let cx = match parent {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(parent.trace_id),
                SpanId::from_bytes(parent.span_id),
                if parent.sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                },
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        Box::new(OtelSpan(self.0.start_with_context(name.to_owned(), &cx)))
    }
}

struct OtelSpan(opentelemetry_sdk::trace::Span);

impl Span for OtelSpan {
    fn context(&self) -> TraceContext {
        let ctx = self.0.span_context();
        TraceContext {
            trace_id: ctx.trace_id().to_bytes(),
            span_id: ctx.span_id().to_bytes(),
            sampled: ctx.is_sampled(),
        }
    }

    fn set_error(&mut self, message: &str) {
        self.0.set_status(Status::error(message.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_addresses_become_traces_urls() {
        assert_eq!(
            traces_url("localhost:4318", false),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            traces_url("collector:4318", true),
            "https://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/", false),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces", false),
            "http://c:4318/v1/traces"
        );
    }
}
