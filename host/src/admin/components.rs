//! What the host serves, city by city and component by component, as operators read it: the
//! version, its counters, latency and health. `GET /v1/components` and `GET /v1/cities` are
//! this as JSON, paged ([`page`](super::page)); the console draws the same values.

use super::cluster::rfc3339;
use super::page::{Page, Query};
use crate::http::{City, Routes};
use crate::manifest::SlotKey;
use crate::sandbox::{Slot, Snapshot, Version};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A city as its list shows it: what it is and how many of its components fail.
#[derive(Serialize)]
pub struct CitySummary {
    pub id: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub components: usize,
    pub failing: usize,
}

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
    /// The city's id.
    pub city: String,
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

/// `GET /v1/components`: one row per component of every city, in `city/component` order.
pub fn list(routes: &Routes, query: &Query) -> Result<Page<ComponentView>, String> {
    let cursor = match &query.cursor {
        Some(cursor) => Some(cursor.parse::<SlotKey>().map_err(|_| "`cursor` is not one this host gave")?),
        None => None,
    };
    let wanted = |slot: &Slot| {
        query.component.as_ref().is_none_or(|name| slot.name() == name)
            && (!query.troubled || health(&slot.stats().snapshot()) == Health::Failing)
    };
    let total = rows(routes, query, None).filter(|(_, slot)| wanted(slot)).count();
    let key = |(city, slot): &(&Arc<City>, &Arc<Slot>)| format!("{}/{}", city.id, slot.name());
    let page = rows(routes, query, cursor.as_ref()).filter(|(_, slot)| wanted(slot));
    Ok(Page::of(page, query.limit, total, key, |(city, slot)| component_view(city, slot)))
}

/// Every slot of the cities `query` names, in `city/component` order, after `after`.
fn rows<'a>(
    routes: &'a Routes,
    query: &'a Query,
    after: Option<&'a SlotKey>,
) -> impl Iterator<Item = (&'a Arc<City>, &'a Arc<Slot>)> + 'a {
    let cities: Box<dyn Iterator<Item = &Arc<City>>> = match &query.city {
        Some(id) => Box::new(routes.city_by_id(id.as_str()).into_iter()),
        None => Box::new(routes.cities_by_id(after.map_or(Bound::Unbounded, |key| Bound::Included(key.city.as_str())))),
    };
    cities
        .filter(move |city| after.is_none_or(|key| city.id >= key.city))
        .flat_map(|city| city.slots.values().map(move |slot| (city, slot)))
        .filter(move |(city, slot)| after.is_none_or(|key| city.id != key.city || *slot.name() > key.component))
}
/// `GET /v1/cities`: every city, in id order, with its count of components and of failing ones.
pub fn list_cities(routes: &Routes, query: &Query) -> Result<Page<CitySummary>, String> {
    let failing =
        |city: &City| city.slots.values().filter(|slot| health(&slot.stats().snapshot()) == Health::Failing).count();
    let wanted = |city: &City| {
        query.city.as_ref().is_none_or(|id| city.id == *id)
            && query.component.as_ref().is_none_or(|name| city.slots.contains_key(name))
            && query.finds(&[city.id.as_str(), &city.name])
            && (!query.troubled || failing(city) > 0)
    };
    let from = query.cursor.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let total = routes.cities_by_id(Bound::Unbounded).filter(|city| wanted(city)).count();
    let rows = routes.cities_by_id(from).filter(|city| wanted(city));
    Ok(Page::of(
        rows,
        query.limit,
        total,
        |city| city.id.to_string(),
        |city| CitySummary {
            id: city.id.to_string(),
            name: city.name.clone(),
            hosts: city.hosts.iter().map(ToString::to_string).collect(),
            components: city.slots.len(),
            failing: failing(city),
        },
    ))
}

pub fn city_view(city: &City) -> CityView {
    CityView {
        id: city.id.to_string(),
        name: city.name.clone(),
        hosts: city.hosts.iter().map(ToString::to_string).collect(),
        components: city.slots.values().map(|slot| component_view(city, slot)).collect(),
    }
}

/// A component's health, from its counters.
fn health(stats: &Snapshot) -> Health {
    match (stats.requests + stats.linked_calls, stats.failing) {
        (0, _) => Health::Idle,
        (_, 0) => Health::Ok,
        _ => Health::Failing,
    }
}

fn component_view(city: &City, slot: &Slot) -> ComponentView {
    let stats = slot.stats().snapshot();
    let health = health(&stats);
    let seconds = |q| stats.latency_quantile(q).map(|d: Duration| d.as_secs_f64());
    let links = slot.grants().links().links().iter();
    let current = slot.current();
    ComponentView {
        city: city.id.to_string(),
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
