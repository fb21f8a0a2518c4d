//! Component slots: a city's named component, holding the version that currently serves it.
//!
//! A [`Prepared`] component (compiled, pre-instantiated) is shared by every city that runs the
//! same bytes; a [`Slot`] is per city and carries that city's grants and budgets, fixed when it
//! is made. Requests take the slot's current [`Version`] when they start and keep it to the end,
//! so a swap never changes a request midway, and an old version is dropped when its last request
//! ends.

use super::Prepared;
use super::failure::Busy;
use super::stats::SlotStats;
use super::store::Grants;
use crate::limits::Limits;
use crate::manifest::{CityId, ComponentName, ComponentSpec, Location, RoutePath, SlotKey, WasmFile};
use crate::state::State;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A city's components by name.
pub type Slots = BTreeMap<ComponentName, Arc<Slot>>;

/// A component as deployed in one slot: which one, since when, and its number in the slot's
/// history (1 for what the manifest loaded, one more for each swap).
pub struct Version {
    pub prepared: Arc<Prepared>,
    /// A rollback brings back the earlier number.
    pub number: u64,
    /// When it went live.
    pub since: SystemTime,
}

impl Version {
    /// A version that is not (yet) in a slot's history, such as a candidate being checked.
    pub fn candidate(prepared: Arc<Prepared>) -> Arc<Self> {
        Arc::new(Self { prepared, number: 0, since: SystemTime::now() })
    }
}

/// A city's component.
pub struct Slot {
    city: CityId,
    name: ComponentName,
    grants: Grants,
    limits: Limits,
    health: Option<RoutePath>,
    /// Where the manifest declares it.
    at: Location,
    /// One permit per request allowed to run at once.
    running: Arc<Semaphore>,
    /// Requests waiting for a place.
    waiting: AtomicU32,
    /// The source the manifest last gave it, to tell what a reload changes (and what a cluster
    /// records); the version serving may be another, swapped in since.
    manifest_source: Mutex<Arc<WasmFile>>,
    current: ArcSwap<Version>,
    /// The version before the current one, for rollback.
    previous: Mutex<Option<Arc<Version>>>,
    stats: SlotStats,
}

impl Slot {
    /// The slot for `spec` in `city`, serving `prepared`, keeping its data in `state`, with the
    /// manifest's limits over the host's `defaults`.
    pub fn new(city: &CityId, spec: &ComponentSpec, prepared: Arc<Prepared>, state: &State, defaults: &Limits) -> Self {
        let limits = spec.limits.over(defaults);
        Self {
            city: city.clone(),
            name: spec.name.clone(),
            grants: Grants::new(city, spec, state),
            limits,
            health: spec.health.clone(),
            at: spec.at.clone(),
            running: Arc::new(Semaphore::new(limits.max_concurrency as usize)),
            waiting: AtomicU32::new(0),
            manifest_source: Mutex::new(spec.wasm.clone()),
            current: ArcSwap::from_pointee(Version { prepared, number: 1, since: SystemTime::now() }),
            previous: Mutex::new(None),
            stats: SlotStats::default(),
        }
    }

    pub fn city(&self) -> &CityId {
        &self.city
    }

    pub fn name(&self) -> &ComponentName {
        &self.name
    }

