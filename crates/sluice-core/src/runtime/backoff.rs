//! Exponential backoff with jitter for reconnects and retries.

use std::time::Duration;

/// Exponential backoff: starts at `initial`, multiplies by `factor` after
/// each failure up to `max`, with +/- `jitter` (a fraction) applied.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
    current: Duration,
}

impl Backoff {
    /// A backoff with the given bounds, doubling, without jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            factor: 2.0,
            jitter: 0.0,
            current: initial,
        }
    }

    /// Changes the growth factor.
    #[must_use]
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Adds +/- `jitter` (fraction of the wait) of randomness.
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The next wait; grows the following one.
    pub fn next_wait(&mut self) -> Duration {
        let base = self.current;
        self.current = self.current.mul_f64(self.factor).min(self.max);
        if self.jitter == 0.0 {
            return base;
        }
        let spread = (pseudo_random_unit() * 2.0 - 1.0) * self.jitter;
        base.mul_f64((1.0 + spread).max(0.0)).min(self.max)
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

// Jitter needs no cryptographic quality; the clock's low bits are enough and
// avoid a dependency on a random number crate in the core.
fn pseudo_random_unit() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(1));
        assert_eq!(b.next_wait(), Duration::from_millis(500));
        assert_eq!(b.next_wait(), Duration::from_secs(1));
        assert_eq!(b.next_wait(), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(500));
    }
}
