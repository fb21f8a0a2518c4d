//! Every slot's counters in Prometheus' text exposition format (`GET /metrics`).

use crate::http::Routes;
use crate::sandbox::{BUCKETS, RefusalKind, Snapshot};
use std::fmt::Write as _;

pub fn render(routes: &Routes) -> String {
    let slots: Vec<_> = routes
        .cities()
        .iter()
        .flat_map(|city| {
            city.slots.values().map(move |slot| {
                (format!("city=\"{}\",component=\"{}\"", city.id, slot.name()), slot.stats().snapshot())
            })
        })
        .collect();
    let mut text = String::new();
    let mut counter = |name: &str, help: &str, value: fn(&Snapshot) -> u64| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, stats) in &slots {
            let _ = writeln!(text, "{name}{{{labels}}} {}", value(stats));
        }
    };
    counter("civic_requests_total", "Requests served.", |s| s.requests);
    counter("civic_request_errors_total", "Requests answered with a 5xx status.", |s| s.errors);
    counter("civic_swaps_total", "Component versions swapped in.", |s| s.swaps);
    counter("civic_linked_calls_total", "Calls of the component's exports by other components.", |s| s.linked_calls);
    counter(
        "civic_linked_call_failures_total",
        "Linked calls that trapped, ran out of budget or could not start.",
        |s| s.linked_call_failures,
    );

    let name = "civic_swaps_rejected_total";
    let _ = writeln!(
        text,
        "# HELP {name} Swaps refused before going live, by the check they failed.\n# TYPE {name} counter"
    );
    for (labels, stats) in &slots {
        for kind in RefusalKind::ALL {
            let count = stats.rejected_swaps[kind.index()];
            let _ = writeln!(text, "{name}{{{labels},kind=\"{}\"}} {count}", kind.name());
        }
    }
    let name = "civic_request_duration_seconds";
    let _ = writeln!(text, "# HELP {name} Time from routing a request to its answer's head.\n# TYPE {name} histogram");
    for (labels, stats) in &slots {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&stats.latency) {
            cumulative += count;
            let _ = writeln!(text, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += stats.latency[BUCKETS.len()];
        let _ = writeln!(text, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(text, "{name}_sum{{{labels}}} {}\n{name}_count{{{labels}}} {cumulative}", stats.seconds);
    }
    text
}
