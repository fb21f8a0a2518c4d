//! The live host: the engine and the current route table, built from resolved manifests.
//!
//! Each distinct component (by content hash) is compiled and linked once, however many cities
//! run it; every city gets its own slots around the shared versions.

use crate::engine::Engine;
use crate::http::router::{City, Routes};
use crate::limits::Limits;
use crate::manifest::{CitySpec, Diagnostic, Diagnostics, Digest};
use crate::slot::{Loaded, Slot};
use crate::state::State;
use arc_swap::{ArcSwap, Guard};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// Everything a running host shares between its listeners.
pub struct Runtime {
    engine: Engine,
    routes: ArcSwap<Routes>,
}

impl Runtime {
    /// Loads every city; any component that does not compile or link fails the whole start.
    /// `limits` are the host's defaults for what the manifests leave out.
    pub fn new(engine: Engine, state: State, limits: &Limits, cities: &[CitySpec]) -> Result<Self, Diagnostics> {
        let routes = build_routes(&engine, &state, limits, cities)?;
        Ok(Self { engine, routes: ArcSwap::from_pointee(routes) })
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
        let routes = self.routes.load();
        let city = routes.cities().iter().find(|c| c.id.as_str() == city)?;
        city.slots.iter().find(|(n, _)| n.as_str() == name).map(|(_, slot)| slot.clone())
    }
}

/// Compiles each distinct component once and builds every city's slots and routes.
fn build_routes(engine: &Engine, state: &State, limits: &Limits, cities: &[CitySpec]) -> Result<Routes, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    // `None` marks a component that failed, so it is reported once, not once per city.
    let mut loaded: HashMap<Digest, Option<Arc<Loaded>>> = HashMap::new();
    let mut built = Vec::with_capacity(cities.len());
    for city in cities {
        let mut slots = std::collections::BTreeMap::new();
        for spec in &city.components {
            let version = match loaded.entry(spec.wasm.digest) {
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
            if let Some(version) = version {
                slots.insert(spec.name.clone(), Arc::new(Slot::new(&city.id, spec, version, state, limits)));
            }
        }
        let routable = city.routes.iter().filter(|r| slots.contains_key(&r.component));
        let routes: Vec<_> = routable.map(|r| (r.path.clone(), r.component.clone())).collect();
        built.push(City::new(city.id.clone(), city.name.clone(), city.hosts.clone(), slots, routes));
    }
    diagnostics.into_result(Routes::new(built))
}
