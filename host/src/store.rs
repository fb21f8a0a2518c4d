//! The state behind each guest instance: one fresh [`Store`] per request (and per linked callee),
//! never reused, so nothing a citizen sent stays in memory for the next one.
//!
//! What a guest can reach is decided here: WASI with no sockets, only the environment variables
//! and directories its manifest grants (directories read-only unless marked writable); its own
//! city's config; outgoing HTTP only as its slot allows.

use crate::engine::Engine;
use crate::limits::CpuShare;
use crate::link::Callees;
use crate::logging::GuestOutput;
use crate::outbound::Outbound;
use crate::slot::Slot;
use crate::state::keyvalue::KeyValueView;
use anyhow::Context as _;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfig;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The `T` of every `Store<T>` the host creates.
pub struct StoreData {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: Outbound,
    limits: StoreLimits,
    slot: Arc<Slot>,
    cpu: CpuShare,
    /// The components its imports are linked to, when it has any.
    pub callees: Option<Callees>,
}

impl StoreData {
    /// This instance's share of the CPU, which its callees share.
    pub fn cpu(&self) -> &CpuShare {
        &self.cpu
    }

    /// The slot this instance belongs to.
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// What `wasi:config/store` answers to this instance.
    pub fn config(&mut self) -> WasiConfig<'_> {
        WasiConfig::from(self.slot.config())
    }

    /// The buckets this instance may open, and its resource table to hold them.
    pub fn keyvalue(&mut self) -> KeyValueView<'_> {
        KeyValueView::new(self.slot.keyvalue(), &mut self.table)
    }
}

/// A fresh store for one instance of `slot`'s component, running under `cpu` (which holds the
/// deadline). Fails only when a granted directory can no longer be opened.
pub fn new_store(engine: &Engine, slot: Arc<Slot>, cpu: CpuShare) -> anyhow::Result<Store<StoreData>> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(GuestOutput::new("stdout"))
        .stderr(GuestOutput::new("stderr"))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .envs(slot.env());
    for grant in slot.files() {
        let perms = if grant.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        wasi.preopened_dir(&grant.host, &grant.guest, perms)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot open `{}` for `{}`", grant.host.display(), grant.guest))?;
    }
    let wasi = wasi.build();
    let data = StoreData {
        table: ResourceTable::new(),
        wasi,
        http: WasiHttpCtx::new(),
        outbound: Outbound::new(&slot),
        // Growth past the limit fails inside the guest (`memory.grow` returns -1), not as a trap.
        limits: StoreLimitsBuilder::new().memory_size(memory_limit(&slot)).build(),
        slot,
        cpu: cpu.clone(),
        callees: None,
    };
    let mut store = Store::new(engine.wasmtime(), data);
    if engine.budgets() {
        store.limiter(|data| &mut data.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| cpu.at_tick());
    }
    Ok(store)
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

fn memory_limit(slot: &Slot) -> usize {
    usize::try_from(slot.limits().memory).unwrap_or(usize::MAX)
}
