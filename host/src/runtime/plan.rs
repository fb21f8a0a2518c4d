//! What a reload does, decided before anything changes: each distinct component (by content
//! hash) is prepared once, however many cities run it; an unchanged component keeps its slot
//! (and any version swapped in since), a changed source is swapped into the same slot, changed
//! settings get a new slot — and if anything fails to load or link, nothing changes. A city
//! whose manifest and components did not change is not looked at again: it keeps its table entry.

use crate::http::{City, Routes};
use crate::limits::Limits;
use crate::link::{self, Linked};
use crate::manifest::{CityId, CitySpec, ComponentName, ComponentSpec, Diagnostic, Diagnostics, Digest, WasmFile};
use crate::sandbox::{Prepared, Sandbox, Slot};
use crate::state::State;
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// What a reload changed.
#[derive(Debug, Default, Serialize)]
pub struct Reloaded {
    pub cities_added: usize,
    pub cities_removed: usize,
    /// Components new to their city.
    pub added: usize,
    /// Components whose source changed, swapped into their slot.
    pub swapped: usize,
    /// Components whose settings changed, given a new slot.
    pub replaced: usize,
    pub unchanged: usize,
    /// Components no longer in their city.
    pub removed: usize,
    /// Manifests whose bytes changed, parsed and checked again (set by the caller that read them).
    pub manifests_parsed: usize,
    /// Manifests in all.
    pub manifests: usize,
}

impl Reloaded {
    /// Adds what went from `before` to `after` that the plan does not see: cities added and
    /// removed, and slots no longer served. A city whose table entry was kept is skipped.
    pub fn counting_removed(mut self, before: &Routes, after: &Routes) -> Self {
        let mut removed = 0;
        for old in before.cities() {
            let Some(new) = after.city_by_id(old.id.as_str()) else {
                self.cities_removed += 1;
                removed += old.slots.len();
                continue;
            };
            if !Arc::ptr_eq(old, new) {
                let kept = |slot: &Arc<Slot>| new.slots.get(slot.name()).is_some_and(|s| Arc::ptr_eq(s, slot));
                removed += old.slots.values().filter(|slot| !kept(slot)).count();
            }
        }
        // Every city of `after` is one of `before` that stayed, or added.
        self.cities_added = after.cities().len() - (before.cities().len() - self.cities_removed);
        // Every old slot not kept was either replaced (counted already) or removed.
        self.removed = removed - self.replaced;
        self
    }
}

impl fmt::Display for Reloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cities +{} -{}; components: {} added, {} swapped, {} replaced, {} unchanged, {} removed; \
             {} of {} manifests parsed again",
            self.cities_added,
            self.cities_removed,
            self.added,
            self.swapped,
            self.replaced,
            self.unchanged,
            self.removed,
            self.manifests_parsed,
            self.manifests,
        )
    }
}

/// What becomes of each component: everything prepared, nothing live yet.
pub struct Plan {
    cities: Vec<PlannedCity>,
}

enum PlannedCity {
    /// Nothing about it changed: its table entry as it is.
    Kept(Arc<City>),
    Planned(Arc<CitySpec>, BTreeMap<ComponentName, Planned>),
}

enum Planned {
    Keep(Arc<Slot>),
    Swap(Arc<Slot>, Arc<WasmFile>, Arc<Prepared>),
    /// A new slot; `true` when it replaces one whose settings changed.
    New(Arc<Slot>, bool),
}

impl Planned {
    /// The version that serves once the plan is applied.
    fn live(&self) -> Arc<Prepared> {
        match self {
            Self::Keep(slot) | Self::New(slot, _) => slot.current().prepared.clone(),
            Self::Swap(_, _, prepared) => prepared.clone(),
        }
    }
}

