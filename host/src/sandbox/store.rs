//! The state behind each guest instance, and the one place that lists the capabilities: what a
//! component is granted ([`Grants`], built when its slot is made), the per-store state of each
//! ([`StoreData`], a fresh one per request and per linked callee, never reused, so nothing a
//! citizen sent stays in memory for the next), the views each capability reaches it through,
//! and the linker they are all added to.
//!
//! Adding a capability: its folder under `capability/` (a `Grant`, its per-store state, a view
//! trait and `add_to_linker`), then a field here in `Grants` and in `StoreData`, its view
//! below, and its line in [`linker`].

use super::slot::Slot;
use crate::capability::logging::GuestOutput;
use crate::capability::{config, logging, outbound, wasi};
use crate::engine::Engine;
use crate::limits::CpuShare;
use crate::link::{self, CalleesRef, LinkCtx, LinkView};
use crate::manifest::{CityId, ComponentSpec};
use crate::state::State;
use crate::state::keyvalue::{self, KeyValueCtx, KeyValueView};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What a component may use in its city, from its manifest entry.
#[derive(PartialEq)]
pub struct Grants {
    wasi: wasi::Grant,
    config: config::Grant,
    outbound: outbound::Grant,
    keyvalue: keyvalue::Grant,
    links: link::Grant,
}

impl Grants {
    pub fn new(city: &CityId, spec: &ComponentSpec, state: &State) -> Self {
        Self {
            wasi: wasi::Grant::new(&spec.env, &spec.files),
            config: config::Grant::new(&spec.config),
            outbound: outbound::Grant::new(&spec.outbound),
            keyvalue: keyvalue::Grant::new(city, &spec.name, &spec.keyvalue, state),
            links: link::Grant::new(&spec.links),
        }
    }

    pub fn links(&self) -> &link::Grant {
        &self.links
    }
}

/// The `T` of every `Store<T>` the host creates.
pub struct StoreData {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: outbound::Policy,
    limits: StoreLimits,
    slot: Arc<Slot>,
    callees: Option<CalleesRef>,
    deadline: Instant,
}

/// A fresh store on `on` (the engine its component was compiled for) for one instance of
/// `slot`'s component, running under `cpu` (which holds the deadline), reaching `callees`
/// through its links. Fails only when a granted directory can no longer be opened.
pub fn new_store(
    engine: &Engine,
    on: &wasmtime::Engine,
    slot: Arc<Slot>,
    cpu: CpuShare,
    callees: Option<CalleesRef>,
) -> anyhow::Result<Store<StoreData>> {
    let grants = slot.grants();
    let data = StoreData {
        table: ResourceTable::new(),
        wasi: grants.wasi.context(GuestOutput::stdout(), GuestOutput::stderr())?,
        http: WasiHttpCtx::new(),
        outbound: grants.outbound.policy(),
        // Growth past the limit fails inside the guest (`memory.grow` returns -1), not as a trap.
        limits: StoreLimitsBuilder::new()
            .memory_size(usize::try_from(slot.limits().memory).unwrap_or(usize::MAX))
            .build(),
        slot,
        callees,
        deadline: cpu.deadline(),
    };
    let mut store = Store::new(on, data);
    if engine.budgets() {
        store.limiter(|data| &mut data.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| cpu.at_tick());
    }
    Ok(store)
}

/// The host interfaces every component on `engine` may import, of WASI 0.3 too when `wasip3`;
/// links are added per component.
pub fn linker(engine: &wasmtime::Engine, wasip3: bool) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker, wasip3)?;
    outbound::add_to_linker(&mut linker, wasip3)?;
    config::add_to_linker(&mut linker)?;
    logging::add_to_linker(&mut linker)?;
    keyvalue::add_to_linker(&mut linker)?;
    Ok(linker)
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

impl config::ConfigView for StoreData {
    fn config(&mut self) -> &config::Grant {
        &self.slot.grants().config
    }
}

impl KeyValueView for StoreData {
    fn keyvalue(&mut self) -> KeyValueCtx<'_> {
        KeyValueCtx { grant: &self.slot.grants().keyvalue, table: &mut self.table, deadline: self.deadline }
    }
}

impl LinkView for StoreData {
    fn links(&mut self) -> LinkCtx<'_> {
        LinkCtx { caller: self.slot.name(), grant: &self.slot.grants().links, callees: self.callees.as_ref() }
    }
}
