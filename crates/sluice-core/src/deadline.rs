//! A request's deadline, carried with its messages (opt-in with
//! `http_server.propagate_deadline` or `deadline_header`): once the caller
//! was answered 408 or went away, nothing more is started for it. Retries
//! and backoffs stop, and queued writes are dropped with a log line and the
//! `output_abandoned` metric.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::message::Message;

/// When the caller stops waiting, and whether it already has. Clones share
/// the state: abandoning one abandons every message of the request.
#[derive(Clone, Debug)]
pub struct Deadline(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    at: Instant,
    abandoned: CancellationToken,
}

impl Deadline {
    /// A deadline at `at`.
    pub fn new(at: Instant) -> Self {
        Self(Arc::new(Inner {
            at,
            abandoned: CancellationToken::new(),
        }))
    }

    /// When the caller stops waiting.
    pub fn at(&self) -> Instant {
        self.0.at
    }

    /// The time left; zero once past or abandoned.
    pub fn remaining(&self) -> Duration {
        if self.0.abandoned.is_cancelled() {
            return Duration::ZERO;
        }
        self.0.at.saturating_duration_since(Instant::now())
    }

    /// Marks the caller as gone (answered 408, or disconnected).
    pub fn abandon(&self) {
        self.0.abandoned.cancel();
    }

    /// Whether work for this request is pointless now.
    pub fn is_abandoned(&self) -> bool {
        self.0.abandoned.is_cancelled() || Instant::now() >= self.0.at
    }

    /// Resolves when the caller is gone or the deadline passes.
    pub async fn abandoned(&self) {
        tokio::select! {
            () = self.0.abandoned.cancelled() => {}
            () = tokio::time::sleep_until(self.0.at) => {}
        }
    }
}

/// Whether every caller of `batch` is gone: a batch that merged several
/// requests is written while any one of them still waits, and a message
/// without a deadline always counts as waited for.
pub fn batch_abandoned(batch: &[Message]) -> bool {
    !batch.is_empty()
        && batch
            .iter()
            .all(|m| m.deadline().is_some_and(Deadline::is_abandoned))
}

/// The latest deadline among `batch`'s messages when every one has one:
/// the time a write for them all is worth trying until.
pub fn batch_deadline(batch: &[Message]) -> Option<Deadline> {
    let mut latest: Option<&Deadline> = None;
    for msg in batch.iter() {
        let deadline = msg.deadline()?;
        if latest.is_none_or(|l| deadline.at() > l.at()) {
            latest = Some(deadline);
        }
    }
    latest.cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Batch, MessageContext};

    fn msg(deadline: Option<&Deadline>) -> Message {
        let mut m = Message::new("x");
        let mut context = MessageContext::default();
        if let Some(d) = deadline {
            context = context.with_deadline(d.clone());
        }
        m.set_context(context);
        m
    }

    #[tokio::test]
    async fn a_batch_is_abandoned_only_when_every_caller_is_gone() {
        let far = Instant::now() + Duration::from_secs(60);
        let (a, b) = (Deadline::new(far), Deadline::new(far));
        let batch = Batch::new(vec![msg(Some(&a)), msg(Some(&b))]);
        assert!(!batch_abandoned(&batch));
        a.abandon();
        assert!(!batch_abandoned(&batch), "b still waits");
        b.abandon();
        assert!(batch_abandoned(&batch));
        assert!(!batch_abandoned(&Batch::new(vec![msg(None)])));
        assert_eq!(a.remaining(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_passed_deadline_counts_as_abandoned() {
        let d = Deadline::new(Instant::now() + Duration::from_millis(10));
        assert!(!d.is_abandoned());
        d.abandoned().await;
        assert!(d.is_abandoned());
    }
}
