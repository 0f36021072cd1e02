//! Requests that try to make a mapping exhaust the server: values that
//! multiply in size, work that does not end, recursion, nesting, overflow.
//! Each must fail that one message with a clear error while the process
//! stays up, small, and answers everyone else.

use std::io::Write as _;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::support::{Sluice, client, post};

/// A stream that answers 422 for a message whose mapping failed and 200
/// otherwise; `this.kind` picks the hostile expression.
const AMPLIFIERS: &str = r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${! if errored() { 422 } else { 200 } }'
pipeline:
  processors:
    - mapping: |
        map loop {
          root = this.apply("loop")
        }
        root = match {
          this.kind == "repeat" => this.s.repeat(this.n)
          this.kind == "range" => range(0, this.n).length()
          this.kind == "doubling" => range(0, this.n).fold("a", t -> t.tally + t.tally).length()
          this.kind == "nested" => range(0, this.n).fold([], t -> [t.tally, t.tally]).length()
          this.kind == "runaway" => range(0, 1000000).map_each(x -> range(0, 1000000).fold(0, t -> t.tally + 1)).length()
          this.kind == "recursion" => this.apply("loop")
          this.kind == "bomb" => this.z.decode("base64").decompress("gzip").length()
          this.kind == "format" => this.f.format(1.5)
          this.kind == "sum" => this.a + this.b
          this.kind == "later" => this.t.ts_add_iso8601(this.p)
          this.kind == "deep" => this.deep.string().length()
          this.kind == "list" => range(0, this.n).map_each(i -> "x".repeat(1048576) + i.string()).length()
          this.kind == "indented" => this.deep.format_json().length()
          this.kind == "indented_yaml" => this.deep.format_yaml().length()
          this.kind == "indented_xml" => this.deep.format_xml().length()
          _ => "ok"
        }
output:
  sync_response: {}
"#;

const GIB: u64 = 1 << 30;

