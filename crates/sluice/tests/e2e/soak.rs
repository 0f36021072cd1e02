//! A soak under faults: one sluice serves three streams at once (the weather
//! responder, a `fan_out` to Kafka + `sync_response`, and a proxy through
//! `http_client` with `propagate_response`) under steady load, while its
//! Kafka broker is stopped and started again and the proxy's downstream
//! flaps (it drops every connection it is sent while "down").
//!
//! What must hold at the end: every 200 carries the answer to its own
//! request (nothing misrouted), every fan_out 200 is in the topic, every
//! other status falls inside a fault window (plus a grace for reconnects),
//! resident memory reaches a plateau and no file descriptor is leaked.
//!
//! The suite runs it for `SLUICE_SOAK_SECONDS` (default 20);
//! `scripts/soak.sh SECONDS` runs the long version and prints the figures.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::brokers::{DedicatedBroker, blocking, consume_until, create_topic, eventually, unique};
use crate::load::{Answer, Load};
use crate::support::Sluice;
use crate::upstream::{Reply, Upstream};

/// When a fault began, and ended if it has.
type Window = (Instant, Option<Instant>);

/// Periods during which a fault was on.
#[derive(Clone, Default)]
struct Windows(Arc<Mutex<Vec<Window>>>);

impl Windows {
    fn begin(&self) {
        self.0.lock().unwrap().push((Instant::now(), None));
    }

    fn end(&self) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.1 = Some(Instant::now());
        }
    }

    /// Whether a request in flight from `sent` to `answered` overlapped a
    /// window, counting `grace` after each window's end.
    fn overlaps(&self, sent: Instant, answered: Instant, grace: Duration) -> bool {
        self.0.lock().unwrap().iter().any(|(from, to)| {
            let to = to.map_or(answered, |t| t + grace);
            sent <= to && answered >= *from
        })
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn statuses(answers: &[Answer]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for a in answers {
        *counts.entry(a.status).or_insert(0) += 1;
    }
    counts
}

/// The answers that are neither a correct 200 nor explained by a fault.
fn unexplained<'a>(
    answers: &'a [Answer],
    expected_body: impl Fn(&str) -> String,
    allowed: &[u16],
    windows: Option<(&Windows, Duration)>,
) -> Vec<&'a Answer> {
    answers
        .iter()
        .filter(|a| {
            if a.status == 200 {
                return a.body != expected_body(&a.sent_body);
            }
            let in_window = windows.is_some_and(|(w, grace)| w.overlaps(a.sent, a.answered, grace));
            !(allowed.contains(&a.status) && in_window)
        })
        .collect()
}