impl Plan {
    /// Prepares each distinct new component once and decides every slot of the cities
    /// `changed` names against `current`; the other cities keep what `current` has of them.
    pub fn new(
        sandbox: &Sandbox,
        state: &State,
        defaults: &Limits,
        cities: &[Arc<CitySpec>],
        changed: impl Fn(&CityId) -> bool,
        current: &Routes,
    ) -> Result<Self, Diagnostics> {
        let mut diagnostics = Diagnostics::default();
        // `None` marks a component that failed, so it is reported once, not once per city.
        let mut prepared: HashMap<Digest, Option<Arc<Prepared>>> = HashMap::new();
        let mut prepare = |spec: &ComponentSpec| match prepared.entry(spec.wasm.digest) {
            Entry::Occupied(entry) => entry.get().clone(),
            Entry::Vacant(entry) => {
                let outcome = match sandbox.prepare(&spec.wasm) {
                    Ok(ready) => Some(Arc::new(ready)),
                    Err(e) => {
                        let message = format!("component `{}` cannot be loaded: {e}", spec.name);
                        diagnostics.push(Diagnostic::at(spec.at.clone(), message));
                        None
                    }
                };
                entry.insert(outcome).clone()
            }
        };
        let mut planned_cities = Vec::with_capacity(cities.len());
        let mut link_problems = Vec::new();
        for city in cities {
            if !changed(&city.id)
                && let Some(kept) = current.city_by_id(city.id.as_str())
            {
                planned_cities.push(PlannedCity::Kept(kept.clone()));
                continue;
            }
            let mut planned = BTreeMap::new();
            for spec in &city.components {
                let new_slot = |ready| Arc::new(Slot::new(&city.id, spec, ready, state, defaults));
                let plan = match current.slot(city.id.as_str(), spec.name.as_str()) {
                    Some(slot) if !slot.same_settings(spec, state, defaults) => {
                        prepare(spec).map(|ready| Planned::New(new_slot(ready), true))
                    }
                    Some(slot) if !slot.same_source(spec) => {
                        prepare(spec).map(|ready| Planned::Swap(slot.clone(), spec.wasm.clone(), ready))
                    }
                    Some(slot) => Some(Planned::Keep(slot.clone())),
                    None => prepare(spec).map(|ready| Planned::New(new_slot(ready), false)),
                };
                if let Some(plan) = plan {
                    planned.insert(spec.name.clone(), plan);
                }
            }
            link_problems.extend(check_links(city, &planned));
            link_problems.extend(check_http(city, &planned));
            planned_cities.push(PlannedCity::Planned(city.clone(), planned));
        }
        diagnostics.extend(link_problems);
        diagnostics.into_result(Self { cities: planned_cities })
    }

    /// Puts the swaps live and builds the route table; counts what it did to the slots.
    pub fn apply(self) -> (Routes, Reloaded) {
        let mut reloaded = Reloaded::default();
        let mut built = Vec::with_capacity(self.cities.len());
        for city in self.cities {
            let (city, planned) = match city {
                PlannedCity::Kept(city) => {
                    reloaded.unchanged += city.slots.len();
                    built.push(city);
                    continue;
                }
                PlannedCity::Planned(city, planned) => (city, planned),
            };
            let slots: BTreeMap<_, _> = planned
                .into_iter()
                .map(|(name, plan)| {
                    let slot = match plan {
                        Planned::Keep(slot) => {
                            reloaded.unchanged += 1;
                            slot
                        }
                        Planned::Swap(slot, wasm, prepared) => {
                            reloaded.swapped += 1;
                            slot.deploy_from_manifest(wasm, prepared);
                            slot
                        }
                        Planned::New(slot, replaces) => {
                            *if replaces { &mut reloaded.replaced } else { &mut reloaded.added } += 1;
                            slot
                        }
                    };
                    (name, slot)
                })
                .collect();
            let routable = city.routes.iter().filter(|r| slots.contains_key(&r.component));
            let routes: Vec<_> = routable.map(|r| (r.path.clone(), r.component.clone())).collect();
            built.push(Arc::new(City::new(city.id.clone(), city.name.clone(), city.hosts.clone(), slots, routes)));
        }
        (Routes::new(built), reloaded)
    }
}

/// Type-checks the links of every component of `city` against the versions the plan puts live.
fn check_links(city: &CitySpec, planned: &BTreeMap<ComponentName, Planned>) -> Vec<Diagnostic> {
    let live: Vec<_> =
        city.components.iter().filter_map(|spec| Some((spec, planned.get(&spec.name)?.live()))).collect();
    let components: Vec<_> = live
        .iter()
        .map(|(spec, ready)| Linked { name: &spec.name, links: &spec.links, contracts: &ready.contracts, at: &spec.at })
        .collect();
    link::check(&city.id, &components)
}

/// A component that is routed to, or has a health path, must export `wasi:http/incoming-handler`.
fn check_http(city: &CitySpec, planned: &BTreeMap<ComponentName, Planned>) -> Vec<Diagnostic> {
    let serves_http = |name: &ComponentName| planned.get(name).is_none_or(|plan| plan.live().http.is_some());
    let mut problems = Vec::new();
    for spec in city.components.iter().filter(|spec| !serves_http(&spec.name)) {
        let routes: Vec<_> =
            city.routes.iter().filter(|r| r.component == spec.name).map(|r| format!("`{}`", r.path)).collect();
        let needs = match (routes.as_slice(), &spec.health) {
            ([], None) => continue,
            ([], Some(health)) => format!("has the health path `{health}`"),
            (routes, _) => format!("is routed at {}", routes.join(", ")),
        };
        let message = format!(
            "component `{}` {needs}, but `{}` does not export `wasi:http/incoming-handler`, so it cannot serve requests",
            spec.name,
            spec.wasm.path.display()
        );
        problems.push(
            Diagnostic::at(spec.at.clone(), message).note("a component that only serves contracts needs no route"),
        );
    }
    problems
}
