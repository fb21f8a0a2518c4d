//! The live host: the engine and the current route table, built from resolved manifests, and
//! rebuilt from them on reload.
//!
//! Each distinct component (by content hash) is compiled and linked once, however many cities
//! run it; every city gets its own slots around the shared components. A reload is a diff: an
//! unchanged component keeps its slot (and any version swapped in since), a changed source is
//! swapped into the same slot, changed settings get a new slot, and the new table is published
//! in one atomic store — or, if anything fails to load, nothing changes.

use crate::engine::Engine;
use crate::http::router::{City, Routes};
use crate::limits::Limits;
use crate::manifest::{CitySpec, ComponentName, ComponentSpec, Diagnostic, Diagnostics, Digest};
use crate::slot::{Change, Loaded, Slot};
use crate::state::State;
use arc_swap::{ArcSwap, Guard};
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Everything a running host shares between its listeners.
pub struct Runtime {
    engine: Engine,
    state: State,
    defaults: Limits,
    routes: ArcSwap<Routes>,
    /// Held by a reload from start to publication, so two never interleave.
    reloading: Mutex<()>,
}

/// What a reload changed.
#[derive(Debug, Default, Serialize)]
pub struct Reloaded {
    /// Cities served now that were not before.
    pub cities_added: usize,
    /// Cities no longer served.
    pub cities_removed: usize,
    /// Components new to their city.
    pub added: usize,
    /// Components whose source changed, swapped into their slot.
    pub swapped: usize,
    /// Components whose settings changed, given a new slot.
    pub replaced: usize,
    /// Components left as they were.
    pub unchanged: usize,
    /// Components no longer in their city.
    pub removed: usize,
}

