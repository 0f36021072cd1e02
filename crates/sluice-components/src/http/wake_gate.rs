//! A future that is polled only after it has woken its task.
//!
//! A connection's task is polled several times per request, and each time
//! it would also ask the shutdown signal it waits on, which takes a lock.
//! Behind this gate the signal is asked again only once it has woken the
//! task, which is once, at shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::{ArcWake, AtomicWaker, waker_ref};

/// Wraps `F` so that polling it does nothing until `F` asked to be woken.
pub(crate) struct WakeGate<F> {
    inner: Pin<Box<F>>,
    flag: Arc<Flag>,
}

struct Flag {
    // Whether the inner future woke since it was last polled.
    woken: AtomicBool,
    // The task polling the gate.
    task: AtomicWaker,
}

impl ArcWake for Flag {
    fn wake_by_ref(flag: &Arc<Self>) {
        flag.woken.store(true, Ordering::Release);
        flag.task.wake();
    }
}

impl<F: Future> WakeGate<F> {
    /// A gate whose first poll polls `inner`.
    pub(crate) fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
            flag: Arc::new(Flag {
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }
}

impl<F: Future> Future for WakeGate<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Registered before the flag is read, so a wake between the two is
        // seen now or wakes the task again.
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = waker_ref(&this.flag);
        this.inner.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn completes_when_the_inner_future_wakes_it() {
        let token = CancellationToken::new();
        let mut gate = WakeGate::new(token.clone().cancelled_owned());
        // Pending, and polling again without a wake stays pending.
        for _ in 0..3 {
            assert!(futures::poll!(&mut gate).is_pending());
        }
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            canceller.cancel();
        });
        tokio::time::timeout(Duration::from_secs(5), gate)
            .await
            .expect("the gate completes once the token is cancelled");
    }

    #[tokio::test]
    async fn an_already_finished_future_completes_on_the_first_poll() {
        let token = CancellationToken::new();
        token.cancel();
        let gate = WakeGate::new(token.cancelled_owned());
        assert!(futures::poll!(gate).is_ready());
    }
}
