//! Spec section 6 and the proxy use case of the seed documents: the
//! `http_client` output in front of real local HTTP servers, alone and
//! inside brokers, with `propagate_response` answering the caller.

use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::messages::multipart_parts;
use crate::support::{Sluice, client, read_lines};
use crate::upstream::{Certs, Reply, Upstream, gaps};

/// What the caller got back.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
    elapsed: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

async fn post(sluice: &Sluice, path: &str, body: &str) -> Answer {
    post_with(sluice, path, body, &[]).await
}

async fn post_with(sluice: &Sluice, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let start = Instant::now();
    let mut req = client().post(sluice.url(path)).body(body.to_owned());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap();
    Answer {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
    }
}

/// `http_server` on `/post` -> `http_client` to `url` with
/// `propagate_response` and short retries; `extra` is more indented
/// `http_client` fields, `server` more `http_server` fields.
fn proxy_config(url: &str, extra: &str, server: &str) -> String {
    let indent = |text: &str, n: usize| -> String {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("{}{l}\n", " ".repeat(n)))
            .collect()
    };
    let retry_period = if extra.lines().any(|l| l.starts_with("retry_period:")) {
        ""
    } else {
        "    retry_period: 100ms\n"
    };
    format!(
        "input:\n  http_server:\n    path: /post\n{}output:\n  http_client:\n    url: {url}\n    propagate_response: true\n{retry_period}{}",
        indent(server, 4),
        indent(extra, 4),
    )
}

/// The parts of a `multipart/form-data` request body: (head, body).
fn request_parts(content_type: &str, body: &str) -> Vec<(String, String)> {
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let (parts, end) = body
        .rsplit_once(&format!("--{boundary}--"))
        .unwrap_or_else(|| panic!("no closing boundary in {body:?}"));
    assert_eq!(end, "\r\n");
    parts
        .split(&format!("--{boundary}\r\n"))
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = p.strip_suffix("\r\n").unwrap_or(p);
            let (head, body) = p.split_once("\r\n\r\n").expect("part head");
            (head.to_owned(), body.to_owned())
        })
        .collect()
}

const WEATHER: &str =
    r#"{"city":"Berlin","forecast":"Clear skies with light winds","temperature_c":22}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_proxy_config_forwards_the_request_and_answers_with_the_response() {
    let upstream =
        Upstream::always(Reply::ok(WEATHER).header("Content-Type", "application/json")).await;
    // Seed "Routing output responses back", verbatim apart from the URL.
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /proxy-weather

output:
  http_client:
    url: {}
    verb: POST
    propagate_response: true
