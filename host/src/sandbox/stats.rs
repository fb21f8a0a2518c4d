//! What operators read about each component in each city: requests, errors, latency, swaps and
//! the linked calls it answered, counted without locks on the request path.

use super::RefusalKind;
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
    /// Swaps refused, by [`RefusalKind::index`].
    rejected_swaps: [AtomicU64; RefusalKind::ALL.len()],
    /// Calls of its exports by other components, and those that did not return.
    linked_calls: AtomicU64,
    linked_call_failures: AtomicU64,
    /// Requests and linked calls that failed in a row, up to the latest: what tells a component
    /// failing now from one that failed once long ago.
    failing: AtomicU64,
    /// Requests that waited in the queue, served or not, and how long they waited in all.
    queued: AtomicU64,
    queued_micros: AtomicU64,
}

impl SlotStats {
    /// Counts a served request; a 5xx counts as an error.
    pub fn record(&self, status: u16, duration: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.record_outcome(status < 500);
        let seconds = duration.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a request that waited `waited` in the queue.
    pub fn record_queued(&self, waited: Duration) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.queued_micros.fetch_add(u64::try_from(waited.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a swap that went live, or one that was refused and why.
    pub fn record_swap(&self, outcome: Result<(), RefusalKind>) {
        let counter = match outcome {
            Ok(()) => &self.swaps,
            Err(kind) => &self.rejected_swaps[kind.index()],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call of its exports by another component; `returned` is false when it trapped,
    /// ran out of its budget or could not start.
    pub fn record_linked_call(&self, returned: bool) {
        self.linked_calls.fetch_add(1, Ordering::Relaxed);
        if !returned {
            self.linked_call_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.record_outcome(returned);
    }

    fn record_outcome(&self, ok: bool) {
        if ok {
            self.failing.store(0, Ordering::Relaxed);
        } else {
            self.failing.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A slot's counters at one moment (or several slots' summed, by [`Snapshot::add`]).
#[derive(Default)]
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    /// Requests per bucket of [`BUCKETS`], not cumulative; the last counts those beyond every bound.
    pub latency: [u64; BUCKETS.len() + 1],
    pub seconds: f64,
    pub swaps: u64,
    /// By [`RefusalKind::index`].
    pub rejected_swaps: [u64; RefusalKind::ALL.len()],
    pub linked_calls: u64,
    pub linked_call_failures: u64,
    /// How many of the latest requests and linked calls failed in a row (0: the latest did not).
    pub failing: u64,
    pub queued: u64,
    pub queue_seconds: f64,
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
            rejected_swaps: self.rejected_swaps.each_ref().map(load),
            linked_calls: load(&self.linked_calls),
            linked_call_failures: load(&self.linked_call_failures),
            failing: load(&self.failing),
            queued: load(&self.queued),
            queue_seconds: load(&self.queued_micros) as f64 / 1e6,
        }
    }
}

impl Snapshot {
    /// Adds `other`'s counts to these; `failing` becomes the longer run of the two.
    pub fn add(&mut self, other: &Snapshot) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency.iter_mut().zip(&other.latency).for_each(|(sum, n)| *sum += n);
        self.seconds += other.seconds;
        self.swaps += other.swaps;
        self.rejected_swaps.iter_mut().zip(&other.rejected_swaps).for_each(|(sum, n)| *sum += n);
        self.linked_calls += other.linked_calls;
        self.linked_call_failures += other.linked_call_failures;
        self.failing = self.failing.max(other.failing);
        self.queued += other.queued;
        self.queue_seconds += other.queue_seconds;
    }

    /// The latency within which a fraction `q` of the requests were answered, interpolated inside
    /// its bucket as Prometheus' `histogram_quantile` does; beyond the last bound, that bound.
    /// `None` before the first request.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0.0;
        for (i, &count) in self.latency.iter().enumerate() {
            let count = count as f64;
            if count > 0.0 && below + count >= rank {
                let Some(&upper) = BUCKETS.get(i) else { break };
                let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
                return Some(Duration::from_secs_f64(lower + (upper - lower) * (rank - below) / count));
            }
            below += count;
        }
        Some(Duration::from_secs_f64(BUCKETS[BUCKETS.len() - 1]))
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

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let stats = SlotStats::default();
        assert_eq!(stats.snapshot().latency_quantile(0.5), None);
        // 100 requests between 2.5 and 5 ms: the median halfway through that bucket.
        (0..100).for_each(|_| stats.record(200, Duration::from_millis(4)));
        let median = stats.snapshot().latency_quantile(0.5).unwrap();
        assert!((median.as_secs_f64() - 0.00375).abs() < 1e-9, "{median:?}");
        // One very slow request: the 99.9th percentile is past every bound, reported as the last.
        stats.record(200, Duration::from_secs(60));
        assert_eq!(stats.snapshot().latency_quantile(0.999), Some(Duration::from_secs(5)));
        assert!(stats.snapshot().latency_quantile(0.99).unwrap() < Duration::from_millis(5));
    }

    #[test]
    fn a_success_ends_a_run_of_failures() {
        let stats = SlotStats::default();
        stats.record(500, Duration::ZERO);
        stats.record_linked_call(false);
        assert_eq!(stats.snapshot().failing, 2);
        stats.record(404, Duration::ZERO);
        assert_eq!(stats.snapshot().failing, 0);
    }
}
