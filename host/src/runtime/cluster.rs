//! Hosts that agree on versions through the state store's database: no consensus or membership
//! protocol of Civic's own. PostgreSQL holds what each component should serve
//! ([`VersionStore`]); each host brings its slots to that, and reports what it serves.
//!
//! - Joining: a host records its manifests' sources (the first host's become version 1; a
//!   changed source becomes a new version) and serves the cluster's desired versions before it
//!   accepts a request, so a host that starts late serves the latest at once.
//! - Following: every change `NOTIFY`s; each host `LISTEN`s on a connection of its own, reads
//!   everything again after a reconnect (notifications are lost while disconnected), and every
//!   few seconds anyway, as a safety net.
//! - Applying: a version is prepared, linked and health-checked like any swap before it serves;
//!   one a host cannot serve is reported (`refused`), and the host keeps what it served.
//! - Heartbeats: each host says every few seconds that it is alive; one silent for longer than
//!   `forget_after` is forgotten, with what it served.

use super::Runtime;
use super::swap::SwapError;
use crate::http::Host as _;
use crate::manifest::{SlotKey, WasmFile};
use crate::sandbox::{Slot, Version};
use crate::state::StoreError;
use crate::state::postgres::{ClusterRows, Desired, HostRow, Served, VersionStore};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// How often a host says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How often a host reads every desired version, whatever it heard.
const RECONCILE: Duration = Duration::from_secs(10);

/// How long a host waits before it listens again after its connection broke.
const RECONNECT: Duration = Duration::from_secs(1);

/// This host's place in a cluster.
pub struct Cluster {
    store: VersionStore,
    me: HostRow,
    /// Hosts silent for this long are forgotten.
    forget_after: Duration,
    /// What this host last reported of each component, so it reports only changes.
    reported: Mutex<HashMap<SlotKey, Report>>,
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
        let me = HostRow { id, address, admin, started_at: now, seen_at: now };
        Self { store, me, forget_after, reported: Mutex::default() }
    }

    /// Tells the cluster what this host serves of a component, if that changed.
    async fn report(&self, served: Served) {
        let key = served.key.clone();
        let now = (served.number, served.refused.clone());
        let changed = self.reported.lock().unwrap_or_else(PoisonError::into_inner).get(&key) != Some(&now);
        if changed && self.store.report(&served).await.is_ok() {
            self.reported.lock().unwrap_or_else(PoisonError::into_inner).insert(key, now);
        }
    }

    pub fn id(&self) -> &str {
        &self.me.id
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

    /// Every host seen lately, every desired version, and what each host serves.
    pub(crate) async fn rows(&self) -> Result<ClusterRows, StoreError> {
        self.store.cluster(self.forget_after).await
    }
}

impl Runtime {
    /// Takes this host into its cluster: says it is alive, records the manifests' sources, and
    /// serves the cluster's versions. [`Runtime::follow_cluster`] then keeps it there.
    pub(crate) async fn join(self: &Arc<Self>) -> anyhow::Result<()> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        cluster.store.heartbeat(&cluster.me, cluster.forget_after).await?;
        self.adopt_manifests().await?;
        Ok(())
    }

    /// Follows the cluster and says this host is alive, in the background until the host stops.
    pub(crate) fn follow_cluster(self: &Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        tracing::info!(host = cluster.id(), "joined the cluster");
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

    /// Records what the manifests say each slot's source is, then serves what the cluster wants.
    pub(crate) async fn adopt_manifests(self: &Arc<Self>) -> anyhow::Result<()> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        let _no_other_change = self.changes.lock().await;
        let slots: Vec<_> =
            self.routes().cities().iter().flat_map(|c| c.slots.values().cloned().collect::<Vec<_>>()).collect();
        for slot in &slots {
            let wasm = slot.manifest_wasm();
            let desired = cluster.store.adopt(&slot.key(), wasm.digest, &wasm.bytes, cluster.id()).await?;
            // A version this host cannot serve is reported; it keeps what it has.
            let _ = self.bring(slot, &desired).await;
        }
        Ok(())
    }

    /// Says every few seconds that this host is alive.
    async fn heartbeat(&self) {
        let Some(cluster) = &self.cluster else { return };
        let mut beats = tokio::time::interval(HEARTBEAT);
        loop {
            beats.tick().await;
            // An unreachable store is logged once, by the store.
            let _ = cluster.store.heartbeat(&cluster.me, cluster.forget_after).await;
        }
    }

    /// Listens for changes and applies them; reads everything again after each reconnect and
    /// every few seconds.
    async fn follow(self: Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        loop {
            let Ok(mut listener) = cluster.store.listen().await else {
                tokio::time::sleep(RECONNECT).await;
                continue;
            };
            tracing::info!("listening for the cluster's changes");
            self.reconcile_all().await;
            let mut ticks = tokio::time::interval(RECONCILE);
            ticks.tick().await;
            loop {
                tokio::select! {
                    heard = listener.next() => match heard {
                        Some(changed) => self.reconcile_one(&changed).await,
                        None => break,
                    },
                    _ = ticks.tick() => self.reconcile_all().await,
                }
            }
            tracing::warn!("lost the cluster's change notifications; listening again");
        }
    }

    /// Brings every slot to the cluster's desired version.
    async fn reconcile_all(self: &Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        let Ok(desired) = cluster.store.desired().await else { return };
        let _no_other_change = self.changes.lock().await;
        for desired in &desired {
            if let Some(slot) = self.slot(desired.key.city.as_str(), desired.key.component.as_str()) {
                let _ = self.bring(&slot, desired).await;
            }
        }
    }

    /// Brings the slot a notification (`city/component`) names to its desired version.
    async fn reconcile_one(self: &Arc<Self>, changed: &str) {
        let key: SlotKey = match changed.parse() {
            Ok(key) => key,
            Err(e) => return tracing::warn!("a change notification that names no component: {e}"),
        };
        let Some(cluster) = &self.cluster else { return };
        let Ok(Some(desired)) = cluster.store.desired_of(&key).await else { return };
        let _no_other_change = self.changes.lock().await;
        if let Some(slot) = self.slot(key.city.as_str(), key.component.as_str()) {
            let _ = self.bring(&slot, &desired).await;
        }
    }

    /// Makes `slot` serve `desired`, checked like a swap, and reports what it serves (when that
    /// changed). Hold `changes` while calling it.
    pub(super) async fn bring(self: &Arc<Self>, slot: &Arc<Slot>, desired: &Desired) -> Result<(), SwapError> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        let current = slot.current();
        let outcome = self.apply(cluster, slot, &current, desired).await;
        if let Err(reason) = &outcome {
            tracing::error!(city = %slot.city(), component = %slot.name(), version = desired.number,
                "cannot serve the cluster's version: {reason}");
        }
        let serving = slot.current();
        let served = Served {
            host: cluster.id().to_owned(),
            key: slot.key(),
            number: serving.number,
            sha256: serving.prepared.digest,
            since: serving.since,
            refused: outcome.as_ref().err().map(ToString::to_string),
        };
        cluster.report(served).await;
        outcome
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
