//! Spec section 11: latency metrics, readiness, the logger section and
//! OpenTelemetry tracing, observed from outside the binary.

use std::time::Duration;

use crate::support::{Sluice, client};
use crate::upstream::{Reply, Upstream};

async fn scrape(sluice: &Sluice) -> String {
    sluice.metrics().await
}

/// The value of the sample line starting with `series ` (labels included).
fn sample(text: &str, series: &str) -> Option<f64> {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.parse().ok())
}

fn proxy_config(upstream: &Upstream, extra: &str) -> String {
    format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  http_client:
    url: {}
    propagate_response: true
{extra}"#,
        upstream.url("/sink")
    )
}

#[tokio::test]
async fn latency_summaries_cover_input_processors_output_and_http_requests() {
    let upstream = Upstream::always(Reply::ok("done").delay(Duration::from_millis(20))).await;
    let sluice = Sluice::start(&proxy_config(&upstream, ""));
    for _ in 0..3 {
        let res = client()
            .post(sluice.url("/post"))
            .body("hi")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let text = scrape(&sluice).await;
    for (name, labels) in [
        ("input_latency_ns", r#"label="",path="root.input""#),
        (
            "processor_latency_ns",
            r#"label="",path="root.processors.mapping""#,
        ),
        ("output_latency_ns", r#"label="",path="root.output""#),
        ("http_request_latency_ns", r#"label="""#),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} summary\n")),
            "{name}: {text}"
        );
        assert_eq!(
            sample(&text, &format!("{name}_count{{{labels}}}")),
            Some(3.0),
            "{name}: {text}"
        );
        let median = sample(&text, &format!(r#"{name}{{{labels},quantile="0.5"}}"#))
            .unwrap_or_else(|| panic!("{name} median: {text}"));
        assert!(median > 0.0, "{name}: {text}");
    }
    // The upstream answers after 20ms: the request, the write and the whole
    // round trip through the pipeline take at least that long.
    for (name, labels) in [
        ("input_latency_ns", r#"label="",path="root.input""#),
        ("output_latency_ns", r#"label="",path="root.output""#),
        ("http_request_latency_ns", r#"label="""#),
    ] {
        let median = sample(&text, &format!(r#"{name}{{{labels},quantile="0.5"}}"#)).unwrap();
        assert!(median >= 18e6, "{name} median {median}: {text}");
        let sum = sample(&text, &format!("{name}_sum{{{labels}}}")).unwrap();
        assert!(sum >= 3.0 * 18e6, "{name} sum {sum}: {text}");
    }
}

#[tokio::test]
async fn histogram_timings_use_seconds_and_the_configured_buckets() {
    let upstream = Upstream::always(Reply::ok("done").delay(Duration::from_millis(20))).await;
    let extra = r#"
metrics:
  prometheus:
    use_histogram_timing: true
    histogram_buckets: [0.01, 5]
"#;
    let sluice = Sluice::start(&proxy_config(&upstream, extra));
    let res = client()
        .post(sluice.url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = scrape(&sluice).await;
    let labels = r#"label="",path="root.output""#;
    assert!(
        text.contains("# TYPE output_latency_ns histogram\n"),
        "{text}"
    );
    // 20ms is above the 10ms bucket and below the 5s one.
    assert_eq!(
        sample(
            &text,
            &format!(r#"output_latency_ns_bucket{{{labels},le="0.01"}}"#)
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"output_latency_ns_bucket{{{labels},le="5"}}"#)
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"output_latency_ns_bucket{{{labels},le="+Inf"}}"#)
        ),
        Some(1.0),
        "{text}"
    );
    let sum = sample(&text, &format!("output_latency_ns_sum{{{labels}}}")).unwrap();
    assert!((0.018..5.0).contains(&sum), "seconds, not ns: {sum}");
}

#[tokio::test]
async fn metrics_none_serves_no_metrics_endpoint() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  drop: {}
metrics:
  none: {}
"#,
    );
    let res = client().get(sluice.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = client().get(sluice.url("/ping")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn stats_serves_the_same_metrics() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  drop: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client().get(sluice.url("/stats")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"input_latency_ns_count{label="",path="root.input"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn unsupported_metrics_exporters_are_refused_with_their_position() {
    let (_dir, path) = crate::support::write_config(
        r#"
input:
  stdin: {}
output:
  drop: {}
metrics:
  statsd:
    address: localhost:8125
"#,
    );
    let (code, stdout, stderr) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
    assert_ne!(code, 0);
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("(7,3) metrics type 'statsd' is not supported yet"),
        "{all}"
    );
}

/// Polls `/ready` until `done(status, body)` holds or 15s pass; returns the
/// last answer.
async fn ready_until(
    sluice: &Sluice,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let res = client().get(sluice.url("/ready")).send().await.unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        if done(status, &body) || std::time::Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn output_status(body: &serde_json::Value) -> serde_json::Value {
    body["statuses"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["path"] == "output"))
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn ready_names_the_output_that_cannot_connect() {
    let port = crate::support::free_port();
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  amqp_0_9:
    urls: [amqp://guest:guest@127.0.0.1:{port}/]
    exchange: nowhere
"#
    ));
    let (status, body) = ready_until(&sluice, |_, body| {
        output_status(body)["error"]
            .as_str()
            .is_some_and(|e| e.contains("onnect") || e.contains("refused"))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    let output = output_status(&body);
    assert_eq!(output["connected"], false, "{body}");
    assert_eq!(output["label"], "", "{body}");
    assert!(
        output["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // The input is fine; only the output holds readiness back.
    let input = &body["statuses"][0];
    assert_eq!(input["path"], "input", "{body}");
    assert_eq!(input["connected"], true, "{body}");
}

#[tokio::test]
async fn ready_once_a_live_output_is_connected() {
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  amqp_0_9:
    urls: [{}]
    exchange: ""
"#,
        crate::brokers::amqp_url()
    ));
    let (status, body) = ready_until(&sluice, |status, _| status == 200).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"statuses": [
            {"label": "", "path": "input", "connected": true},
            {"label": "", "path": "output", "connected": true},
        ]})
    );
}

#[tokio::test]
async fn ready_is_503_while_a_kafka_broker_is_unreachable() {
    let port = crate::support::free_port();
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  kafka:
    addresses: [127.0.0.1:{port}]
    topic: nowhere
"#
    ));
    assert!(
        sluice.wait_for_log(
            "Input type http_server is now active",
            Duration::from_secs(10)
        ),
        "{}",
        sluice.logs()
    );
    let res = client().get(sluice.url("/ready")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(output_status(&body)["connected"], false, "{body}");
}

/// Runs a stdin -> drop stream over `input` with `logger` as its logger
/// section; returns the exit code and stderr.
fn run_with_logger(logger: &str, input: &str) -> (i32, String) {
    let (_dir, path) = crate::support::write_config(&format!(
        r#"
http:
  address: 127.0.0.1:0
input:
  stdin: {{}}
output:
  drop: {{}}
logger:
{logger}
"#
    ));
    let (code, _stdout, stderr) = crate::support::run_cli(&["-c", path.to_str().unwrap()], input);
    (code, stderr)
}

#[test]
fn json_logs_use_the_configured_names_timestamp_and_static_fields() {
    let (code, stderr) = run_with_logger(
        r#"  level: DEBUG
  format: json
  add_timestamp: true
  timestamp_name: ts
  level_name: severity
  message_name: text
  static_fields:
    '@service': orders
    team: data"#,
        "hello\n",
    );
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let active = lines
        .iter()
        .find(|l| l["text"] == "Input type stdin is now active.")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(active["severity"], "info", "{active}");
    assert_eq!(active["@service"], "orders", "{active}");
    assert_eq!(active["team"], "data", "{active}");
    let ts = active["ts"].as_str().unwrap();
    // RFC 3339, e.g. 2026-01-02T03:04:05Z.
    assert_eq!(ts.len(), 20, "{ts}");
    assert_eq!(&ts[4..5], "-", "{ts}");
    assert_eq!(&ts[10..11], "T", "{ts}");
    assert!(
        active.get("level").is_none() && active.get("msg").is_none(),
        "{active}"
    );
}

#[test]
fn logfmt_puts_time_level_and_message_first_then_sorted_fields() {
    let (code, stderr) = run_with_logger(
        r#"  level: INFO
  format: logfmt
  add_timestamp: true
  static_fields:
    zone: eu
    '@service': orders"#,
        "hello\n",
    );
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("Input type stdin is now active"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("time="), "{line}");
    let rest = line.split_once(' ').unwrap().1;
    assert!(
        rest.starts_with(r#"level=info msg="Input type stdin is now active." @service=orders "#),
        "{line}"
    );
    assert!(line.ends_with(" zone=eu"), "{line}");
    assert!(!stderr.contains("level=debug"), "{stderr}");
}

#[test]
fn levels_filter_what_is_logged() {
    let (code, stderr) = run_with_logger("  level: OFF", "hello\n");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    let (code, stderr) = run_with_logger("  level: WARN", "hello\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("is now active"), "{stderr}");
}

#[test]
fn file_logging_writes_to_the_file_instead_of_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sluice.log");
    std::fs::write(&log, "earlier line\n").unwrap();
    let (code, stderr) = run_with_logger(
        &format!("  format: json\n  file:\n    path: {}", log.display()),
        "hello\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "logs go to the file only");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("earlier line\n"), "appended: {text}");
    assert!(
        text.contains(r#""msg":"Input type stdin is now active.""#),
        "{text}"
    );
}

#[test]
fn unsupported_logger_settings_fail_with_a_clear_error() {
    let (code, stderr) = run_with_logger("  format: yaml", "");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("log format 'yaml' not recognized"),
        "{stderr}"
    );
    let (code, stderr) = run_with_logger("  file:\n    path: /tmp/x.log\n    rotate: true", "");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("logger field file.rotate is not supported yet"),
        "{stderr}"
    );
}

/// A span as an OTLP/HTTP collector received it.
#[derive(Clone, Debug)]
struct ReceivedSpan {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    service: String,
    error: bool,
}

/// A minimal OTLP/HTTP collector: accepts `POST /v1/traces` protobuf
/// bodies on loopback and keeps the spans.
struct Collector {
    addr: std::net::SocketAddr,
    spans: std::sync::Arc<std::sync::Mutex<Vec<ReceivedSpan>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_spans(body: &[u8]) -> Vec<ReceivedSpan> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message as _;
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                Value::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    service: service.clone(),
                    // STATUS_CODE_ERROR
                    error: span.status.is_some_and(|s| s.code == 2),
                });
            }
        }
    }
    out
}

impl Collector {
    async fn start() -> Collector {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&spans);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let sink = std::sync::Arc::clone(&sink);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let sink = std::sync::Arc::clone(&sink);
                            async move {
                                let ok = req.method() == hyper::Method::POST
                                    && req.uri().path() == "/v1/traces";
                                let body = req.into_body().collect().await?.to_bytes();
                                let status = if ok {
                                    sink.lock().unwrap().extend(decode_spans(&body));
                                    200
                                } else {
                                    404
                                };
                                let mut res = hyper::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::new(),
                                ));
                                *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                res.headers_mut().insert(
                                    "content-type",
                                    hyper::header::HeaderValue::from_static(
                                        "application/x-protobuf",
                                    ),
                                );
                                Ok::<_, hyper::Error>(res)
                            }
                        },
                    );
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await
                        .unwrap_or_default();
                });
            }
        });
        Collector { addr, spans, task }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the spans received so far.
    async fn wait_for(&self, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if done(&spans) || std::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn tracer_section(collector: &Collector) -> String {
    format!(
        r#"
tracer:
  open_telemetry_collector:
    service: orders
    http:
      - address: {}
"#,
        collector.addr
    )
}

#[tokio::test]
async fn traces_continue_the_callers_traceparent_through_to_http_client() {
    let collector = Collector::start().await;
    let upstream = Upstream::always(Reply::ok("done")).await;
    let mut sluice = Sluice::start(&proxy_config(&upstream, &tracer_section(&collector)));
    let res = client()
        .post(sluice.url("/post"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "done");

    // The upstream is called within the same trace, by the output's span.
    let seen = upstream.wait_for(1, Duration::from_secs(5)).await;
    let sent = seen[0].header("traceparent");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[0], "00", "{sent}");
    assert_eq!(parts[1], TRACE_ID, "{sent}");
    assert_ne!(
        parts[2], CALLER_SPAN,
        "sluice's own span is the parent: {sent}"
    );
    assert_eq!(parts[3], "01", "{sent}");

    // Shutting down flushes the spans to the collector.
    sluice.terminate();
    assert!(sluice.wait_exit(Duration::from_secs(20)).is_some());
    let spans = collector
        .wait_for(|spans| spans.iter().any(|s| s.name == "output_http_client"))
        .await;
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
    };
    let input = find("input_http_server");
    let mapping = find("mapping");
    let output = find("output_http_client");
    for span in [&input, &mapping, &output] {
        assert_eq!(span.trace_id, TRACE_ID, "{span:?}");
        assert_eq!(span.service, "orders", "{span:?}");
        assert!(!span.error, "{span:?}");
    }
    assert_eq!(input.parent_span_id, CALLER_SPAN);
    assert_eq!(mapping.parent_span_id, input.span_id);
    assert_eq!(output.parent_span_id, input.span_id);
    assert_eq!(
        output.span_id, parts[2],
        "the upstream's parent is the output span"
    );
}

