//! The counters in Prometheus' text exposition format (`GET /metrics`), with a cardinality that
//! does not grow with cities × components: by default each series is per component name, summed
//! over the cities that run it, plus one per city (its requests). A scoped scrape,
//! `GET /metrics?city=ID` (repeatable, up to [`MAX_SCOPED_CITIES`]), gives those cities' series
//! per component, labelled `city` and `component`.

use crate::http::{City, Routes};
use crate::sandbox::{BUCKETS, RefusalKind, Snapshot};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The most cities one scoped scrape may name.
pub const MAX_SCOPED_CITIES: usize = 100;

/// Why a scoped scrape is refused.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("no city `{0}` is served here")]
    UnknownCity(String),
    #[error("a scoped scrape names at most {MAX_SCOPED_CITIES} cities")]
    TooMany,
}

/// The default scrape: per component name, and each city's requests.
pub fn render(routes: &Routes) -> String {
    let mut by_component: BTreeMap<&str, (usize, Snapshot)> = BTreeMap::new();
    for slot in routes.cities().iter().flat_map(|city| city.slots.values()) {
        let (instances, sum) = by_component.entry(slot.name().as_str()).or_default();
        *instances += 1;
        sum.add(&slot.stats().snapshot());
    }
    let mut text = String::with_capacity(routes.cities().len() * 48 + by_component.len() * 2048);
    gauge(&mut text, "civic_cities", "Cities served.", [("", routes.cities().len())]);
    let instances = by_component.iter().map(|(name, (n, _))| (format!("component=\"{name}\""), *n));
    gauge(&mut text, "civic_components", "Cities that run the component.", instances);
    let series: Vec<_> =
        by_component.into_iter().map(|(name, (_, sum))| (format!("component=\"{name}\""), sum)).collect();
    families(&mut text, &series);
    let name = "civic_city_requests_total";
    let _ = writeln!(text, "# HELP {name} Requests served, by city.\n# TYPE {name} counter");
    for city in routes.cities() {
        let requests: u64 = city.slots.values().map(|slot| slot.stats().snapshot().requests).sum();
        let _ = writeln!(text, "{name}{{city=\"{}\"}} {requests}", city.id);
    }
    text
}

/// The scoped scrape: every series per component of the cities `ids` name.
pub fn render_cities(routes: &Routes, ids: &[String]) -> Result<String, ScopeError> {
    if ids.len() > MAX_SCOPED_CITIES {
        return Err(ScopeError::TooMany);
    }
    let cities: Vec<&City> = ids
        .iter()
        .map(|id| routes.city_by_id(id).map(|city| &**city).ok_or_else(|| ScopeError::UnknownCity(id.clone())))
        .collect::<Result<_, _>>()?;
    let series: Vec<_> = cities
        .iter()
        .flat_map(|city| {
            city.slots.values().map(move |slot| {
                (format!("city=\"{}\",component=\"{}\"", city.id, slot.name()), slot.stats().snapshot())
            })
        })
        .collect();
    let mut text = String::new();
    families(&mut text, &series);
    Ok(text)
}

fn gauge(text: &mut String, name: &str, help: &str, values: impl IntoIterator<Item = (impl AsRef<str>, usize)>) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in values {
        let labels = labels.as_ref();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(text, "{name}{labels} {value}");
    }
}

/// The counter and histogram families, one series (or histogram) per labelled snapshot.
fn families(text: &mut String, series: &[(String, Snapshot)]) {
    let mut counter = |name: &str, help: &str, value: fn(&Snapshot) -> f64| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, stats) in series {
            let _ = writeln!(text, "{name}{{{labels}}} {}", value(stats));
        }
    };
    counter("civic_requests_total", "Requests served.", |s| s.requests as f64);
    counter("civic_request_errors_total", "Requests answered with a 5xx status.", |s| s.errors as f64);
    counter("civic_swaps_total", "Component versions swapped in.", |s| s.swaps as f64);
    counter("civic_linked_calls_total", "Calls of the component's exports by other components.", |s| {
        s.linked_calls as f64
    });
    counter(
        "civic_linked_call_failures_total",
        "Linked calls that trapped, ran out of budget or could not start.",
        |s| s.linked_call_failures as f64,
    );
    counter(
        "civic_requests_queued_total",
        "Requests that found every place taken and waited in the queue, served or not.",
        |s| s.queued as f64,
    );
    counter("civic_request_queue_seconds_total", "Time requests waited in the queue.", |s| s.queue_seconds);

    let name = "civic_swaps_rejected_total";
    let _ = writeln!(
        text,
        "# HELP {name} Swaps refused before going live, by the check they failed.\n# TYPE {name} counter"
    );
    for (labels, stats) in series {
        for kind in RefusalKind::ALL {
            let count = stats.rejected_swaps[kind.index()];
            let _ = writeln!(text, "{name}{{{labels},kind=\"{}\"}} {count}", kind.name());
        }
    }
    let name = "civic_request_duration_seconds";
    let _ = writeln!(text, "# HELP {name} Time from routing a request to its answer's head.\n# TYPE {name} histogram");
    for (labels, stats) in series {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&stats.latency) {
            cumulative += count;
            let _ = writeln!(text, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += stats.latency[BUCKETS.len()];
        let _ = writeln!(text, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(text, "{name}_sum{{{labels}}} {}\n{name}_count{{{labels}}} {cumulative}", stats.seconds);
    }
}