"#,
        upstream.url("/forecast")
    ));
    let answer = post_with(
        &sluice,
        "/proxy-weather",
        r#"{ "location": "Berlin" }"#,
        &[("Content-Type", "application/json")],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, WEATHER);
    assert_eq!(answer.header("content-type"), "application/octet-stream");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].uri, "/forecast");
    assert_eq!(seen[0].text(), r#"{ "location": "Berlin" }"#);
    assert_eq!(seen[0].header("content-type"), "application/octet-stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_fan_out_proxy_answers_after_both_outputs_acknowledged() {
    let upstream = Upstream::always(Reply::ok(WEATHER).delay(Duration::from_millis(300))).await;
    // Seed "Routing output responses back" with Kafka: a `file` output stands
    // in for the Kafka topic.
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  broker:
    pattern: fan_out
    outputs:
      - file:
          path: "{{dir}}/foo_topic.txt"
      - http_client:
          url: {}
          verb: POST
          propagate_response: true
"#,
        upstream.url("/post")
    ));
    let answer = post(&sluice, "/post", r#"{"location":"Berlin"}"#).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, WEATHER);
    assert!(
        answer.elapsed >= Duration::from_millis(290),
        "{:?}",
        answer.elapsed
    );
    // Both outputs had acknowledged before the caller was answered.
    let file = std::fs::read_to_string(sluice.dir.join("foo_topic.txt")).unwrap_or_default();
    assert_eq!(file, "{\"location\":\"Berlin\"}\n");
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_is_not_answered_before_a_slow_downstream() {
    // Spec 1.2: outputs ack only after the destination confirmed the write.
    let upstream = Upstream::always(Reply::ok("done").delay(Duration::from_secs(2))).await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/slow"), "", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "done"));
    assert!(
        answer.elapsed >= Duration::from_millis(1950),
        "{:?}",
        answer.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_downstream_gives_502_with_the_url_and_the_connection_error() {
    // Spec 2.6, second test.
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: http://127.0.0.1:9/x
    retries: 0
"#,
    );
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert!(
        answer.body.contains("http://127.0.0.1:9/x"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.to_lowercase().contains("connection refused"),
        "{}",
        answer.body
    );
    assert!(answer.body.ends_with('\n'), "{:?}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_to_the_caller_always_means_the_downstream_answered_2xx() {
    // The upstream answers the status the caller asked for in the body.
    // A 3xx without `Location` is not followed.
    let upstream = Upstream::start(|seen, _| {
        let code: u16 = seen.text().parse().unwrap();
        Reply::new(code, format!("answer {code}"))
    })
    .await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/s"), "retries: 0", ""));
    for code in [
        200, 201, 202, 203, 206, 226, 299, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404,
        409, 418, 429, 451, 499, 500, 501, 502, 503, 504, 599,
    ] {
        let answer = post(&sluice, "/post", &code.to_string()).await;
        if (200..300).contains(&code) {
            assert_eq!(answer.status, 200, "downstream {code}: {}", answer.body);
            assert_eq!(answer.body, format!("answer {code}"));
        } else {
            assert_eq!(answer.status, 502, "downstream {code}: {}", answer.body);
            assert!(
                answer.body.contains(&format!(
                    "HTTP request returned unexpected response code ({code})"
                )),
                "downstream {code}: {}",
                answer.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_after_retries_is_a_502_with_the_benthos_error_text() {
    let upstream = Upstream::always(Reply::new(500, "broken\nbadly")).await;
    let url = upstream.url("/fail");
    let sluice = Sluice::start(&proxy_config(&url, "retries: 2", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.body,
        format!(
            "{url}: HTTP request returned unexpected response code (500): 500 Internal Server Error, Error: brokenbadly\n"
        )
    );
    // One attempt plus two linear retries, `retry_period` apart.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 3);
    for gap in gaps(&seen) {
        assert!(
            gap >= Duration::from_millis(80) && gap < Duration::from_millis(600),
            "{gap:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_then_200_succeeds_after_one_retry_a_second_later() {
    // Spec 6.3 test, default retry_period (1s).
    let upstream = Upstream::sequence(vec![Reply::new(503, "busy"), Reply::ok("fine")]).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: {}
    retries: 3
    propagate_response: true
"#,
        upstream.url("/x")
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "fine"));
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_millis(1600),
        "{gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_on_statuses_double_the_wait_up_to_max_retry_backoff() {
    let upstream = Upstream::sequence(vec![
        Reply::new(429, "slow down"),
        Reply::new(429, "slow down"),
        Reply::new(429, "slow down"),
        Reply::new(429, "slow down"),
        Reply::ok("fine"),
    ])
    .await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "retries: 5\nretry_period: 200ms\nmax_retry_backoff: 800ms",
        "",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "fine"));
    let seen = upstream.seen();
    assert_eq!(seen.len(), 5);
    let ms: Vec<u128> = gaps(&seen).iter().map(Duration::as_millis).collect();
    // 200ms, 400ms, 800ms, then capped at 800ms (not 1600ms). Arrival times
    // are taken in the test process, so a loaded machine can shift one
    // arrival and shorten the gap after it: hence the slack both ways.
    for (gap, want) in ms.iter().zip([200, 400, 800, 800]) {
        assert!(*gap >= want * 4 / 5 && *gap < want + 300, "gaps {ms:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_backoff_on_and_linear_retries_mix() {
    // A `backoff_on` status waits exponentially, any other failure linearly.
    let upstream = Upstream::sequence(vec![
        Reply::new(503, "a"),
        Reply::new(503, "b"),
        Reply::new(500, "c"),
        Reply::ok("fine"),
    ])
    .await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "retries: 3\nbackoff_on: [503]",
        "",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "fine"));
    let ms: Vec<u128> = gaps(&upstream.seen())
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(ms.len(), 3, "{ms:?}");
    // The third wait is linear again: 100ms, not 400ms.
    for (gap, want) in ms.iter().zip([100, 200, 100]) {
        assert!(*gap >= want * 4 / 5 && *gap < want + 250, "gaps {ms:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_on_fails_at_once_without_retrying() {
    let upstream = Upstream::always(Reply::new(400, "bad request")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "retries: 3\nretry_period: 2s\ndrop_on: [400]",
        "",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert!(answer.body.contains("(400)"), "{}", answer.body);
    assert!(
        answer.elapsed < Duration::from_millis(1500),
        "{:?}",
        answer.elapsed
    );
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_on_statuses_are_propagated() {
    let upstream = Upstream::always(Reply::new(404, "not here")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "successful_on: [404]",
        "sync_response:\n  status: ${! @http_status_code }",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (404, "not here"));
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_by_default() {
    let upstream = Upstream::start(|seen, _| match seen.uri.as_str() {
        "/old" => Reply::redirect(302, "/new"),
        "/keep" => Reply::redirect(307, "/new"),
        _ => Reply::ok(format!("{} {} {}", seen.method, seen.uri, seen.text())),
    })
    .await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/old"), "", ""));
    let answer = post(&sluice, "/post", "body").await;
    // As in Go, a 302 after a POST is followed with a GET without body.
    assert_eq!((answer.status, answer.body.as_str()), (200, "GET /new "));
    drop(sluice);
    let sluice = Sluice::start(&proxy_config(&upstream.url("/keep"), "", ""));
    let answer = post(&sluice, "/post", "body").await;
    // A 307 keeps the method and the body.
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "POST /new body")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_follow_redirects_a_3xx_is_a_success() {
    let upstream = Upstream::always(Reply::redirect(302, "/new")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/old"),
        "follow_redirects: false",
        "sync_response:\n  status: ${! @http_status_code }",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (302, "moved to /new")
    );
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_downstream_with_a_generated_root_ca() {
    let certs = Certs::generate();
    let upstream = Upstream::start_tls(&certs, |seen, _| {
        Reply::ok(format!("secure {}", seen.text()))
    })
    .await;
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/tls", upstream.addr.port());
        let sluice = Sluice::start(&proxy_config(
            &url,
            &format!(
                "retries: 0\ntls:\n  enabled: true\n  root_cas_file: {}",
                certs.ca_path().display()
            ),
            "",
        ));
        let answer = post(&sluice, "/post", host).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body, format!("secure {host}"));
    }
    // Without the CA the certificate is refused.
    let sluice = Sluice::start(&proxy_config(&upstream.url("/tls"), "retries: 0", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert!(
        answer.body.contains(&upstream.url("/tls")),
        "{}",
        answer.body
    );
    assert!(
        answer.body.to_lowercase().contains("certificate"),
        "{}",
        answer.body
    );
    // skip_cert_verify accepts it.
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/tls"),
        "retries: 0\ntls:\n  enabled: true\n  skip_cert_verify: true",
        "",
    ));
    let answer = post(&sluice, "/post", "y").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "secure y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_downstream_times_out_per_attempt() {
    let upstream = Upstream::sequence(vec![
        Reply::ok("late").delay(Duration::from_secs(3)),
        Reply::ok("on time"),
    ])
    .await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "timeout: 300ms\nretries: 1",
        "",
    ));
    // The first attempt times out, the retry gets the answer.
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "on time"));
    assert!(
        answer.elapsed >= Duration::from_millis(390) && answer.elapsed < Duration::from_secs(2),
        "{:?}",
        answer.elapsed
    );
    drop(sluice);
    let upstream = Upstream::always(Reply::ok("late").delay(Duration::from_secs(3))).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "timeout: 300ms\nretries: 0",
        "",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert!(answer.body.contains(&upstream.url("/x")), "{}", answer.body);
    assert!(answer.body.contains("timed out"), "{}", answer.body);
    assert!(
        answer.elapsed < Duration::from_secs(2),
        "{:?}",
        answer.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downstream_closing_the_connection_is_retried() {
    let upstream = Upstream::sequence(vec![Reply::close(), Reply::ok("second try")]).await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/x"), "retries: 1", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "second try"));
    assert_eq!(upstream.seen().len(), 2);
    drop(sluice);
    let upstream = Upstream::always(Reply::close()).await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/x"), "retries: 0", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert!(answer.body.contains(&upstream.url("/x")), "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_response_becomes_one_response_message_per_part() {
    let upstream = Upstream::always(Reply::multipart(&["first", "second part"])).await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/x"), "", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 200);
    let parts = multipart_parts(answer.header("content-type"), &answer.body);
    let bodies: Vec<&str> = parts.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(bodies, ["first", "second part"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_status_is_forwarded_only_when_asked() {
    // Spec 6.4 test.
    let upstream = Upstream::always(
        Reply::new(201, r#"{"ok":true}"#).header("Content-Type", "application/json"),
    )
    .await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/x"), "", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"ok":true}"#)
    );
    assert_eq!(answer.header("content-type"), "application/octet-stream");
    drop(sluice);
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "",
        "sync_response:\n  status: '${! @http_status_code }'",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (201, r#"{"ok":true}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_content_type_is_overwritten_and_response_headers_need_opting_in() {
    // Edge case 13.5.
    let upstream = Upstream::always(
        Reply::ok("{}")
            .header("Content-Type", "application/json")
            .header("X-Up", "one")
            .header("X-Up", "two")
            .header("X-Single", "s")
            .header("Other", "o"),
    )
    .await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/lower"),
        "headers:\n  content-type: application/json",
        "",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/octet-stream");
    assert!(answer.headers.get("x-up").is_none());
    assert!(answer.headers.get("x-single").is_none());
    assert!(
        sluice.logs().contains("content-type"),
        "no warning about the lower-case key:\n{}",
        sluice.logs()
    );
    drop(sluice);
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/exact"),
        "headers:\n  Content-Type: application/json\nextract_headers:\n  include_prefixes: [x-]\n  include_patterns: ['^content-type$']",
        "sync_response:\n  metadata_headers:\n    include_prefixes: [x-single, content-]",
    ));
    // The caller's own headers are metadata too, under canonical names: the
    // lower-case prefixes match only the extracted response headers.
    let answer = post_with(
        &sluice,
        "/post",
        "x",
        &[("Content-Type", "text/plain"), ("X-Single", "from-caller")],
    )
    .await;
    assert_eq!(answer.status, 200);
    // Extracted and listed: forwarded.
    assert_eq!(answer.header("x-single"), "s");
    assert_eq!(answer.header("content-type"), "application/json");
    // Extracted but not listed in metadata_headers, or not extracted.
    assert!(answer.headers.get("x-up").is_none());
    assert!(answer.headers.get("other").is_none());
    let seen = upstream.seen();
    assert_eq!(seen[0].uri, "/lower");
    assert_eq!(seen[0].header("content-type"), "application/octet-stream");
    assert_eq!(seen[1].uri, "/exact");
    assert_eq!(seen[1].header("content-type"), "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracted_headers_become_metadata_and_lists_when_repeated() {
    let upstream = Upstream::always(
        Reply::ok("body")
            .header("X-Up", "one")
            .header("X-Up", "two")
            .header("X-Single", "s"),
    )
    .await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - http:
        url: {}
        extract_headers:
          include_patterns: ['^x-']
    - mapping: |
        root.status = @http_status_code
        root.up = metadata("x-up")
        root.single = metadata("x-single")
        root.request_header = metadata("X-Trace")
output:
  sync_response: {{}}
"#,
        upstream.url("/x")
    ));
    let answer = post_with(&sluice, "/post", "x", &[("X-Trace", "abc")]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        r#"{"request_header":"abc","single":"s","status":200,"up":["one","two"]}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_filter_sends_matching_metadata_as_request_headers() {
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "metadata:\n  include_prefixes: [X-Trace]\n  include_patterns: ['^Tenant$']\nheaders:\n  X-Static: fixed\n  X-From-Body: ${! content() }\n  Host: example.test",
        "",
    ));
    let answer = post_with(
        &sluice,
        "/post",
        "payload",
        &[("X-Trace", "abc"), ("Tenant", "t1"), ("Secret", "s")],
    )
    .await;
    assert_eq!(answer.status, 200);
    let seen = upstream.seen();
    assert_eq!(seen[0].header("x-trace"), "abc");
    assert_eq!(seen[0].header("tenant"), "t1");
    assert_eq!(seen[0].header("secret"), "");
    assert_eq!(seen[0].header("x-static"), "fixed");
    assert_eq!(seen[0].header("x-from-body"), "payload");
    assert_eq!(seen[0].header("host"), "example.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verb_and_interpolated_url() {
    let upstream =
        Upstream::start(|seen, _| Reply::ok(format!("{} {}", seen.method, seen.uri))).await;
    let sluice = Sluice::start(&proxy_config(
        &format!("{}/items/${{! json(\"id\") }}", upstream.url("")),
        "verb: PUT",
        "",
    ));
    let answer = post(&sluice, "/post", r#"{"id":42}"#).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "PUT /items/42")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_sent() {
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/x"),
        "basic_auth:\n  enabled: true\n  username: user\n  password: pass",
        "",
    ));
    assert_eq!(post(&sluice, "/post", "x").await.status, 200);
    assert_eq!(
        upstream.seen()[0].header("authorization"),
        "Basic dXNlcjpwYXNz"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_credentials_fetch_a_token_once_and_use_it() {
    let upstream = Upstream::start(|seen, _| {
        if seen.uri == "/token" {
            Reply::ok(r#"{"access_token":"tok123","token_type":"bearer","expires_in":3600}"#)
                .header("Content-Type", "application/json")
        } else {
            Reply::ok(seen.header("authorization"))
        }
    })
    .await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/api"),
        &format!(
            "oauth2:\n  enabled: true\n  client_key: key\n  client_secret: secret\n  token_url: {}\n  scopes: [read, write]",
            upstream.url("/token")
        ),
        "",
    ));
    for _ in 0..2 {
        let answer = post(&sluice, "/post", "x").await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "Bearer tok123")
        );
    }
    let seen = upstream.seen();
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris, ["/token", "/api", "/api"]);
    let token = &seen[0];
    assert_eq!(token.method, "POST");
    // key:secret
    assert_eq!(token.header("authorization"), "Basic a2V5OnNlY3JldA==");
    assert_eq!(
        token.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        token.text(),
        "grant_type=client_credentials&scope=read+write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_token_endpoint_failure_is_a_502() {
    let upstream = Upstream::start(|seen, _| {
        if seen.uri == "/token" {
            Reply::new(401, "no")
        } else {
            Reply::ok("should not be reached")
        }
    })
    .await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/api"),
        &format!(
            "retries: 0\noauth2:\n  enabled: true\n  client_key: key\n  client_secret: secret\n  token_url: {}",
            upstream.url("/token")
        ),
        "",
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert!(answer.body.contains("oauth2"), "{}", answer.body);
    assert!(upstream.seen().iter().all(|s| s.uri == "/token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_as_multipart_sends_one_request_for_the_batch() {
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: {}
    batch_as_multipart: true
    metadata:
      include_prefixes: [X-Id]
    batching:
      count: 2
      period: 5s
"#,
        upstream.url("/batch")
    ));
    let (a, b) = tokio::join!(
        post_with(&sluice, "/post", "one", &[("X-Id", "1")]),
        post_with(&sluice, "/post", "two", &[("X-Id", "2")])
    );
    assert_eq!((a.status, b.status), (200, 200));
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let parts = request_parts(&seen[0].header("content-type"), &seen[0].text());
    let mut parts: Vec<(&str, &str)> = parts
        .iter()
        .map(|(h, b)| (h.as_str(), b.as_str()))
        .collect();
    parts.sort_unstable_by_key(|(_, b)| *b);
    // Each part carries its type and the filtered metadata of its message.
    assert_eq!(
        parts,
        [
            ("Content-Type: application/octet-stream\r\nX-Id: 1", "one"),
            ("Content-Type: application/octet-stream\r\nX-Id: 2", "two"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_batch_as_multipart_each_message_is_its_own_request() {
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: {}
    batching:
      count: 2
      period: 5s
"#,
        upstream.url("/each")
    ));
    let (a, b) = tokio::join!(post(&sluice, "/post", "one"), post(&sluice, "/post", "two"));
    assert_eq!((a.status, b.status), (200, 200));
    let mut bodies: Vec<String> = upstream.seen().iter().map(|s| s.text()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_retries_a_failing_downstream_until_the_caller_times_out() {
    // Spec 5, first test: 408 after `timeout`, and the downstream keeps
    // receiving the request at growing intervals.
    let upstream = Upstream::always(Reply::new(500, "down")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
    timeout: 1s
output:
  broker:
    pattern: fan_out
    outputs:
      - http_client:
          url: {}
          retries: 0
          propagate_response: true
      - sync_response: {{}}
"#,
        upstream.url("/x")
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 408);
    assert!(
        answer.elapsed >= Duration::from_millis(950)
            && answer.elapsed < Duration::from_millis(2500),
        "{:?}",
        answer.elapsed
    );
    // 0.5s growing by 1.5x with +/-50% jitter: the 4th wait (>= 0.84s) is
    // always longer than the first (<= 0.75s), and none exceeds the 3s cap.
    let seen = upstream.wait_for(5, Duration::from_secs(10)).await;
    assert!(seen.len() >= 5, "only {} requests", seen.len());
    let gaps = gaps(&seen[..5]);
    assert!(
        gaps[0] >= Duration::from_millis(200) && gaps[0] <= Duration::from_millis(800),
        "{gaps:?}"
    );
    assert!(gaps[3] > gaps[0], "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g <= Duration::from_millis(3600)),
        "{gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_fail_fast_answers_502_at_once() {
    // Spec 5, second test.
    let upstream = Upstream::always(Reply::new(500, "down")).await;
    let url = upstream.url("/x");
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  broker:
    pattern: fan_out_fail_fast
    outputs:
      - http_client:
          url: {url}
          retries: 0
          propagate_response: true
      - sync_response: {{}}
"#
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.body,
        format!(
            "{url}: HTTP request returned unexpected response code (500): 500 Internal Server Error, Error: down\n"
        )
    );
    assert!(
        answer.elapsed < Duration::from_millis(500),
        "{:?}",
        answer.elapsed
    );
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagated_response_and_sync_response_give_a_multipart_reply() {
    // Edge case 13.4 with propagate_response: the downstream answer and the
    // sync_response copy are both returned.
    let upstream = Upstream::always(Reply::ok("from downstream")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  broker:
    pattern: fan_out_sequential
    outputs:
      - http_client:
          url: {}
          propagate_response: true
      - sync_response: {{}}
"#,
        upstream.url("/x")
    ));
    let answer = post(&sluice, "/post", "request").await;
    assert_eq!(answer.status, 200);
    let parts = multipart_parts(answer.header("content-type"), &answer.body);
    let bodies: Vec<&str> = parts.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(bodies, ["from downstream", "request"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_propagate_response_the_caller_gets_an_empty_200() {
    let upstream = Upstream::always(Reply::ok("ignored")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: {}
"#,
        upstream.url("/x")
    ));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_the_downstream_are_reused() {
    // Keep-alive: sequential requests share one upstream connection.
    let upstream = Upstream::start(|seen, _| Reply::ok(seen.text())).await;
    let sluice = Sluice::start(&proxy_config(&upstream.url("/x"), "", ""));
    for i in 0..5 {
        let answer = post(&sluice, "/post", &i.to_string()).await;
        assert_eq!((answer.status, answer.body), (200, i.to_string()));
    }
    assert_eq!(upstream.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_output_beside_http_client_sees_every_request() {
    // The fan_out seed with several callers: each gets its own downstream
    // answer and the file gets every request.
    let upstream = Upstream::start(|seen, _| Reply::ok(format!("echo {}", seen.text()))).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  broker:
    pattern: fan_out
    outputs:
      - file:
          path: "{{dir}}/foo_topic.txt"
      - http_client:
          url: {}
          verb: POST
          propagate_response: true
"#,
        upstream.url("/post")
    ));
    let answers = futures::future::join_all((0..8).map(|i| {
        let sluice = &sluice;
        async move { (i, post(sluice, "/post", &format!("m{i}")).await) }
    }))
    .await;
    for (i, answer) in answers {
        assert_eq!((answer.status, answer.body), (200, format!("echo m{i}")));
    }
    let mut lines = read_lines(&sluice.dir.join("foo_topic.txt"), 8, Duration::from_secs(5));
    lines.sort();
    assert_eq!(lines, (0..8).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_response_body_is_a_failure_not_an_empty_success() {
    // The downstream promises 100 bytes, sends 7 and closes.
    let (addr, count, task) = crate::upstream::raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\npartial",
    )
    .await;
    let url = format!("http://{addr}/x");
    let sluice = Sluice::start(&proxy_config(&url, "retries: 1", ""));
    let answer = post(&sluice, "/post", "x").await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.starts_with(&format!("{url}: ")),
        "{}",
        answer.body
    );
    // Read failures are retried like other transport errors.
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_as_multipart_response_parts_go_back_to_their_own_callers() {
    // The downstream answers a multipart request with a multipart response,
    // part i for request part i: each caller gets the part of its message.
    let upstream = Upstream::start(|seen, _| {
        let upper: Vec<String> = request_parts(&seen.header("content-type"), &seen.text())
            .into_iter()
            .map(|(_, body)| body.to_uppercase())
            .collect();
        let parts: Vec<&str> = upper.iter().map(String::as_str).collect();
        Reply::multipart(&parts)
    })
    .await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: {}
    batch_as_multipart: true
    propagate_response: true
    batching:
      count: 2
      period: 5s
"#,
        upstream.url("/batch")
    ));
    let (a, b) = tokio::join!(post(&sluice, "/post", "one"), post(&sluice, "/post", "two"));
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!((a.status, a.body.as_str()), (200, "ONE"));
    assert_eq!((b.status, b.body.as_str()), (200, "TWO"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_as_multipart_interpolates_an_exact_content_type_per_part() {
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
output:
  http_client:
    url: {}
    batch_as_multipart: true
    headers:
      Content-Type: text/${{! content() }}
    batching:
      count: 2
      period: 5s
"#,
        upstream.url("/batch")
    ));
    let (a, b) = tokio::join!(post(&sluice, "/post", "one"), post(&sluice, "/post", "two"));
    assert_eq!((a.status, b.status), (200, 200));
    let seen = upstream.seen();
    // The request itself is always multipart/form-data.
    let mut parts = request_parts(&seen[0].header("content-type"), &seen[0].text());
    parts.sort_unstable_by(|x, y| x.1.cmp(&y.1));
    let heads: Vec<&str> = parts.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(heads, ["Content-Type: text/one", "Content-Type: text/two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_multipart_parts_are_interpolated() {
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/form"),
        r#"multipart:
  - content_type: application/json
    content_disposition: 'form-data; name="doc"'
    body: '{"doc":${! content().string().quote() }}'
  - content_type: text/plain
    content_disposition: 'form-data; name="id"; filename="${! json("id") }.txt"'
    body: ${! json("id") }"#,
        "",
    ));
    let answer = post(&sluice, "/post", r#"{"id":"a1"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let seen = upstream.seen();
    let parts = request_parts(&seen[0].header("content-type"), &seen[0].text());
    assert_eq!(
        parts,
        [
            (
                "Content-Disposition: form-data; name=\"doc\"\r\nContent-Type: application/json"
                    .to_owned(),
                r#"{"doc":"{\"id\":\"a1\"}"}"#.to_owned()
            ),
            (
                "Content-Disposition: form-data; name=\"id\"; filename=\"a1.txt\"\r\nContent-Type: text/plain"
                    .to_owned(),
                "a1".to_owned()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_request_log_level_logs_requests_and_responses() {
    let upstream = Upstream::always(Reply::ok("dumped answer").header("X-Up", "1")).await;
    let sluice = Sluice::start(&proxy_config(
        &upstream.url("/dump"),
        "dump_request_log_level: INFO\nheaders:\n  X-Mine: yes",
        "",
    ));
    let answer = post(&sluice, "/post", "dumped request").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "dumped answer")
    );
    assert!(
        sluice.wait_for_log("dumped answer", Duration::from_secs(20)),
        "{}",
        sluice.logs()
    );
    let logs = sluice.logs();
    assert!(
        logs.contains(&format!("POST {} HTTP/1.1", upstream.url("/dump"))),
        "{logs}"
    );
    assert!(logs.contains("x-mine: yes"), "{logs}");
    assert!(logs.contains("dumped request"), "{logs}");
    assert!(logs.contains("HTTP/1.1 200 OK"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_forwarding_config_passes_status_and_headers_through() {
    let upstream = Upstream::always(
        Reply::new(201, r#"{"id":7}"#)
            .header("Content-Type", "application/json")
            .header("X-Request-Id", "r-1")
            .header("Server", "upstream"),
    )
    .await;
    // The README's "Proxying" config, with the URL of the local upstream.
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${{! @http_status_code }}'
      metadata_headers:
        include_prefixes: [content-type, x-]
output:
  http_client:
    url: {}
    propagate_response: true
    extract_headers:
      include_prefixes: [content-type, x-]
"#,
        upstream.url("/post")
    ));
    let answer = post_with(
        &sluice,
        "/post",
        "{}",
        &[("Content-Type", "text/plain"), ("X-Caller", "c")],
    )
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (201, r#"{"id":7}"#));
    assert_eq!(answer.header("content-type"), "application/json");
    assert_eq!(answer.header("x-request-id"), "r-1");
    assert!(answer.headers.get("x-caller").is_none());
    assert!(answer.headers.get("server").is_none());
}

/// A downstream that answers before reading a large body (here a 413) and
/// closes: the caller gets that answer, not the reset the rest of the body
/// would earn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_sent_before_the_body_was_read_reaches_the_caller() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let answer = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large";
                stream.write_all(answer).await.unwrap_or_default();
                // Closing with the body unread makes the kernel reset.
            });
        }
    });
    let url = format!("http://{addr}/upload");
    let sluice = Sluice::start(&proxy_config(
        &url,
        "retries: 0\nsuccessful_on: [ 413 ]",
        "sync_response:\n  status: ${! @http_status_code }",
    ));
    let body = vec![b'x'; 32 << 20];
    for _ in 0..3 {
        let res = client()
            .post(sluice.url("/post"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(
            (status, text.as_str()),
            (413, "too large"),
            "{}",
            sluice.logs()
        );
    }
    server.abort();
}
