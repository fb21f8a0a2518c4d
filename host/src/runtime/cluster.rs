//! Hosts that agree on versions through the state store's database: no consensus or membership
//! protocol of Civic's own. PostgreSQL holds what each component should serve
//! ([`VersionStore`]); each host brings its slots to that, and reports what it serves.
//!
//! - Joining: a host records its manifests' sources, 5,000 slots at a time (the first
//!   host's become version 1; a changed source becomes a new version) and serves the cluster's
//!   desired versions before it accepts a request, so a host that starts late serves the latest
//!   at once.
//! - Following: every change is numbered and `NOTIFY`s; each host `LISTEN`s on a connection of
//!   its own and reads the desired versions changed since the last change it saw — when it
//!   hears one, after a reconnect (notifications are lost while disconnected), and every few
//!   seconds anyway, as a safety net. An idle host's queries are that read and its heartbeat.
//! - Applying: a version is prepared, linked and health-checked like any swap before it serves;
//!   one a host cannot serve is reported (`refused`), and the host keeps what it served.
//! - Reporting: a host says up to which change it has applied every change, and reports a
//!   component only where it serves another version than the desired one, so that hosts that
//!   agree write nothing per component.
//! - Heartbeats: each host says every few seconds that it is alive and how far it has applied;
//!   one silent for longer than `forget_after` is forgotten, with what it served.

use super::Runtime;
use super::swap::SwapError;
use crate::http::Host as _;
use crate::manifest::{CityId, SlotKey, WasmFile};
use crate::sandbox::{Slot, Version};
use crate::state::StoreError;
use crate::state::postgres::{Adoption, ClusterFilter, ClusterRows, Desired, HostRow, Known, Served, VersionStore};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// How often a host says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How often a host reads what changed, whatever it heard.
const RECONCILE: Duration = Duration::from_secs(10);

/// Slots adopted per transaction when the manifests load.
const ADOPT_BATCH: usize = 5000;

/// How long a host waits before it listens again after its connection broke.
const RECONNECT: Duration = Duration::from_secs(1);

/// This host's place in a cluster.
pub struct Cluster {
    store: VersionStore,
    me: HostRow,
    /// Hosts silent for this long are forgotten.
    forget_after: Duration,
    /// The components this host reported serving otherwise than desired, and what it reported.
    reported: Mutex<HashMap<SlotKey, Report>>,
    /// The last change this host has applied: it reads only those after, and says so.
    seen: AtomicI64,
}

/// A version number served, and why the desired one is not, when it is not.
type Report = (u64, Option<String>);

impl Cluster {
    pub fn new(
        store: VersionStore,
        id: String,
        address: String,
        admin: Option<String>,
        forget_after: Duration,
    ) -> Self {
        let now = SystemTime::now();
        let me = HostRow { id, address, admin, started_at: now, seen_at: now, seen_change: 0 };
        Self { store, me, forget_after, reported: Mutex::default(), seen: AtomicI64::new(0) }
    }

    /// Tells the cluster what this host serves of some components, each with whether that is
    /// the desired version: a row where it is not and that changed, none where it is (and the
    /// row it had reported before removed).
    async fn report(&self, served: Vec<(Served, bool)>) {
        let report = |served: &Served| (served.number, served.refused.clone());
        let (otherwise, agreeing): (Vec<Served>, Vec<SlotKey>) = {
            let reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
            let mut otherwise = Vec::new();
            let mut agreeing = Vec::new();
            for (served, desired) in served {
                match desired {
                    true if reported.contains_key(&served.key) => agreeing.push(served.key),
                    true => {}
                    false if reported.get(&served.key) != Some(&report(&served)) => otherwise.push(served),
                    false => {}
                }
            }
            (otherwise, agreeing)
        };
        if otherwise.is_empty() && agreeing.is_empty() {
            return;
        }
        let keys: Vec<&SlotKey> = agreeing.iter().collect();
        if self.store.report(self.id(), &otherwise, &keys).await.is_ok() {
            let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
            reported.extend(otherwise.iter().map(|s| (s.key.clone(), report(s))));
            for key in &agreeing {
                reported.remove(key);
            }
        }
    }

