//! The route table: `Host` header → city → longest matching path prefix → component slot.
//!
//! A [`Routes`] value is immutable; the runtime publishes a new one to change routing, and each
//! request reads whichever is current when it starts, without a lock.

use crate::manifest::{CityId, ComponentName, HostName, RoutePath};
use crate::sandbox::{Slot, Slots};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

/// One city's routes and components.
pub struct City {
    pub id: CityId,
    pub name: String,
    pub hosts: Vec<HostName>,
    /// Every component of the city, routed or not.
    pub slots: Arc<Slots>,
    /// Path prefixes, longest first, so the first match is the most specific one.
    routes: Vec<(RoutePath, Arc<Slot>)>,
}

impl City {
    /// A city whose `routes` name components in `slots` (the manifest checks guarantee it).
    pub fn new(
        id: CityId,
        name: String,
        hosts: Vec<HostName>,
        slots: Slots,
        routes: impl IntoIterator<Item = (RoutePath, ComponentName)>,
    ) -> Self {
        let mut routes: Vec<_> = routes
            .into_iter()
            .map(|(path, component)| {
                let slot = slots[&component].clone();
                (path, slot)
            })
            .collect();
        routes.sort_by_key(|(path, _)| std::cmp::Reverse(path.as_str().len()));
        Self { id, name, hosts, slots: Arc::new(slots), routes }
    }

    /// The path prefixes routed to component `name`.
    pub fn routes_to<'a>(&'a self, name: &'a ComponentName) -> impl Iterator<Item = &'a RoutePath> + 'a {
        self.routes.iter().filter(move |(_, slot)| slot.name() == name).map(|(path, _)| path)
    }

    /// The matching route's prefix and the slot serving `path`, if any route matches.
    pub fn route(&self, path: &str) -> Option<(&RoutePath, &Arc<Slot>)> {
        self.routes.iter().find(|(prefix, _)| prefix.matches(path)).map(|(prefix, slot)| (prefix, slot))
    }
}

/// Why no component serves a request.
#[derive(Debug, thiserror::Error)]
pub enum NoRoute {
    /// Several cities share the listener and none claims this host.
    #[error("no city is served at host `{0}`")]
    UnknownHost(String),
    /// The city has no route for the path.
    #[error("no route for `{0}`")]
    UnknownPath(String),
}

/// Every city this host serves.
#[derive(Default)]
pub struct Routes {
    cities: Vec<Arc<City>>,
    /// Index into `cities` by id: finding one city among 100,000 is a lookup, and pages of them
    /// are read in id order.
    by_id: BTreeMap<CityId, usize>,
    by_host: HashMap<String, Arc<City>>,
}

impl Routes {
    /// The table for `cities`; their ids and hosts are distinct (the manifest checks guarantee it).
    pub fn new(cities: Vec<Arc<City>>) -> Self {
        let by_id = cities.iter().enumerate().map(|(index, city)| (city.id.clone(), index)).collect();
        let by_host = cities
            .iter()
            .flat_map(|city| city.hosts.iter().map(move |host| (host.as_str().to_owned(), city.clone())))
            .collect();
        Self { cities, by_id, by_host }
    }

    /// The cities, in the order their manifests were given.
    pub fn cities(&self) -> &[Arc<City>] {
        &self.cities
    }

    /// The city with id `id`.
    pub fn city_by_id(&self, id: &str) -> Option<&Arc<City>> {
        self.by_id.get(id).map(|&index| &self.cities[index])
    }

    /// The cities in id order, from `from` on.
    pub fn cities_by_id(&self, from: Bound<&str>) -> impl Iterator<Item = &Arc<City>> + '_ {
        self.by_id.range::<str, _>((from, Bound::Unbounded)).map(|(_, &index)| &self.cities[index])
    }

    /// The slot of component `name` in city `city`.
    pub fn slot(&self, city: &str, name: &str) -> Option<&Arc<Slot>> {
        self.city_by_id(city)?.slots.get(name)
    }

    /// The city for a request's `Host` header: the only city when there is one, else the city
    /// that lists the host (compared without port, case-insensitively).
    pub fn city(&self, host: Option<&str>) -> Result<&Arc<City>, NoRoute> {
        if let [only] = self.cities.as_slice() {
            return Ok(only);
        }
        let name = host.map(strip_port).unwrap_or_default().trim_end_matches('.');
        match self.by_host.get(name) {
            Some(city) => Ok(city),
            None => self.by_host.get(&name.to_ascii_lowercase()).ok_or_else(|| NoRoute::UnknownHost(name.to_owned())),
        }
    }

    /// The city, the matching route's prefix and the slot serving a request.
    pub fn route(&self, host: Option<&str>, path: &str) -> Result<(&Arc<City>, &RoutePath, &Arc<Slot>), NoRoute> {
        let city = self.city(host)?;
        let (prefix, slot) = city.route(path).ok_or_else(|| NoRoute::UnknownPath(path.to_owned()))?;
        Ok((city, prefix, slot))
    }
}

/// `example.org:8080` → `example.org`; `[::1]:8080` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("bremerhaven.localhost:8080"), "bremerhaven.localhost");
        assert_eq!(strip_port("bremerhaven.localhost"), "bremerhaven.localhost");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }
}
