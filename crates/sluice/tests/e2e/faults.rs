//! Broker outages while HTTP callers wait for "the record is stored"
//! answers. Each test runs a broker of its own on another port (started and
//! stopped through the scripts in `SLUICE_SERVICES_SCRIPTS`, its data kept
//! across the restart), so other tests never see the outage.
//!
//! What must hold: no caller gets a 200 for a record that is not in the
//! topic (queue) once the broker is back; callers get 408/502 while it is
//! down, and 200 again once it is back, without restarting sluice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::ExchangeKind;
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};

use crate::brokers::{
    DedicatedBroker, amqp_channel, blocking, consume_until, create_topic, eventually, unique,
};
use crate::support::Sluice;

#[derive(Clone, Debug)]
struct Answer {
    body: String,
    status: u16,
    sent: Instant,
    answered: Instant,
}

/// Callers sending unique bodies in a loop until stopped.
struct Load {
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(url: String, callers: usize) -> Load {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let tasks = (0..callers)
            .map(|caller| {
                let (answers, stop, client, url) = (
                    Arc::clone(&answers),
                    Arc::clone(&stop),
                    client.clone(),
                    url.clone(),
                );
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let body = format!("caller-{caller}-{n}");
                        let sent = Instant::now();
                        let status = match client.post(&url).body(body.clone()).send().await {
                            Ok(res) => res.status().as_u16(),
                            Err(_) => 0,
                        };
                        answers.lock().unwrap().push(Answer {
                            body,
                            status,
                            sent,
                            answered: Instant::now(),
                        });
                        if status != 200 {
                            // Do not spin on fast failures.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Load {
            answers,
            stop,
            tasks,
        }
    }

    fn count(&self, f: impl Fn(&Answer) -> bool) -> usize {
        self.answers.lock().unwrap().iter().filter(|a| f(a)).count()
    }

    async fn wait(&self, what: &str, n: usize, timeout: Duration, f: impl Fn(&Answer) -> bool) {
        assert!(
            eventually(timeout, || self.count(&f) >= n).await,
            "waited {timeout:?} for {n} answers: {what}; statuses so far: {:?}",
            self.statuses()
        );
    }

    fn statuses(&self) -> Vec<u16> {
        self.answers
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.status)
            .collect()
    }

    async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(self.answers).unwrap().into_inner().unwrap()
    }
}

/// Runs the outage: load, stop the broker, wait for failures, start it
/// again, wait for successes. Returns the answers with the outage window
/// (stopped .. restart begun).
async fn outage(sluice: &Sluice, broker: &DedicatedBroker) -> (Vec<Answer>, Instant, Instant) {
    let load = Load::start(sluice.url("/post"), 8);
    load.wait("200 before the outage", 20, Duration::from_secs(30), |a| {
        a.status == 200
    })
    .await;
    blocking_stop(broker).await;
    let down = Instant::now();
    load.wait(
        "failures while the broker is down",
        5,
        Duration::from_secs(30),
        |a| a.sent > down && a.status != 200,
    )
    .await;
    let restart = Instant::now();
    blocking_restart(broker).await;
    let up = Instant::now();
    load.wait(
        "200 once the broker is back",
        20,
        Duration::from_secs(60),
        |a| a.sent > up && a.status == 200,
    )
    .await;
    (load.finish().await, down, restart)
}

async fn blocking_stop(broker: &DedicatedBroker) {
    tokio::task::block_in_place(|| broker.stop());
}

async fn blocking_restart(broker: &DedicatedBroker) {
    tokio::task::block_in_place(|| broker.restart());
}

fn check_outage(answers: &[Answer], down: Instant, restart: Instant, logs: &str) {
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent > down && a.answered < restart)
        .collect();
    let ok_during: Vec<&&Answer> = during.iter().filter(|a| a.status == 200).collect();
    assert!(
        ok_during.is_empty(),
        "200 while the broker was down: {ok_during:?}"
    );
    let odd: HashSet<u16> = during
        .iter()
        .map(|a| a.status)
        .filter(|s| ![408, 502].contains(s))
        .collect();
    assert!(
        odd.is_empty(),
        "unexpected statuses while down: {odd:?}\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_outage_never_answers_200_for_a_lost_record() {
    let broker = tokio::task::block_in_place(|| DedicatedBroker::kafka(9094));
    let topic = unique("outage");
    create_topic(&broker.addr, &topic, 1).await;
    let sluice = Sluice::start(&format!(
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
      - sync_response: {{}}
"#,
        addr = broker.addr
    ));
    let (answers, down, restart) = outage(&sluice, &broker).await;
    check_outage(&answers, down, restart, &sluice.logs());
    // Every 200 is in the topic.
    let wanted: HashSet<String> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.body.clone())
        .collect();
    let (addr, t, w) = (broker.addr.clone(), topic.clone(), wanted.clone());
    let records = blocking(move || {
        consume_until(&addr, &t, Duration::from_secs(30), |rs| {
            let got: HashSet<&str> = rs.iter().map(|r| r.value.as_str()).collect();
            w.iter().all(|b| got.contains(b.as_str()))
        })
    })
    .await;
    let got: HashSet<String> = records.into_iter().map(|r| r.value).collect();
    let missing: Vec<&String> = wanted.iter().filter(|b| !got.contains(*b)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered 200 but are not in the topic: {missing:?}",
        missing.len(),
        wanted.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_outage_never_answers_200_for_a_lost_message() {
    let broker = tokio::task::block_in_place(|| DedicatedBroker::rabbitmq(5673));
    let (exchange, queue) = (unique("x-outage"), unique("outage"));
    {
        let (_conn, channel) = amqp_channel(&broker.addr).await;
        channel
            .exchange_declare(
                ShortString::from(exchange.as_str()),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_declare(
                ShortString::from(queue.as_str()),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                ShortString::from(queue.as_str()),
                ShortString::from(exchange.as_str()),
                ShortString::from("k"),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
    timeout: 2s
output:
  broker:
    pattern: fan_out
    outputs:
      - amqp_0_9:
          urls: [ "{url}" ]
          exchange: "{exchange}"
          key: k
          persistent: true
          mandatory: true
      - sync_response: {{}}
"#,
        url = broker.addr
    ));
    let (answers, down, restart) = outage(&sluice, &broker).await;
    check_outage(&answers, down, restart, &sluice.logs());
    let wanted: HashSet<String> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.body.clone())
        .collect();
    // Drain the queue (durable, persistent messages: they survived).
    let (_conn, channel) = amqp_channel(&broker.addr).await;
    let mut got = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !wanted.iter().all(|b| got.contains(b)) && Instant::now() < deadline {
        match channel
            .basic_get(
                ShortString::from(queue.as_str()),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            Some(msg) => {
                got.insert(String::from_utf8_lossy(&msg.delivery.data).into_owned());
            }
            None => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    let missing: Vec<&String> = wanted.iter().filter(|b| !got.contains(*b)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered 200 but are not in the queue: {missing:?}",
        missing.len(),
        wanted.len()
    );
}
