//! What the host serves, city by city and component by component, as operators read it: the
//! version, its counters, latency and health. `GET /v1/components` is this as JSON; the console
//! draws the same values.

use super::cluster::rfc3339;
use crate::http::{City, Routes};
use crate::sandbox::{Slot, Version};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

#[derive(Serialize)]
pub struct CityView {
    pub id: String,
    pub name: String,
    /// The `Host` names it answers to.
    pub hosts: Vec<String>,
    pub components: Vec<ComponentView>,
}

#[derive(Serialize)]
pub struct ComponentView {
    pub name: String,
    #[serde(flatten)]
    pub current: VersionView,
    pub requests: u64,
    pub errors: u64,
    /// From the latency histogram; `null` before the first request.
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    pub health: Health,
    /// Requests and linked calls that failed in a row, up to the latest.
    pub failing_in_a_row: u64,
    pub previous: Option<VersionView>,
    /// Contract → the component of the city that serves it to this one.
    pub links: BTreeMap<String, String>,
    /// The path prefixes the city routes to it.
    pub routes: Vec<String>,
    /// The interfaces its current version exports (`wasi:http/incoming-handler@…`, contracts).
    pub exports: Vec<String>,
}

#[derive(Serialize)]
pub struct VersionView {
    pub version: u64,
    pub sha256: String,
    pub source: String,
    pub loaded_at: String,
    #[serde(skip)]
    pub since: SystemTime,
}

/// A component's health as its latest answers tell it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Nothing asked it yet.
    Idle,
    /// Its latest answer was not a failure.
    Ok,
    /// Its latest answers were 5xx or linked calls that did not return.
    Failing,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Ok => "ok",
            Self::Failing => "failing",
        }
    }
}

/// Every city of `routes`.
pub fn cities(routes: &Routes) -> Vec<CityView> {
    routes.cities().iter().map(|city| city_view(city)).collect()
}

pub fn city_view(city: &City) -> CityView {
    CityView {
        id: city.id.to_string(),
        name: city.name.clone(),
        hosts: city.hosts.iter().map(ToString::to_string).collect(),
        components: city.slots.values().map(|slot| component_view(city, slot)).collect(),
    }
}

fn component_view(city: &City, slot: &Slot) -> ComponentView {
    let stats = slot.stats().snapshot();
    let health = match (stats.requests + stats.linked_calls, stats.failing) {
        (0, _) => Health::Idle,
        (_, 0) => Health::Ok,
        _ => Health::Failing,
    };
    let seconds = |q| stats.latency_quantile(q).map(|d: Duration| d.as_secs_f64());
    let links = slot.grants().links().links().iter();
    let current = slot.current();
    ComponentView {
        name: slot.name().to_string(),
        current: version_view(&current),
        requests: stats.requests,
        errors: stats.errors,
        p50_seconds: seconds(0.5),
        p99_seconds: seconds(0.99),
        health,
        failing_in_a_row: stats.failing,
        previous: slot.previous().map(|previous| version_view(&previous)),
        links: links.map(|(contract, link)| (contract.to_string(), link.component.to_string())).collect(),
        routes: city.routes_to(slot.name()).map(ToString::to_string).collect(),
        exports: current.prepared.contracts.exports.iter().map(|e| e.name.clone()).collect(),
    }
}

pub fn version_view(version: &Version) -> VersionView {
    VersionView {
        version: version.number,
        sha256: version.prepared.digest.to_string(),
        source: version.prepared.source.display().to_string(),
        loaded_at: rfc3339(version.since),
        since: version.since,
    }
}
