//! Partitions the producer picks itself, for the partitioners librdkafka
//! does not have: `round_robin` (each topic's partitions in turn) and
//! franz-go's `least_backup` (the partition with the fewest records sent
//! but not yet acknowledged by the broker).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How records without a manual partition are spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spread {
    /// librdkafka's configured partitioner picks.
    Client,
    /// Each topic's partitions in turn.
    RoundRobin,
    /// The partition with the fewest records in flight; ties go to the
    /// partitions in turn, so an idle producer still spreads its records.
    LeastBackup,
}

/// What is known of one topic.
struct Topic {
    /// Where the next round (or the next tie-break scan) starts.
    next: u64,
    /// Records in flight per partition; the index is the partition.
    in_flight: Vec<Arc<AtomicU64>>,
}

/// Per-topic partition counts (from metadata) and picking state.
#[derive(Default)]
pub(crate) struct Partitions(Mutex<HashMap<String, Topic>>);

/// A record counted as in flight on its partition until dropped (once its
/// delivery report arrived, or it was never enqueued).
pub(crate) struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Partitions {
    /// The next partition of `topic` in turn, or `None` when its partition
    /// count is unknown.
    pub(crate) fn round_robin(&self, topic: &str) -> Option<i32> {
        let mut topics = self.0.lock().expect("partition lock poisoned");
        let state = topics.get_mut(topic)?;
        let count = state.in_flight.len() as u64;
        let partition = (state.next % count) as i32;
        state.next = state.next.wrapping_add(1);
        Some(partition)
    }

    /// The partition of `topic` with the fewest records in flight, counted
    /// as one more until the returned guard drops; `None` when the partition
    /// count is unknown.
    pub(crate) fn least_backed_up(&self, topic: &str) -> Option<(i32, InFlight)> {
        let mut topics = self.0.lock().expect("partition lock poisoned");
        let state = topics.get_mut(topic)?;
        let count = state.in_flight.len();
        let start = (state.next % count as u64) as usize;
        state.next = state.next.wrapping_add(1);
        let (index, counter) = (0..count)
            .map(|i| (start + i) % count)
            .map(|p| (p, &state.in_flight[p]))
            .min_by_key(|(_, c)| c.load(Ordering::Acquire))?;
        counter.fetch_add(1, Ordering::AcqRel);
        Some((index as i32, InFlight(Arc::clone(counter))))
    }

    pub(crate) fn knows(&self, topic: &str) -> bool {
        self.0
            .lock()
            .expect("partition lock poisoned")
            .contains_key(topic)
    }

    /// Records the partition count of `topic` (positive).
    pub(crate) fn learn(&self, topic: &str, count: i32) {
        let count = usize::try_from(count).unwrap_or(0).max(1);
        let mut topics = self.0.lock().expect("partition lock poisoned");
        let state = topics.entry(topic.to_owned()).or_insert_with(|| Topic {
            next: 0,
            in_flight: Vec::new(),
        });
        // Counters of partitions that stay keep their records in flight.
        state
            .in_flight
            .resize_with(count, || Arc::new(AtomicU64::new(0)));
    }

    /// Forgets `topic`, so its partition count is asked for again.
    pub(crate) fn forget(&self, topic: &str) {
        self.0
            .lock()
            .expect("partition lock poisoned")
            .remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles_through_known_topics_only() {
        let partitions = Partitions::default();
        assert_eq!(partitions.round_robin("t"), None);
        partitions.learn("t", 3);
        let picks: Vec<_> = (0..5).filter_map(|_| partitions.round_robin("t")).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1]);
        partitions.forget("t");
        assert!(!partitions.knows("t"));
    }

    #[test]
    fn least_backup_picks_the_partition_with_the_fewest_records_in_flight() {
        let partitions = Partitions::default();
        assert!(partitions.least_backed_up("t").is_none());
        partitions.learn("t", 3);
        // Idle: ties go round, so three records land on three partitions.
        let held: Vec<_> = (0..3)
            .map(|_| partitions.least_backed_up("t").unwrap())
            .collect();
        let mut picked: Vec<i32> = held.iter().map(|(p, _)| *p).collect();
        picked.sort_unstable();
        assert_eq!(picked, vec![0, 1, 2]);
        // Partition 1 is acknowledged; the others still wait: 1 is next,
        // whatever the tie-break turn says.
        let mut held: Vec<_> = held.into_iter().filter(|(p, _)| *p != 1).collect();
        for _ in 0..3 {
            let (p, guard) = partitions.least_backed_up("t").unwrap();
            assert_eq!(p, 1);
            drop(guard);
        }
        // A slow partition is avoided: 0 holds five records, 2 none.
        held.retain(|(p, _)| *p == 0);
        held.extend((0..4).map(|_| {
            let counter = Arc::clone(&partitions.0.lock().unwrap()["t"].in_flight[0]);
            counter.fetch_add(1, Ordering::AcqRel);
            (0, InFlight(counter))
        }));
        let picks: Vec<i32> = (0..6)
            .map(|_| {
                let (p, guard) = partitions.least_backed_up("t").unwrap();
                held.push((p, guard));
                p
            })
            .collect();
        assert!(!picks[..5].contains(&0), "{picks:?}");
        drop(held);
        let idle: Vec<u64> = partitions.0.lock().unwrap()["t"]
            .in_flight
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .collect();
        assert_eq!(idle, vec![0, 0, 0]);
    }
}
