//! What operators read about each component in each city: requests, errors, latency, swaps and
//! the linked calls it answered, counted without locks on the request path and rendered in
//! Prometheus' text format.

use crate::http::router::Routes;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

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

    /// Requests served.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests answered 5xx.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Every slot's counters in Prometheus' text exposition format.
pub fn render(routes: &Routes) -> String {
    let slots: Vec<_> = routes
        .cities()
        .iter()
        .flat_map(|city| {
            city.slots
                .values()
                .map(move |slot| (format!("city=\"{}\",component=\"{}\"", city.id, slot.name()), slot.stats()))
        })
        .collect();
    let mut text = String::new();
    let mut counter = |name: &str, help: &str, value: &dyn Fn(&SlotStats) -> u64| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, stats) in &slots {
            let _ = writeln!(text, "{name}{{{labels}}} {}", value(stats));
        }
    };
    counter("civic_requests_total", "Requests served.", &|s| s.requests());
    counter("civic_request_errors_total", "Requests answered with a 5xx status.", &|s| s.errors());
    counter("civic_swaps_total", "Component versions swapped in.", &|s| s.swaps.load(Ordering::Relaxed));
    counter("civic_swaps_rejected_total", "Swaps refused before going live.", &|s| {
        s.rejected_swaps.load(Ordering::Relaxed)
    });
    counter("civic_linked_calls_total", "Calls of the component's exports by other components.", &|s| {
        s.linked_calls.load(Ordering::Relaxed)
    });
    counter(
        "civic_linked_call_failures_total",
        "Linked calls that trapped, ran out of budget or could not start.",
        &|s| s.linked_call_failures.load(Ordering::Relaxed),
    );

    let name = "civic_request_duration_seconds";
    let _ = writeln!(text, "# HELP {name} Time from routing a request to its answer's head.\n# TYPE {name} histogram");
    for (labels, stats) in &slots {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&stats.latency) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(text, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += stats.latency[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(text, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let seconds = stats.micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(text, "{name}_sum{{{labels}}} {seconds}\n{name}_count{{{labels}}} {cumulative}");
    }
    text
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
        assert_eq!((stats.requests(), stats.errors()), (3, 1));
        let counts: Vec<u64> = stats.latency.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
