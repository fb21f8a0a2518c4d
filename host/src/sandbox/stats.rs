//! What operators read about each component in each city: requests, errors, latency, swaps and
//! the linked calls it answered, counted without locks on the request path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// One slot's counters.
#[derive(Default)]
pub struct SlotStats {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Requests per latency bucket (not cumulative); the last counts those beyond every bound.
    latency: [AtomicU64; BUCKETS.len() + 1],
    micros: AtomicU64,
    swaps: AtomicU64,
    rejected_swaps: AtomicU64,
    /// Calls of its exports by other components, and those that did not return.
    linked_calls: AtomicU64,
    linked_call_failures: AtomicU64,
}

impl SlotStats {
    /// Counts a served request; a 5xx counts as an error.
    pub fn record(&self, status: u16, duration: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = duration.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a swap that went live, or one that was refused.
    pub fn record_swap(&self, accepted: bool) {
        let counter = if accepted { &self.swaps } else { &self.rejected_swaps };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call of its exports by another component; `returned` is false when it trapped,
    /// ran out of its budget or could not start.
    pub fn record_linked_call(&self, returned: bool) {
        self.linked_calls.fetch_add(1, Ordering::Relaxed);
        if !returned {
            self.linked_call_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A slot's counters at one moment.
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    /// Requests per bucket of [`BUCKETS`], not cumulative; the last counts those beyond every bound.
    pub latency: [u64; BUCKETS.len() + 1],
    pub seconds: f64,
    pub swaps: u64,
    pub rejected_swaps: u64,
    pub linked_calls: u64,
    pub linked_call_failures: u64,
}

impl SlotStats {
    pub fn snapshot(&self) -> Snapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Snapshot {
            requests: load(&self.requests),
            errors: load(&self.errors),
            latency: std::array::from_fn(|i| load(&self.latency[i])),
            seconds: load(&self.micros) as f64 / 1e6,
            swaps: load(&self.swaps),
            rejected_swaps: load(&self.rejected_swaps),
            linked_calls: load(&self.linked_calls),
            linked_call_failures: load(&self.linked_call_failures),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_the_first_bucket_that_holds_it() {
        let stats = SlotStats::default();
        stats.record(200, Duration::from_micros(400));
        stats.record(503, Duration::from_millis(3));
        stats.record(200, Duration::from_secs(9));
        let snapshot = stats.snapshot();
        assert_eq!((snapshot.requests, snapshot.errors), (3, 1));
        assert_eq!(snapshot.latency, [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