#[tokio::test]
async fn traces_start_a_new_trace_without_a_traceparent_and_mark_failures() {
    let collector = Collector::start().await;
    let upstream = Upstream::always(Reply::new(500, "broken")).await;
    let mut sluice = Sluice::start(&proxy_config(
        &upstream,
        &format!("{}\n", tracer_section(&collector))
            .replace("propagate_response: true", "retries: 0"),
    ));
    let res = client()
        .post(sluice.url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_server_error(), "{}", res.status());
    let seen = upstream.wait_for(1, Duration::from_secs(5)).await;
    let sent = seen[0].header("traceparent");
    sluice.terminate();
    assert!(sluice.wait_exit(Duration::from_secs(20)).is_some());
    let spans = collector
        .wait_for(|spans| spans.iter().any(|s| s.name == "input_http_server"))
        .await;
    let input = spans
        .iter()
        .find(|s| s.name == "input_http_server")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(input.parent_span_id, "", "a new trace has a root span");
    assert!(sent.contains(&input.trace_id), "{sent} vs {input:?}");
    assert!(input.error, "a failed request marks its span: {input:?}");
    let output = spans
        .iter()
        .find(|s| s.name == "output_http_client")
        .unwrap();
    assert!(output.error, "{output:?}");
}

#[tokio::test]
async fn kafka_records_carry_the_traceparent() {
    let collector = Collector::start().await;
    let kafka = crate::brokers::kafka_brokers().remove(0);
    let topic = crate::brokers::unique("traced");
    crate::brokers::create_topic(&kafka.addr, &topic, 1).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  kafka:
    addresses: [{}]
    topic: {topic}
{}"#,
        kafka.addr,
        tracer_section(&collector)
    ));
    let res = client()
        .post(sluice.url("/post"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .body("traced record")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (addr, name) = (kafka.addr.clone(), topic.clone());
    let records = crate::brokers::blocking(move || {
        crate::brokers::consume_until(&addr, &name, Duration::from_secs(20), |rs| !rs.is_empty())
    })
    .await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].value, "traced record");
    let header = records[0]
        .headers
        .get("traceparent")
        .unwrap_or_else(|| panic!("{records:?}"));
    assert!(
        header.starts_with(&format!("00-{TRACE_ID}-")) && header.ends_with("-01"),
        "{header}"
    );
    assert!(!header.contains(CALLER_SPAN), "{header}");
    drop(sluice);
}

