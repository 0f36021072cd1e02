//! Steady HTTP load for the fault and soak tests: callers posting unique
//! bodies in a loop, each answer recorded with its timing, so that a test
//! can tell which answers fell inside a fault and whether each 200 carried
//! the answer to its own request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::brokers::eventually;

/// One request of the load and what came back.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    /// The body posted.
    pub(crate) sent_body: String,
    /// The status, or 0 when no answer came (a reset, a timeout).
    pub(crate) status: u16,
    /// The answer's body, or the client's error.
    pub(crate) body: String,
    pub(crate) sent: Instant,
    pub(crate) answered: Instant,
}

/// Callers posting to one URL until the load is finished.
pub(crate) struct Load {
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `callers` callers posting to `url`; `body(caller, n)` is the n-th body
    /// of a caller, unique across the load.
    pub(crate) fn start(url: String, callers: usize, body: fn(usize, usize) -> String) -> Load {
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
                        let sent_body = body(caller, n);
                        let sent = Instant::now();
                        let (status, body) =
                            match client.post(&url).body(sent_body.clone()).send().await {
                                Ok(res) => {
                                    let status = res.status().as_u16();
                                    (status, res.text().await.unwrap_or_default())
                                }
                                Err(e) => (0, e.to_string()),
                            };
                        answers.lock().unwrap().push(Answer {
                            sent_body,
                            status,
                            body,
                            sent,
                            answered: Instant::now(),
                        });
                        if status != 200 {
                            // Do not spin on fast failures.
                            tokio::time::sleep(Duration::from_millis(20)).await;
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

    /// How many answers so far satisfy `f`.
    pub(crate) fn count(&self, f: impl Fn(&Answer) -> bool) -> usize {
        self.answers.lock().unwrap().iter().filter(|a| f(a)).count()
    }

    /// Waits until `n` answers satisfy `f`, failing the test with `what`
    /// and the statuses seen after `timeout`.
    pub(crate) async fn wait(
        &self,
        what: &str,
        n: usize,
        timeout: Duration,
        f: impl Fn(&Answer) -> bool,
    ) {
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

    /// Stops the callers once their requests under way are answered, and
    /// gives every answer.
    pub(crate) async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(self.answers).unwrap().into_inner().unwrap()
    }
}