    /// Says this host is alive and how far it has applied the cluster's changes.
    async fn beat(&self) -> Result<(), StoreError> {
        let me = HostRow { seen_change: self.seen.load(Ordering::Acquire), ..self.me.clone() };
        self.store.heartbeat(&me, self.forget_after).await
    }

    pub fn id(&self) -> &str {
        &self.me.id
    }

    /// What this host serves in `slot` now, and why not the desired version when `refused`.
    fn serving(&self, slot: &Slot, refused: Option<String>) -> Served {
        let serving = slot.current();
        Served {
            host: self.id().to_owned(),
            key: slot.key(),
            number: serving.number,
            sha256: serving.prepared.digest,
            since: serving.since,
            refused,
        }
    }

    /// Tells the cluster that this host serves what it just swapped into `slot`: a change of
    /// its own, which it does not read back.
    pub(super) async fn report_swapped(&self, slot: &Slot) {
        self.report(vec![(self.serving(slot, None), true)]).await;
    }

    pub(crate) fn store(&self) -> &VersionStore {
        &self.store
    }

    /// The bytes of the cluster's version `number` of `slot`'s component.
    pub(super) async fn wasm(&self, slot: &Slot, number: u64) -> Result<WasmFile, SwapError> {
        let key = slot.key();
        let bytes = self.store.wasm(&key, number).await.map_err(SwapError::Store)?;
        Ok(WasmFile::from_bytes(PathBuf::from(format!("version {number} of {key}")), bytes))
    }

    /// Every host seen lately, a page of desired versions, and what each host serves of them.
    pub(crate) async fn rows(&self, filter: &ClusterFilter<'_>) -> Result<ClusterRows, StoreError> {
        self.store.cluster(self.forget_after, filter).await
    }
}

impl Runtime {
    /// Takes this host into its cluster: says it is alive, records the manifests' sources, and
    /// serves the cluster's versions; how long that took, for the log.
    /// [`Runtime::follow_cluster`] then keeps it there.
    pub(crate) async fn join(self: &Arc<Self>) -> anyhow::Result<Duration> {
        let started = std::time::Instant::now();
        let Some(cluster) = &self.cluster else { return Ok(started.elapsed()) };
        // Alive, having applied nothing yet: what it served before it started is forgotten.
        cluster.beat().await?;
        cluster.store.forget_served(cluster.id()).await?;
        // Every change up to now is seen by the adoption, which reads each slot's desired
        // version after; what changes from here on, following reads.
        let last = cluster.store.last_change().await?;
        self.adopt_manifests(None).await?;
        // Then what others changed meanwhile, which takes it past its own adoptions too.
        cluster.seen.store(last, Ordering::Release);
        self.reconcile().await;
        cluster.beat().await?;
        Ok(started.elapsed())
    }

    /// Follows the cluster and says this host is alive, in the background until the host stops.
    /// `joining` is how long [`Runtime::join`] took.
    pub(crate) fn follow_cluster(self: &Arc<Self>, joining: Duration) {
        let Some(cluster) = &self.cluster else { return };
        tracing::info!(host = cluster.id(), seconds = joining.as_secs_f64(), "joined the cluster");
        let (heartbeat, follow) = (self.clone(), self.clone());
        crate::task::supervise("heartbeat", move || {
            let runtime = heartbeat.clone();
            async move { runtime.heartbeat().await }
        });
        crate::task::supervise("follow", move || follow.clone().follow());
    }

    /// Leaves the cluster: other hosts stop counting this one at once.
    pub(crate) async fn leave(&self) {
        if let Some(cluster) = &self.cluster {
            let gone = HostRow { seen_at: SystemTime::UNIX_EPOCH, ..cluster.me.clone() };
            let _ = cluster.store.forget(&gone).await;
        }
    }