/// Posts `body` and returns the status, the answer and how long it took.
async fn timed_post(sluice: &Sluice, body: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let (status, text) = post(sluice, "/post", body).await;
    (status, text, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_amplifiers_fail_the_message_within_a_second_and_memory_stays_small() {
    let mut sluice = Sluice::start(AMPLIFIERS);
    // Sizes checked before allocating fail at once; doubling stops at the
    // limit, after building values up to it (seconds in a debug build).
    let second = Duration::from_secs(1);
    let doubling = Duration::from_secs(20);
    for (body, error, within) in [
        (
            r#"{"kind":"repeat","s":"a","n":1000000000000}"#,
            "repeat would produce 1000000000000 bytes, more than the limit of 67108864 bytes",
            second,
        ),
        (
            r#"{"kind":"range","n":10000000000}"#,
            "range would produce",
            second,
        ),
        (
            r#"{"kind":"doubling","n":60}"#,
            "string concatenation would produce",
            doubling,
        ),
        (
            r#"{"kind":"nested","n":60}"#,
            "would exceed the limit of 67108864 bytes for one value",
            doubling,
        ),
    ] {
        let (status, _, took) = timed_post(&sluice, body).await;
        assert_eq!(status, 422, "{body}");
        assert!(took < within, "{body} took {took:?}");
        assert!(
            sluice.wait_for_log(error, Duration::from_secs(5)),
            "no log line {error:?}: {}",
            sluice.logs()
        );
    }
    let (status, answer) = post(&sluice, "/post", r#"{"kind":"none"}"#).await;
    assert_eq!((status, answer.as_str()), (200, "ok"));
    assert!(sluice.is_running());
    let peak = sluice.peak_rss_bytes();
    assert!(peak < GIB, "peak RSS {peak} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_values_each_under_the_value_limit_stop_at_the_memory_limit() {
    // The limit on what one execution holds, lowered from its 512 MiB
    // default in the config's `bloblang:` section.
    let mut sluice = Sluice::start(&format!(
        "bloblang:\n  max_memory_bytes: 67108864\n{AMPLIFIERS}"
    ));
    // A thousand strings of 1 MiB would hold a GiB, each well under the
    // 64 MiB value limit.
    let (status, _) = post(&sluice, "/post", r#"{"kind":"list","n":1000}"#).await;
    assert_eq!(status, 422);
    assert!(
        sluice.wait_for_log(
            "bytes of memory, more than its limit of 67108864 bytes for one message",
            Duration::from_secs(5)
        ),
        "{}",
        sluice.logs()
    );
    // Ten of them fit, and the memory the failed one held was given back.
    let (status, answer) = post(&sluice, "/post", r#"{"kind":"list","n":10}"#).await;
    assert_eq!((status, answer.as_str()), (200, "10"));
    assert!(sluice.is_running());
    let peak = sluice.peak_rss_bytes();
    assert!(peak < GIB / 4, "peak RSS {peak} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_stopped_at_the_value_limit() {
    let mut sluice = Sluice::start(AMPLIFIERS);
    // 1 GiB of zeros, about a megabyte compressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let (status, _, took) =
        timed_post(&sluice, &format!(r#"{{"kind":"bomb","z":"{bomb}"}}"#)).await;
    assert_eq!(status, 422);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(sluice.wait_for_log(
        "decompress would produce more than the limit of 67108864 bytes",
        Duration::from_secs(5)
    ));
    assert!(sluice.is_running());
    let peak = sluice.peak_rss_bytes();
    assert!(peak < GIB, "peak RSS {peak} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_mapping_is_stopped_while_other_requests_are_answered() {
    let sluice = Sluice::start(AMPLIFIERS);
    let runaway = {
        let url = sluice.url("/post");
        tokio::spawn(async move {
            let started = Instant::now();
            let res = client()
                .post(url)
                .body(r#"{"kind":"runaway"}"#)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), started.elapsed())
        })
    };
    // While it runs, others are answered at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        let (status, answer, took) = timed_post(&sluice, r#"{"kind":"none"}"#).await;
        assert_eq!((status, answer.as_str()), (200, "ok"));
        assert!(
            took < Duration::from_secs(2),
            "a normal request took {took:?}"
        );
    }
    let (status, took) = runaway.await.unwrap();
    assert_eq!(status, 422);
    assert!(took < Duration::from_secs(30), "the runaway ran {took:?}");
    assert!(sluice.wait_for_log(
        "the mapping exceeded its limit of 25000000 evaluation steps for one message",
        Duration::from_secs(5)
    ));
}

#[tokio::test]
async fn recursion_and_deep_nesting_fail_the_message_not_the_process() {
    let mut sluice = Sluice::start(AMPLIFIERS);
    let (status, _) = post(&sluice, "/post", r#"{"kind":"recursion"}"#).await;
    assert_eq!(status, 422);
    assert!(sluice.wait_for_log(
        "map loop: maps applied more than 1000 deep",
        Duration::from_secs(5)
    ));
    // As deep as Go's JSON decoder allows: parsed, mapped and encoded.
    let nested = |depth: usize| {
        format!(
            r#"{{"kind":"deep","deep":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    let (status, answer) = post(&sluice, "/post", &nested(9_000)).await;
    assert_eq!((status, answer.as_str()), (200, "18000"));
    // Deeper is refused by the parser, as Benthos refuses it.
    let (status, _) = post(&sluice, "/post", &nested(100_000)).await;
    assert_eq!(status, 422);
    assert!(sluice.wait_for_log("exceeded max depth", Duration::from_secs(5)));
    assert!(sluice.is_running());
    let (status, answer) = post(&sluice, "/post", r#"{"kind":"none"}"#).await;
    assert_eq!((status, answer.as_str()), (200, "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indenting_a_deep_document_stops_at_the_value_limit() {
    let mut sluice = Sluice::start(AMPLIFIERS);
    // 9,000 objects deep is about 60 KB; indented, hundreds of megabytes.
    let nested = |kind: &str, depth: usize| {
        format!(
            r#"{{"kind":"{kind}","deep":{}1{}}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        )
    };
    for (kind, method) in [
        ("indented", "format_json"),
        ("indented_yaml", "format_yaml"),
        ("indented_xml", "format_xml"),
    ] {
        let (status, _, took) = timed_post(&sluice, &nested(kind, 9_000)).await;
        assert_eq!(status, 422, "{method}");
        assert!(took < Duration::from_secs(5), "{method} took {took:?}");
        let error = format!(
            "{method} would write more than the limit of 67108864 bytes for one value in indentation alone"
        );
        assert!(
            sluice.wait_for_log(&error, Duration::from_secs(5)),
            "no log line {error:?}: {}",
            sluice.logs()
        );
    }
    // A shallow document is indented as before: `{"a":{"a":1}}` takes five
    // lines and 35 bytes.
    let (status, answer) = post(&sluice, "/post", &nested("indented", 2)).await;
    assert_eq!((status, answer.as_str()), (200, "35"));
    assert!(sluice.is_running());
    let peak = sluice.peak_rss_bytes();
    assert!(peak < GIB, "peak RSS {peak} bytes");
}

#[tokio::test]
async fn huge_format_widths_and_precisions_are_answered() {
    let mut sluice = Sluice::start(AMPLIFIERS);
    // Go's fmt takes a width past a million as no width at all.
    let (status, answer) = post(
        &sluice,
        "/post",
        r#"{"kind":"format","f":"%999999999999999999999999d"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer, "%!(NOVERB)%!(EXTRA float64=1.5)");
    let (status, answer) = post(&sluice, "/post", r#"{"kind":"format","f":"%.99999f"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(answer.len(), "1.".len() + 99_999);
    assert!(answer.starts_with("1.5000"));
    assert!(sluice.is_running());
}

#[tokio::test]
async fn integer_overflow_and_out_of_range_times_are_errors() {
    let mut sluice = Sluice::start(AMPLIFIERS);
    let (status, answer) = post(&sluice, "/post", r#"{"kind":"sum","a":40,"b":2}"#).await;
    assert_eq!((status, answer.as_str()), (200, "42"));
    let (status, _) = post(
        &sluice,
        "/post",
        r#"{"kind":"sum","a":9223372036854775807,"b":1}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert!(sluice.wait_for_log(
        "cannot add 9223372036854775807 (from field `this.a`) and 1 (from field `this.b`): integer overflow",
        Duration::from_secs(5)
    ));
    let (status, answer) = post(
        &sluice,
        "/post",
        r#"{"kind":"later","t":"2020-01-01T00:00:00Z","p":"P1DT2H"}"#,
    )
    .await;
    assert_eq!((status, answer.as_str()), (200, "\"2020-01-02T02:00:00Z\""));
    // A period that reads but leaves the representable range, and periods
    // whose numbers do not fit the period package's fields (as its errors say).
    for (period, error) in [
        (
            "P9999999999Y",
            "timestamp out of range after adding duration P9999999999Y",
        ),
        (
            "PT99999999999999999999H",
            "PT99999999999999999999H: number invalid or out of range",
        ),
        (
            "P99999999999999999999D",
            "P99999999999999999999D: number invalid or out of range",
        ),
    ] {
        let (status, _) = post(
            &sluice,
            "/post",
            &format!(r#"{{"kind":"later","t":"2020-01-01T00:00:00Z","p":"{period}"}}"#),
        )
        .await;
        assert_eq!(status, 422, "{period}");
        assert!(
            sluice.wait_for_log(error, Duration::from_secs(5)),
            "{period}: {}",
            sluice.logs()
        );
    }
    assert!(sluice.is_running());
}
