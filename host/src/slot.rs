//! Component slots: a city's named component, holding the version that currently serves it.
//!
//! A [`Loaded`] version (compiled, pre-instantiated) is shared by every city that runs the same
//! bytes; a [`Slot`] is per city and carries that city's config. Requests take the slot's current
//! `Arc<Loaded>` when they start and keep it to the end.

use crate::limits::Limits;
use crate::manifest::{CityId, ComponentName, ComponentSpec, Digest, DirectoryGrant};
use crate::state::State;
use crate::state::keyvalue::KeyValue;
use crate::store::StoreData;
use arc_swap::ArcSwap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
    limits: Limits,
    files: Vec<DirectoryGrant>,
    /// One permit per request allowed to run at once.
    running: Arc<Semaphore>,
    current: ArcSwap<Loaded>,
}

impl Slot {
    /// The slot for `spec` in `city`, serving `loaded`, keeping its data in `state`, with the
    /// manifest's limits over the host's `defaults`.
    pub fn new(city: &CityId, spec: &ComponentSpec, loaded: Arc<Loaded>, state: &State, defaults: &Limits) -> Self {
        let limits = spec.limits.over(defaults);
        Self {
            city: city.clone(),
            name: spec.name.clone(),
            config: spec.config.iter().collect(),
            keyvalue: KeyValue::new(city, &spec.name, spec.keyvalue.clone(), state.clone()),
            limits,
            files: spec.files.clone(),
            running: Arc::new(Semaphore::new(limits.max_concurrency as usize)),
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

    /// The host directories this component sees in this city.
    pub fn files(&self) -> &[DirectoryGrant] {
        &self.files
    }

    /// This component's budgets in this city.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A place among the requests running at once, or `None` when all are taken.
    pub fn try_start(&self) -> Option<OwnedSemaphorePermit> {
        self.running.clone().try_acquire_owned().ok()
    }

    /// The version serving now; the caller keeps it for the whole request.
    pub fn loaded(&self) -> Arc<Loaded> {
        self.current.load_full()
    }
}
