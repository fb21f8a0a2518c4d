//! Component slots: a city's named component, holding the version that currently serves it.
//!
//! A [`Loaded`] version (compiled, pre-instantiated) is shared by every city that runs the same
//! bytes; a [`Slot`] is per city and carries that city's config. Requests take the slot's current
//! `Arc<Loaded>` when they start and keep it to the end.

use crate::manifest::{CityId, ComponentName, ComponentSpec, Digest};
use crate::state::State;
use crate::state::keyvalue::KeyValue;
use crate::store::StoreData;
use arc_swap::ArcSwap;
use std::sync::Arc;
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// One component version, compiled and linked against the host, ready to instantiate.
pub struct Loaded {
    /// The content hash of its bytes.
    pub digest: Digest,
    /// Its `wasi:http/incoming-handler` export, pre-instantiated.
    pub proxy: ProxyPre<StoreData>,
}

/// A city's component.
pub struct Slot {
    city: CityId,
    name: ComponentName,
    config: WasiConfigVariables,
    keyvalue: KeyValue,
    current: ArcSwap<Loaded>,
}

impl Slot {
    /// The slot for `spec` in `city`, serving `loaded`, keeping its data in `state`.
    pub fn new(city: &CityId, spec: &ComponentSpec, loaded: Arc<Loaded>, state: &State) -> Self {
        Self {
            city: city.clone(),
            name: spec.name.clone(),
            config: spec.config.iter().collect(),
            keyvalue: KeyValue::new(city, &spec.name, spec.keyvalue.clone(), state.clone()),
            current: ArcSwap::new(loaded),
        }
    }

    /// The city this slot belongs to.
    pub fn city(&self) -> &CityId {
        &self.city
    }

    /// The component's name in its city.
    pub fn name(&self) -> &ComponentName {
        &self.name
    }

    /// What `wasi:config/store` answers to this component in this city.
    pub fn config(&self) -> &WasiConfigVariables {
        &self.config
    }

    /// The key-value buckets this component may open in this city.
    pub fn keyvalue(&self) -> &KeyValue {
        &self.keyvalue
    }

    /// The version serving now; the caller keeps it for the whole request.
    pub fn loaded(&self) -> Arc<Loaded> {
        self.current.load_full()
    }
}