    /// Records what the manifests say each slot's source is (of the cities `changed` names, or
    /// of all), then serves what the cluster wants.
    pub(crate) async fn adopt_manifests(self: &Arc<Self>, changed: Option<&HashSet<CityId>>) -> anyhow::Result<()> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        let _no_other_change = self.changes.lock().await;
        let routes = self.routes();
        let cities = routes.cities().iter().filter(|c| changed.is_none_or(|changed| changed.contains(&c.id)));
        let slots: Vec<_> = cities.flat_map(|c| c.slots.values().cloned().collect::<Vec<_>>()).collect();
        drop(routes);
        if changed.is_some() {
            for batch in slots.chunks(ADOPT_BATCH) {
                self.adopt_batch(cluster, batch, None).await?;
            }
            return Ok(());
        }
        // All of them: the cluster's desired versions read a page at a time in key order (one
        // index scan, not a lookup per slot), each page's slots adopted against it; those in no
        // page are new to the cluster.
        let index: HashMap<(&str, &str), usize> =
            slots.iter().enumerate().map(|(i, slot)| ((slot.city().as_str(), slot.name().as_str()), i)).collect();
        let mut paged = vec![false; slots.len()];
        let mut after: Option<SlotKey> = None;
        loop {
            let page = cluster.store.desired_page(after.as_ref(), ADOPT_BATCH).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.key.clone());
            let found = page.iter().filter_map(|(d, _)| index.get(&(d.key.city.as_str(), d.key.component.as_str())));
            let batch: Vec<_> = found
                .map(|&i| {
                    paged[i] = true;
                    slots[i].clone()
                })
                .collect();
            let known: Known =
                page.into_iter().map(|(desired, manifest)| (desired.key.clone(), (desired, manifest))).collect();
            self.adopt_batch(cluster, &batch, Some(&known)).await?;
        }
        let new: Vec<_> =
            slots.iter().zip(&paged).filter(|(_, paged)| !**paged).map(|(slot, _)| slot.clone()).collect();
        for batch in new.chunks(ADOPT_BATCH) {
            self.adopt_batch(cluster, batch, Some(&Known::new())).await?;
        }
        Ok(())
    }

    /// Adopts the manifests' sources of `batch` (`read`: what the cluster held of them a moment
    /// ago, when known) and serves what the cluster wants of them.
    async fn adopt_batch(
        self: &Arc<Self>,
        cluster: &Cluster,
        batch: &[Arc<Slot>],
        read: Option<&Known>,
    ) -> anyhow::Result<()> {
        let sources: Vec<_> = batch.iter().map(|slot| slot.manifest_wasm()).collect();
        let adoptions: Vec<_> = batch
            .iter()
            .zip(&sources)
            .map(|(slot, wasm)| Adoption { key: slot.key(), sha256: wasm.digest, wasm: &wasm.bytes })
            .collect();
        let desired = cluster.store.adopt(&adoptions, cluster.id(), read).await?;
        let mut served = Vec::with_capacity(batch.len());
        for (slot, desired) in batch.iter().zip(&desired) {
            // A version this host cannot serve is reported; it keeps what it has.
            served.push(self.settle(cluster, slot, desired).await.1);
        }
        cluster.report(served).await;
        Ok(())
    }

    /// Says every few seconds that this host is alive.
    async fn heartbeat(&self) {
        let Some(cluster) = &self.cluster else { return };
        let mut beats = tokio::time::interval(HEARTBEAT);
        loop {
            beats.tick().await;
            // An unreachable store is logged once, by the store.
            let _ = cluster.beat().await;
        }
    }

    /// Listens for changes and applies them; reads what changed after each reconnect, after
    /// each notification (those heard meanwhile are covered by the same read) and every few
    /// seconds.
    async fn follow(self: Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        loop {
            let Ok(mut listener) = cluster.store.listen().await else {
                tokio::time::sleep(RECONNECT).await;
                continue;
            };
            tracing::info!("listening for the cluster's changes");
            self.reconcile().await;
            let mut ticks = tokio::time::interval(RECONCILE);
            ticks.tick().await;
            loop {
                tokio::select! {
                    heard = listener.next() => match heard {
                        Some(_) => listener.drain(),
                        None => break,
                    },
                    _ = ticks.tick() => {}
                }
                self.reconcile().await;
            }
            tracing::warn!("lost the cluster's change notifications; listening again");
        }
    }

    /// Brings every slot whose desired version changed since the last change seen to it.
    async fn reconcile(self: &Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        // Held from the read on: a change of this host's own, which the read skips, is applied
        // in full before it.
        let _no_other_change = self.changes.lock().await;
        let since = cluster.seen.load(Ordering::Acquire);
        let Ok((last, changes)) = cluster.store.desired_since(since, cluster.id()).await else { return };
        if last <= since {
            return;
        }
        let mut served = Vec::new();
        for desired in &changes {
            if let Some(slot) = self.slot(desired.key.city.as_str(), desired.key.component.as_str()) {
                served.push(self.settle(cluster, &slot, desired).await.1);
            }
        }
        cluster.report(served).await;
        cluster.seen.fetch_max(last, Ordering::AcqRel);
        // Said at once rather than at the next heartbeat: the cluster's view agrees sooner.
        let _ = cluster.beat().await;
    }

    /// Makes `slot` serve `desired`, checked like a swap, and reports what it serves (when that
    /// changed). Hold `changes` while calling it.
    pub(super) async fn bring(self: &Arc<Self>, slot: &Arc<Slot>, desired: &Desired) -> Result<(), SwapError> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        let (outcome, served) = self.settle(cluster, slot, desired).await;
        cluster.report(vec![served]).await;
        outcome
    }

    /// Makes `slot` serve `desired`, checked like a swap; what it serves after, and whether
    /// that is `desired`, to report.
    async fn settle(
        self: &Arc<Self>,
        cluster: &Cluster,
        slot: &Arc<Slot>,
        desired: &Desired,
    ) -> (Result<(), SwapError>, (Served, bool)) {
        let current = slot.current();
        let outcome = self.apply(cluster, slot, &current, desired).await;
        if let Err(reason) = &outcome {
            tracing::error!(city = %slot.city(), component = %slot.name(), version = desired.number,
                "cannot serve the cluster's version: {reason}");
        }
        let served = cluster.serving(slot, outcome.as_ref().err().map(ToString::to_string));
        let as_desired = outcome.is_ok() && served.number == desired.number && served.sha256 == desired.sha256;
        (outcome, (served, as_desired))
    }

    /// Puts `desired` live in `slot` in place of `current`, unless it is live already.
    async fn apply(
        self: &Arc<Self>,
        cluster: &Cluster,
        slot: &Arc<Slot>,
        current: &Version,
        desired: &Desired,
    ) -> Result<(), SwapError> {
        let same = |version: &Version| version.prepared.digest == desired.sha256;
        if current.number == desired.number && same(current) {
            return Ok(());
        }
        let (city, name) = (slot.city().as_str(), slot.name().as_str());
        // A rollback asks for the version just before: it is at hand.
        if let Some(previous) = slot.previous().filter(|p| p.number == desired.number && same(p)) {
            self.check_links(slot, &previous.prepared)?;
            slot.roll_back();
        } else if same(current) {
            slot.deploy_as(current.prepared.clone(), desired.number);
        } else {
            let prepared = self.check(slot, cluster.wasm(slot, desired.number).await?).await?;
            slot.deploy_as(prepared, desired.number);
        }
        tracing::info!(city = %city, component = %name, version = desired.number, sha256 = %desired.sha256, "serving the cluster's version");
        Ok(())
    }
}
