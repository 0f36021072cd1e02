//! The retries of one write, shared by outputs that retry by themselves
//! (`retry`, `kafka`): a bounded count, a bounded time, backoff between
//! attempts, and no further attempt once every caller of the messages still
//! to be written has gone.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

use crate::deadline::{batch_abandoned, batch_deadline};
use crate::message::Message;
use crate::runtime::backoff::Backoff;

/// How a failed write is retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// The most retries; 0 retries without limit.
    pub max_retries: u64,
    /// The waits between attempts.
    pub backoff: Backoff,
    /// How long retries may go on in all; `None` is no limit.
    pub max_elapsed: Option<Duration>,
}

/// The retry state of one write, from its first attempt.
pub struct Retries {
    policy: RetryPolicy,
    started: Instant,
    retries: u64,
    /// The warning logged before each retry.
    announcement: &'static str,
}

impl Retries {
    /// Starts counting now, before the first attempt.
    pub fn start(policy: &RetryPolicy) -> Self {
        Self {
            policy: policy.clone(),
            started: Instant::now(),
            retries: 0,
            announcement: "Output failed, retrying.",
        }
    }

    /// Logs `announcement` before each retry instead of the default, for an
    /// output whose retries users know by another line.
    pub fn announcing(mut self, announcement: &'static str) -> Self {
        self.announcement = announcement;
        self
    }

    /// How many retries were made so far.
    pub fn made(&self) -> u64 {
        self.retries
    }

    /// Called after a failed attempt for the messages of `pending`: waits
    /// the backoff and returns whether another attempt is worth making.
    /// It is not when the retries or the time are spent, or when every
    /// caller of `pending` has stopped waiting (then the wait ends early).
    /// A batch that merged requests with a caller still waiting goes on.
    pub async fn again(&mut self, pending: &[Message], err: &(dyn Display + Sync)) -> bool {
        let out_of_time = self
            .policy
            .max_elapsed
            .is_some_and(|limit| self.started.elapsed() >= limit);
        let out_of_retries = self.policy.max_retries > 0 && self.retries >= self.policy.max_retries;
        if out_of_time || out_of_retries {
            return false;
        }
        if batch_abandoned(pending) {
            self.stopped_for_callers();
            return false;
        }
        self.retries += 1;
        tracing::warn!(error = %err, attempt = self.retries, "{}", self.announcement);
        let wait = tokio::time::sleep(self.policy.backoff.next_wait());
        tokio::pin!(wait);
        if let Some(deadline) = batch_deadline(pending) {
            tokio::select! {
                () = &mut wait => {}
                () = deadline.abandoned() => {
                    if batch_abandoned(pending) {
                        self.stopped_for_callers();
                        return false;
                    }
                    wait.await;
                }
            }
        } else {
            wait.await;
        }
        if batch_abandoned(pending) {
            self.stopped_for_callers();
            return false;
        }
        true
    }

    fn stopped_for_callers(&self) {
        tracing::warn!(
            attempts = self.retries + 1,
            "Caller stopped waiting, retries of the write stopped."
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::deadline::Deadline;
    use crate::message::{Message, MessageContext};

    fn policy(max_retries: u64, max_elapsed: Option<Duration>) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(10)),
            max_elapsed,
        }
    }

    fn with_deadline(deadline: &Deadline) -> Message {
        let mut msg = Message::new("x");
        msg.set_context(MessageContext::default().with_deadline(deadline.clone()));
        msg
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_retries() {
        let mut retries = Retries::start(&policy(2, None));
        let msgs = vec![Message::new("x")];
        assert!(retries.again(&msgs, &"boom").await);
        assert!(retries.again(&msgs, &"boom").await);
        assert!(!retries.again(&msgs, &"boom").await);
        assert_eq!(retries.made(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_elapsed() {
        let mut retries = Retries::start(&policy(0, Some(Duration::from_millis(25))));
        let msgs = vec![Message::new("x")];
        let mut made = 0;
        while retries.again(&msgs, &"boom").await {
            made += 1;
            assert!(made < 10, "max_elapsed ignored");
        }
        assert_eq!(made, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_leaving_during_the_wait_ends_it() {
        let deadline = Deadline::new(Instant::now() + Duration::from_secs(60));
        let mut retries = Retries::start(&RetryPolicy {
            max_retries: 0,
            backoff: Backoff::new(Duration::from_secs(30), Duration::from_secs(30)),
            max_elapsed: None,
        });
        let msgs = vec![with_deadline(&deadline)];
        let leave = deadline.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            leave.abandon();
        });
        let started = Instant::now();
        assert!(!retries.again(&msgs, &"boom").await);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_merged_batch_goes_on_while_one_caller_waits() {
        let gone = Deadline::new(Instant::now() + Duration::from_secs(60));
        gone.abandon();
        let waiting = Deadline::new(Instant::now() + Duration::from_secs(60));
        let msgs = vec![with_deadline(&gone), with_deadline(&waiting)];
        let mut retries = Retries::start(&policy(0, None));
        assert!(retries.again(&msgs, &"boom").await);
        waiting.abandon();
        assert!(!retries.again(&msgs, &"boom").await);
    }
}
