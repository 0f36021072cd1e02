//! Load shedding for one `http_server` path (`max_in_flight`): a request
//! past the bound, or one that would wait longer than the request timeout,
//! is answered 503 with `Retry-After` at once instead of joining a queue
//! that ends in 408s.
//!
//! The waiting time is estimated with Little's law: a new request waits
//! about (requests in flight + 1) times the mean gap between completions,
//! the gap measured only while the path is busy (an idle spell is no sign
//! of slowness).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_core::metrics::Counter;

pub(super) struct LoadShedder {
    limit: usize,
    timeout: Duration,
    in_flight: AtomicUsize,
    origin: Instant,
    // Nanoseconds since `origin`: the last completion, or the start of the
    // current busy spell when that is later.
    last_mark: AtomicU64,
    // Moving mean of the gap between completions, in nanoseconds.
    mean_gap: AtomicU64,
    shed: Counter,
    // When the last shed was logged (ns since `origin`): one line a second
    // says the path sheds without a line per refused request.
    last_log: AtomicU64,
}

/// A request's place among the in-flight ones; gives it back when dropped.
pub(super) struct Admission<'a>(&'a LoadShedder);

impl LoadShedder {
    pub(super) fn new(limit: usize, timeout: Duration, shed: Counter) -> Self {
        Self {
            limit,
            timeout,
            in_flight: AtomicUsize::new(0),
            origin: Instant::now(),
            last_mark: AtomicU64::new(0),
            mean_gap: AtomicU64::new(0),
            shed,
            last_log: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// How long a request arriving now is expected to wait for its answer.
    pub(super) fn estimated_wait(&self, in_flight: usize) -> Duration {
        let gap = self.mean_gap.load(Ordering::Relaxed);
        Duration::from_nanos(gap.saturating_mul(in_flight as u64 + 1))
    }

    /// Lets the request in, or says after how long to retry.
    pub(super) fn admit(&self) -> Result<Admission<'_>, Duration> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let wait = self.estimated_wait(before);
        if before >= self.limit || (before > 0 && wait > self.timeout) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.shed.incr();
            let now = self.now();
            let last = self.last_log.load(Ordering::Relaxed);
            if (last == 0 || now.saturating_sub(last) >= 1_000_000_000)
                && self
                    .last_log
                    .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    in_flight = before,
                    max_in_flight = self.limit,
                    estimated_wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    shed_total = self.shed.get(),
                    "Shedding load: requests answered 503 at once."
                );
            }
            // At least a second: Retry-After counts whole seconds.
            return Err(wait.max(Duration::from_secs(1)));
        }
        if before == 0 {
            // A busy spell starts: the gap to the next completion is
            // measured from here, not from the last one before the idle.
            self.last_mark.fetch_max(self.now(), Ordering::AcqRel);
        }
        Ok(Admission(self))
    }

    fn complete(&self) {
        let now = self.now();
        let last = self.last_mark.swap(now, Ordering::AcqRel);
        let gap = now.saturating_sub(last);
        let mean = self.mean_gap.load(Ordering::Relaxed);
        // A mean over the last eight or so completions; races between
        // completions only blur it, which an estimate tolerates.
        let next = if mean == 0 {
            gap
        } else {
            mean - mean / 8 + gap / 8
        };
        self.mean_gap.store(next, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.complete();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(limit: usize) -> LoadShedder {
        LoadShedder::new(
            limit,
            Duration::from_secs(5),
            sluice_core::metrics::Metrics::default().counter("shed", &[]),
        )
    }

    #[test]
    fn past_the_bound_requests_are_shed() {
        let s = shedder(2);
        let a = s.admit().unwrap();
        let _b = s.admit().unwrap();
        assert!(s.admit().is_err());
        assert_eq!(s.shed.get(), 1);
        drop(a);
        assert!(s.admit().is_ok());
    }

    #[test]
    fn a_wait_beyond_the_timeout_is_shed_before_the_bound() {
        let s = shedder(100);
        // Completions one second apart: with five in flight, a sixth
        // would wait 6 s, past the 5 s timeout.
        s.mean_gap.store(1_000_000_000, Ordering::Relaxed);
        let held: Vec<_> = (0..5).map(|_| s.admit().unwrap()).collect();
        assert_eq!(held.len(), 5);
        let retry = s.admit().err().expect("shed");
        assert!(retry >= Duration::from_secs(5), "{retry:?}");
    }

    #[test]
    fn an_idle_spell_does_not_count_as_slowness() {
        let s = shedder(100);
        s.last_mark.store(0, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        // The first request of a busy spell restarts the measure.
        drop(s.admit().unwrap());
        assert!(s.mean_gap.load(Ordering::Relaxed) < 20_000_000);
    }
}