#[test]
fn tracer_settings_that_cannot_work_are_refused() {
    for (tracer, expected) in [
        (
            "  jaeger:\n    agent_address: localhost:6831\n",
            "tracer type 'jaeger' is not supported yet",
        ),
        (
            "  open_telemetry_collector:\n    grpc:\n      - address: localhost:4317\n",
            "open_telemetry_collector grpc collectors are not supported yet",
        ),
    ] {
        let (_dir, path) = crate::support::write_config(&format!(
            "input:\n  stdin: {{}}\noutput:\n  drop: {{}}\ntracer:\n{tracer}"
        ));
        let (code, stdout, stderr) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
        assert_ne!(code, 0);
        let all = format!("{stdout}{stderr}");
        assert!(all.contains(expected), "{all}");
    }
}

#[tokio::test]
async fn an_unreachable_collector_is_reported_in_the_logs() {
    let port = crate::support::free_port();
    let mut sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  drop: {{}}
tracer:
  open_telemetry_collector:
    http:
      - address: 127.0.0.1:{port}
"#
    ));
    let res = client()
        .post(sluice.url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    sluice.terminate();
    assert!(sluice.wait_exit(Duration::from_secs(30)).is_some());
    let needle = format!("Failed to export traces to http://127.0.0.1:{port}/v1/traces.");
    assert!(
        sluice.wait_for_log(&needle, Duration::from_secs(20)),
        "{}",
        sluice.logs()
    );
}
