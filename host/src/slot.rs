//! Component slots: a city's named component, holding the version that currently serves it.
//!
//! A [`Loaded`] component (compiled, pre-instantiated) is shared by every city that runs the same
//! bytes; a [`Slot`] is per city and carries that city's config. Requests take the slot's current
//! [`Version`] when they start and keep it to the end, so a swap ([`crate::swap`]) never changes
//! a request midway, and an old version is dropped when its last request ends.

use crate::limits::Limits;
use crate::link::Contracts;
use crate::manifest::{CityId, ComponentName, ComponentSpec, Contract, Digest, DirectoryGrant, Origin, RoutePath};
use crate::metrics::SlotStats;
use crate::state::State;
use crate::state::keyvalue::KeyValue;
use crate::store::StoreData;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::InstancePre;
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// One component, compiled and linked against the host, ready to instantiate.
pub struct Loaded {
    /// The content hash of its bytes.
    pub digest: Digest,
    /// Where its bytes came from.
    pub source: PathBuf,
    /// The names of what it exports (`wasi:http/incoming-handler@0.2.0`, …).
    pub exports: Vec<String>,
    /// It, pre-instantiated: what a linked call instantiates.
    pub pre: InstancePre<StoreData>,
    /// Its `wasi:http/incoming-handler` export, when it has one; without it, the component can
    /// only serve contracts (no route, no health path).
    pub proxy: Option<ProxyPre<StoreData>>,
    /// The contracts it imports and exports, for links.
    pub contracts: Contracts,
}

/// A component as deployed in one slot: which one, since when, and its number in the slot's
/// history (1 for what the manifest loaded, one more for each swap).
pub struct Version {
    /// The component.
    pub loaded: Arc<Loaded>,
    /// 1, 2, 3… in the order the slot received them; a rollback brings back the earlier number.
    pub number: u64,
    /// When it went live.
    pub since: SystemTime,
}

/// What a reload changes in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing: the slot stays as it is, with any version swapped in since.
    None,
    /// Only the source: the new component is swapped into the same slot.
    Source,
    /// Config, buckets, limits, files or health route: the slot is replaced.
    Settings,
}

/// A city's component.
pub struct Slot {
    city: CityId,
    name: ComponentName,
    config: WasiConfigVariables,
    keyvalue: KeyValue,
    limits: Limits,
    files: Vec<DirectoryGrant>,
    env: Vec<(String, String)>,
    outbound: Vec<Origin>,
    health: Option<RoutePath>,
    links: BTreeMap<Contract, ComponentName>,
    /// One permit per request allowed to run at once.
    running: Arc<Semaphore>,
    /// The manifest entry the slot was last loaded from, to tell what a reload changes.
    spec: Mutex<ComponentSpec>,
    current: ArcSwap<Version>,
    /// The version before the current one, for rollback; the lock also serialises swaps.
    previous: Mutex<Option<Arc<Version>>>,
    stats: SlotStats,
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
            env: spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            outbound: spec.outbound.clone(),
            health: spec.health.clone(),
            links: spec.links.iter().map(|(contract, link)| (contract.clone(), link.component.clone())).collect(),
            running: Arc::new(Semaphore::new(limits.max_concurrency as usize)),
            spec: Mutex::new(spec.clone()),
            current: ArcSwap::from_pointee(Version { loaded, number: 1, since: SystemTime::now() }),
            previous: Mutex::new(None),
            stats: SlotStats::default(),
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

    /// The environment variables this component sees in this city.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The origins this component may send HTTP requests to in this city.
    pub fn outbound(&self) -> &[Origin] {
        &self.outbound
    }

    /// The path a new version must answer with 2xx before it goes live.
    pub fn health(&self) -> Option<&RoutePath> {
        self.health.as_ref()
    }

    /// The component of this city that serves each contract this one imports.
    pub fn links(&self) -> &BTreeMap<Contract, ComponentName> {
        &self.links
    }

    /// The manifest entry the slot was last loaded from.
    pub fn spec(&self) -> ComponentSpec {
        self.spec.lock().expect("the spec lock").clone()
    }

    /// This component's budgets in this city.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A place among the requests running at once, or `None` when all are taken.
    pub fn try_start(&self) -> Option<OwnedSemaphorePermit> {
        self.running.clone().try_acquire_owned().ok()
    }

    /// The version serving now; a request keeps it to its end.
    pub fn current(&self) -> Arc<Version> {
        self.current.load_full()
    }

    /// The version a rollback would bring back.
    pub fn previous(&self) -> Option<Arc<Version>> {
        self.previous.lock().expect("the previous-version lock").clone()
    }

    /// Puts `loaded` live; the current version becomes the previous one. Returns the new version.
    pub fn deploy(&self, loaded: Arc<Loaded>) -> Arc<Version> {
        let mut previous = self.previous.lock().expect("the previous-version lock");
        let current = self.current.load_full();
        let next = Arc::new(Version { loaded, number: current.number + 1, since: SystemTime::now() });
        self.current.store(next.clone());
        *previous = Some(current);
        next
    }

    /// Puts the previous version back live (and the current one in its place), if there is one.
    pub fn roll_back(&self) -> Option<Arc<Version>> {
        let mut previous = self.previous.lock().expect("the previous-version lock");
        let back = previous.take()?;
        *previous = Some(self.current.swap(back.clone()));
        Some(back)
    }

    /// How a reload that brings `spec` for this slot changes it.
    pub fn compare(&self, spec: &ComponentSpec) -> Change {
        let loaded_from = self.spec.lock().expect("the spec lock");
        if !loaded_from.same_settings(spec) {
            Change::Settings
        } else if loaded_from.wasm.digest != spec.wasm.digest {
            Change::Source
        } else {
            Change::None
        }
    }

    /// Puts `loaded`, the new source of the manifest entry `spec`, live.
    pub fn deploy_from_manifest(&self, loaded: Arc<Loaded>, spec: ComponentSpec) -> Arc<Version> {
        *self.spec.lock().expect("the spec lock") = spec;
        self.deploy(loaded)
    }

    /// Requests, errors and latency of this component in this city.
    pub fn stats(&self) -> &SlotStats {
        &self.stats
    }
}