    /// Its city and name, as the cluster names it.
    pub fn key(&self) -> SlotKey {
        SlotKey { city: self.city.clone(), component: self.name.clone() }
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The path a new version must answer with 2xx before it goes live.
    pub fn health(&self) -> Option<&RoutePath> {
        self.health.as_ref()
    }

    pub fn at(&self) -> &Location {
        &self.at
    }

    /// Whether `spec` sets this component up as the slot does, whatever its source.
    pub fn same_settings(&self, spec: &ComponentSpec, state: &State, defaults: &Limits) -> bool {
        self.grants == Grants::new(&self.city, spec, state)
            && self.limits == spec.limits.over(defaults)
            && self.health == spec.health
    }

    /// Whether the manifest's source is still the one the slot was last given.
    pub fn same_source(&self, spec: &ComponentSpec) -> bool {
        lock(&self.manifest_source).digest == spec.wasm.digest
    }

    /// The source the manifest last gave it.
    pub fn manifest_wasm(&self) -> Arc<WasmFile> {
        lock(&self.manifest_source).clone()
    }

    /// A place among the requests running at once and an instance of the `pool`. When either
    /// is taken and the request may `wait`, it waits in this slot's queue: in arrival order
    /// (tokio's semaphore is fair), behind at most `queue_length` others, for at most `queue`
    /// and never past `deadline`.
    pub(super) async fn places(&self, pool: &Arc<Semaphore>, wait: bool, deadline: Instant) -> Result<Places, Busy> {
        let now = Instant::now();
        if let (Ok(running), Ok(instance)) =
            (self.running.clone().try_acquire_owned(), pool.clone().try_acquire_owned())
        {
            return Ok(Places { _running: running, _instance: instance });
        }
        let until = deadline.min(now + self.limits.queue);
        if !wait || until <= now {
            return Err(self.busy(pool));
        }
        let Some(_waiting) = Waiting::join(&self.waiting, self.limits.queue_length) else {
            return Err(self.busy(pool));
        };
        let within = |places: &Arc<Semaphore>| tokio::time::timeout_at(until.into(), places.clone().acquire_owned());
        let running = within(&self.running).await;
        let instance = match &running {
            Ok(Ok(_)) => Some(within(pool).await),
            _ => None,
        };
        self.stats.record_queued(now.elapsed());
        match (running, instance) {
            (Ok(Ok(running)), Some(Ok(Ok(instance)))) => Ok(Places { _running: running, _instance: instance }),
            (Ok(Ok(_)), _) => Err(Busy::Pool),
            _ => Err(Busy::Concurrency),
        }
    }

    /// Which place is taken now.
    fn busy(&self, pool: &Semaphore) -> Busy {
        if self.running.available_permits() == 0 || pool.available_permits() > 0 {
            Busy::Concurrency
        } else {
            Busy::Pool
        }
    }

    /// The version serving now; a request keeps it to its end.
    pub fn current(&self) -> Arc<Version> {
        self.current.load_full()
    }

    /// The version a rollback would bring back.
    pub fn previous(&self) -> Option<Arc<Version>> {
        lock(&self.previous).clone()
    }

    /// Puts `prepared` live; the current version becomes the previous one.
    pub fn deploy(&self, prepared: Arc<Prepared>) -> Arc<Version> {
        let number = self.current().number + 1;
        self.deploy_as(prepared, number)
    }

    /// Puts `prepared` live as version `number` (a cluster numbers its versions itself); the
    /// current version becomes the previous one.
    pub fn deploy_as(&self, prepared: Arc<Prepared>, number: u64) -> Arc<Version> {
        let mut previous = lock(&self.previous);
        let current = self.current.load_full();
        let next = Arc::new(Version { prepared, number, since: SystemTime::now() });
        self.current.store(next.clone());
        *previous = Some(current);
        next
    }

    /// Puts `prepared`, made of `wasm`, the manifest's new source for this slot, live.
    pub fn deploy_from_manifest(&self, wasm: Arc<WasmFile>, prepared: Arc<Prepared>) -> Arc<Version> {
        *lock(&self.manifest_source) = wasm;
        self.deploy(prepared)
    }

    /// Puts the previous version back live (and the current one in its place), if there is one.
    pub fn roll_back(&self) -> Option<Arc<Version>> {
        let mut previous = lock(&self.previous);
        let back = previous.take()?;
        *previous = Some(self.current.swap(back.clone()));
        Some(back)
    }

    /// Requests, errors and latency of this component in this city.
    pub fn stats(&self) -> &SlotStats {
        &self.stats
    }
}

/// What a running instance holds until it ends: its place among its component's requests
/// and its instance of the pool.
pub(super) struct Places {
    _running: OwnedSemaphorePermit,
    _instance: OwnedSemaphorePermit,
}

/// A place in a slot's queue, given back when dropped.
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    /// Joins the queue `waiting` counts, unless `length` wait already.
    fn join(waiting: &'a AtomicU32, length: u32) -> Option<Self> {
        waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < length).then_some(n + 1)).ok()?;
        Some(Self(waiting))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A poisoned lock still holds a whole value: every change under these locks is one assignment.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