impl Runtime {
    /// Loads every city; any component that does not compile or link fails the whole start.
    /// `limits` are the host's defaults for what the manifests leave out.
    pub fn new(engine: Engine, state: State, limits: &Limits, cities: &[CitySpec]) -> Result<Self, Diagnostics> {
        let empty = Routes::default();
        let plan = Plan::new(&engine, &state, limits, cities, &empty)?;
        let routes = ArcSwap::from_pointee(plan.apply().0);
        Ok(Self { engine, state, defaults: *limits, routes, reloading: Mutex::new(()) })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The route table as of now. Hold it briefly: it pins the table it was read from.
    pub fn routes(&self) -> Guard<Arc<Routes>> {
        self.routes.load()
    }

    /// The slot of component `name` in city `city`.
    pub fn slot(&self, city: &str, name: &str) -> Option<Arc<Slot>> {
        find_slot(&self.routes.load(), city, name)
    }

    /// Serves `cities` from now on, as a diff against what is served; compiles only what changed.
    /// Blocks while it compiles: call it off the threads that serve requests.
    pub fn reload(&self, cities: &[CitySpec]) -> Result<Reloaded, Diagnostics> {
        let _one_at_a_time = self.reloading.lock().expect("the reload lock");
        let current = self.routes.load_full();
        let plan = Plan::new(&self.engine, &self.state, &self.defaults, cities, &current)?;
        let (routes, mut reloaded) = plan.apply();
        let ids = |routes: &Routes| routes.cities().iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        let (before, after) = (ids(&current), ids(&routes));
        reloaded.cities_added = after.iter().filter(|id| !before.contains(id)).count();
        reloaded.cities_removed = before.iter().filter(|id| !after.contains(id)).count();
        let kept = |city: &City, slot: &Arc<Slot>| {
            find_slot(&routes, city.id.as_str(), slot.name().as_str()).is_some_and(|new| Arc::ptr_eq(&new, slot))
        };
        // Every old slot not kept was either replaced (counted already) or removed.
        let old_slots = current.cities().iter().flat_map(|c| c.slots.values().map(move |s| (c, s)));
        reloaded.removed = old_slots.filter(|(city, slot)| !kept(city, slot)).count() - reloaded.replaced;
        self.routes.store(Arc::new(routes));
        Ok(reloaded)
    }
}

fn find_slot(routes: &Routes, city: &str, name: &str) -> Option<Arc<Slot>> {
    let city = routes.cities().iter().find(|c| c.id.as_str() == city)?;
    city.slots.iter().find(|(n, _)| n.as_str() == name).map(|(_, slot)| slot.clone())
}

/// Type-checks the links of every component of `city` against the versions the plan puts live.
fn check_links(city: &CitySpec, planned: &BTreeMap<ComponentName, Planned>) -> Vec<Diagnostic> {
    let live: Vec<_> =
        city.components.iter().filter_map(|spec| Some((spec, planned.get(&spec.name)?.live()))).collect();
    let components: Vec<_> = live.iter().map(|(spec, loaded)| (*spec, &loaded.contracts)).collect();
    crate::link::check(&city.id, &components)
}

/// A component that is routed to, or has a health path, must export `wasi:http/incoming-handler`.
fn check_http(city: &CitySpec, planned: &BTreeMap<ComponentName, Planned>) -> Vec<Diagnostic> {
    let serves_http = |name: &ComponentName| planned.get(name).is_none_or(|plan| plan.live().proxy.is_some());
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

/// What becomes of each component: everything loaded, nothing live yet.
struct Plan {
    cities: Vec<(CitySpec, BTreeMap<ComponentName, Planned>)>,
}

enum Planned {
    Keep(Arc<Slot>),
    Swap(Arc<Slot>, Arc<Loaded>, Box<ComponentSpec>),
    /// A new slot; `true` when it replaces one whose settings changed.
    New(Arc<Slot>, bool),
}

impl Planned {
    /// The version that serves once the plan is applied.
    fn live(&self) -> Arc<Loaded> {
        match self {
            Self::Keep(slot) | Self::New(slot, _) => slot.current().loaded.clone(),
            Self::Swap(_, loaded, _) => loaded.clone(),
        }
    }
}

impl Plan {
    /// Compiles each distinct new component once and decides every slot against `current`.
    fn new(
        engine: &Engine,
        state: &State,
        limits: &Limits,
        cities: &[CitySpec],
        current: &Routes,
    ) -> Result<Self, Diagnostics> {
        let mut diagnostics = Diagnostics::default();
        // `None` marks a component that failed, so it is reported once, not once per city.
        let mut loaded: HashMap<Digest, Option<Arc<Loaded>>> = HashMap::new();
        let mut load = |spec: &ComponentSpec| match loaded.entry(spec.wasm.digest) {
            Entry::Occupied(entry) => entry.get().clone(),
            Entry::Vacant(entry) => {
                let version = match engine.load(&spec.wasm) {
                    Ok(version) => Some(Arc::new(version)),
                    Err(e) => {
                        let message = format!("component `{}` cannot be loaded: {e:#}", spec.name);
                        diagnostics.push(Diagnostic::at(spec.at.clone(), message));
                        None
                    }
                };
                entry.insert(version).clone()
            }
        };
        let mut planned_cities = Vec::with_capacity(cities.len());
        let mut link_problems = Vec::new();
        for city in cities {
            let mut planned = BTreeMap::new();
            for spec in &city.components {
                let new_slot = |loaded| Arc::new(Slot::new(&city.id, spec, loaded, state, limits));
                let plan = match find_slot(current, city.id.as_str(), spec.name.as_str()) {
                    Some(slot) => match slot.compare(spec) {
                        Change::None => Some(Planned::Keep(slot)),
                        Change::Source => load(spec).map(|new| Planned::Swap(slot, new, Box::new(spec.clone()))),
                        Change::Settings => load(spec).map(|new| Planned::New(new_slot(new), true)),
                    },
                    None => load(spec).map(|new| Planned::New(new_slot(new), false)),
                };
                if let Some(plan) = plan {
                    planned.insert(spec.name.clone(), plan);
                }
            }
            link_problems.extend(check_links(city, &planned));
            link_problems.extend(check_http(city, &planned));
            planned_cities.push((city.clone(), planned));
        }
        diagnostics.extend(link_problems);
        diagnostics.into_result(Self { cities: planned_cities })
    }

    /// Puts the swaps live and builds the route table; counts what it did to the slots.
    fn apply(self) -> (Routes, Reloaded) {
        let mut reloaded = Reloaded::default();
        let mut built = Vec::with_capacity(self.cities.len());
        for (city, planned) in self.cities {
            let slots: BTreeMap<_, _> = planned
                .into_iter()
                .map(|(name, plan)| {
                    let slot = match plan {
                        Planned::Keep(slot) => {
                            reloaded.unchanged += 1;
                            slot
                        }
                        Planned::Swap(slot, loaded, spec) => {
                            reloaded.swapped += 1;
                            slot.deploy_from_manifest(loaded, *spec);
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
            built.push(City::new(city.id, city.name, city.hosts, slots, routes));
        }
        (Routes::new(built), reloaded)
    }
}