fn soak_duration() -> Duration {
    let seconds = std::env::var("SLUICE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_under_broker_and_downstream_faults() {
    let duration = soak_duration();
    let broker = tokio::task::block_in_place(DedicatedBroker::kafka);
    let topic = unique("soak");
    create_topic(&broker.addr, &topic, 2).await;
    let downstream_down = Arc::new(AtomicBool::new(false));
    let down = Arc::clone(&downstream_down);
    let downstream = Upstream::start(move |seen, _| {
        if down.load(Ordering::Relaxed) {
            Reply::close()
        } else {
            Reply::ok(format!("echo {}", seen.text()))
        }
    })
    .await;
    let weather = r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: |
        root = {
          city: json("location"),
          forecast: "Clear skies with light winds",
          temperature_c: 22
        }
output:
  sync_response: {}
"#;
    let fan_out = format!(
        r#"
input:
  http_server:
    path: /post
    timeout: 2s
output:
  broker:
    pattern: fan_out
    outputs:
      - kafka:
          addresses: [ "{addr}" ]
          topic: "{topic}"
          timeout: 1s
      - sync_response: {{}}
"#,
        addr = broker.addr
    );
    let proxy = format!(
        r#"
input:
  http_server:
    path: /post
    timeout: 2s
output:
  http_client:
    url: {url}
    verb: POST
    retries: 0
    propagate_response: true
"#,
        url = downstream.url("/echo")
    );
    let sluice = Sluice::start_streams(
        &[
            ("weather.yaml", weather),
            ("fanout.yaml", &fan_out),
            ("proxy.yaml", &proxy),
        ],
        &[],
    );
    let pid = sluice.pid();

    let stop = Arc::new(AtomicBool::new(false));
    let weather_load = Load::start(sluice.url("/weather/post"), 4, |c, n| {
        format!(r#"{{"location":"city-{c}-{n}"}}"#)
    });
    let kafka_load = Load::start(sluice.url("/fanout/post"), 4, |c, n| {
        format!("record-{c}-{n}")
    });
    let proxy_load = Load::start(sluice.url("/proxy/post"), 4, |c, n| {
        format!("proxied-{c}-{n}")
    });

    // Memory and descriptors sampled every 250 ms while the faults run.
    let samples: Arc<Mutex<Vec<(Instant, u64, usize)>>> = Arc::default();
    let sampler = {
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                samples
                    .lock()
                    .unwrap()
                    .push((Instant::now(), rss_kib(pid), open_fds(pid)));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let started = Instant::now();
    let end = started + duration;
    let broker_windows = Windows::default();
    let downstream_windows = Windows::default();
    // The downstream flaps: 3 s up, 1 s dropping connections.
    let flapper = {
        let (windows, down, stop) = (
            downstream_windows.clone(),
            Arc::clone(&downstream_down),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) && Instant::now() + Duration::from_secs(4) < end {
                tokio::time::sleep(Duration::from_secs(3)).await;
                windows.begin();
                down.store(true, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                down.store(false, Ordering::Relaxed);
                windows.end();
            }
        })
    };
    // The broker: 5 s up, stopped for 2 s, started again; the last restart
    // leaves time for the callers to see it back before the end.
    while Instant::now() + Duration::from_secs(12) < end {
        tokio::time::sleep(Duration::from_secs(5)).await;
        broker_windows.begin();
        tokio::task::block_in_place(|| broker.stop());
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| broker.restart());
        broker_windows.end();
    }
    if let Some(wait) = end.checked_duration_since(Instant::now()) {
        tokio::time::sleep(wait).await;
    }
    stop.store(true, Ordering::Relaxed);
    flapper.await.unwrap();
    sampler.await.unwrap();
    let weather_answers = weather_load.finish().await;
    let kafka_answers = kafka_load.finish().await;
    let proxy_answers = proxy_load.finish().await;
    let logs = sluice.logs();
    eprintln!(
        "soak answers: weather {:?}, fan_out {:?}, proxy {:?}",
        statuses(&weather_answers),
        statuses(&kafka_answers),
        statuses(&proxy_answers)
    );

    // Weather: untouched by the faults, every answer a correct 200.
    let weather_bad = unexplained(
        &weather_answers,
        |sent| {
            let city = &sent[r#"{"location":""#.len()..sent.len() - 2];
            format!(
                r#"{{"city":"{city}","forecast":"Clear skies with light winds","temperature_c":22}}"#
            )
        },
        &[],
        None,
    );
    assert!(
        weather_bad.is_empty(),
        "weather answers gone wrong: {:?}",
        &weather_bad[..weather_bad.len().min(5)]
    );
    // Fan-out: 408 (the caller's timeout) or 502 only around an outage;
    // reconnecting after a restart takes librdkafka a few seconds.
    let kafka_bad = unexplained(
        &kafka_answers,
        str::to_owned,
        &[408, 502, 503],
        Some((&broker_windows, Duration::from_secs(10))),
    );
    assert!(
        kafka_bad.is_empty(),
        "{} fan_out answers without a fault to explain them: {:?}\n{logs}",
        kafka_bad.len(),
        &kafka_bad[..kafka_bad.len().min(5)]
    );
    // Proxy: 502 only while the downstream drops connections.
    let proxy_bad = unexplained(
        &proxy_answers,
        |sent| format!("echo {sent}"),
        &[502],
        Some((&downstream_windows, Duration::from_millis(500))),
    );
    assert!(
        proxy_bad.is_empty(),
        "{} proxy answers without a fault to explain them: {:?}\n{logs}",
        proxy_bad.len(),
        &proxy_bad[..proxy_bad.len().min(5)]
    );
    for (what, answers) in [
        ("weather", &weather_answers),
        ("fan_out", &kafka_answers),
        ("proxy", &proxy_answers),
    ] {
        assert!(
            answers.iter().any(|a| a.status == 200),
            "no {what} request was answered 200: {:?}",
            statuses(answers)
        );
    }

    // Every fan_out 200 is in the topic.
    let wanted: HashSet<String> = kafka_answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.sent_body.clone())
        .collect();
    let (addr, t, w) = (broker.addr.clone(), topic.clone(), wanted.clone());
    // Reading back 10^5 records: the check looks only at what is new since
    // its last call.
    let read_for = Duration::from_secs(60) + Duration::from_millis(wanted.len() as u64);
    let records = blocking(move || {
        let remaining = std::cell::RefCell::new(w);
        let checked = std::cell::Cell::new(0);
        consume_until(&addr, &t, read_for, |rs| {
            let mut remaining = remaining.borrow_mut();
            for r in &rs[checked.get()..] {
                remaining.remove(&r.value);
            }
            checked.set(rs.len());
            remaining.is_empty()
        })
    })
    .await;
    let got: HashSet<String> = records.into_iter().map(|r| r.value).collect();
    let missing: Vec<&String> = wanted.iter().filter(|b| !got.contains(*b)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} fan_out answers were 200 but are not in the topic: {:?}\nbroker script:\n{}",
        missing.len(),
        wanted.len(),
        &missing[..missing.len().min(5)],
        broker.script_log()
    );

    // Memory: after the first quarter (warm-up), the peak of the last
    // quarter stays within a quarter (and 8 MiB) of the second quarter's.
    let samples = samples.lock().unwrap().clone();
    let quarter = |q: u32| -> u64 {
        let from = started + duration * q / 4;
        let to = started + duration * (q + 1) / 4;
        samples
            .iter()
            .filter(|(at, _, _)| *at >= from && *at < to)
            .map(|(_, rss, _)| *rss)
            .max()
            .unwrap_or(0)
    };
    let (second, last) = (quarter(1), quarter(3));
    assert!(
        second > 0 && last <= second + second / 4 + 8 * 1024,
        "resident memory kept growing: {second} KiB at the second quarter's peak, {last} KiB at the last"
    );
    // Descriptors: once the callers are gone, back to about what the
    // server held at the start of the load.
    let fds_at_start = samples
        .iter()
        .find(|(at, _, _)| *at >= started + Duration::from_secs(2))
        .map_or(0, |(_, _, fds)| *fds);
    let settled = eventually(Duration::from_secs(15), || {
        open_fds(pid) <= fds_at_start + 8
    })
    .await;
    let fds_at_end = open_fds(pid);
    assert!(
        settled,
        "file descriptors leaked: {fds_at_start} early in the load, {fds_at_end} after it"
    );

    let total = weather_answers.len() + kafka_answers.len() + proxy_answers.len();
    let peak = samples.iter().map(|(_, rss, _)| *rss).max().unwrap_or(0);
    eprintln!(
        "soak: {:?}, {total} requests, {} broker outages, {} downstream flaps\n  \
         weather {:?}\n  fan_out {:?} ({} records checked in the topic)\n  proxy {:?}\n  \
         RSS peak {peak} KiB (second quarter {second} KiB, last quarter {last} KiB), \
         descriptors {fds_at_start} at the start of the load, {fds_at_end} after it",
        duration,
        broker_windows.count(),
        downstream_windows.count(),
        statuses(&weather_answers),
        statuses(&kafka_answers),
        wanted.len(),
        statuses(&proxy_answers),
    );
}
