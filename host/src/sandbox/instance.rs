//! Starting one instance of one slot — the one way the host does it, for a request and for a
//! linked callee alike: a place among the slot's concurrent requests and an instance of the
//! pool (a request may queue for them, a linked call does not), a fresh store with its
//! deadline, then instantiation from the pooling allocator.

use super::HttpExport;
use super::failure::Failure;
use super::slot::{Places, Slot, Version};
use super::store::{StoreData, new_store};
use crate::engine::Engine;
use crate::limits::CpuShare;
use crate::link::CalleesRef;
use crate::manifest::Contract;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::Func;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p3::bindings::Service;

/// An instance's HTTP handler, of the WASI release its component was built for.
pub enum Handler {
    /// `wasi:http/incoming-handler@0.2`.
    P2(Proxy),
    /// `wasi:http/handler@0.3`.
    P3(Service),
}

/// A running instance of a slot's version, holding its place until it is dropped.
pub struct Instance {
    pub store: Store<StoreData>,
    instance: wasmtime::component::Instance,
    version: Arc<Version>,
    /// Last, so that they are given back after the store has returned its instance to the pool.
    _places: Places,
}

impl Instance {
    /// Instantiates `version` of `slot` under `cpu`; `callees` serve its links. A request may
    /// `wait` in the slot's queue for its places; a linked call may not (its caller already
    /// holds places, and waiting would hold them longer).
    pub async fn start(
        engine: &Engine,
        slot: Arc<Slot>,
        version: Arc<Version>,
        cpu: CpuShare,
        callees: Option<CalleesRef>,
        wait: bool,
    ) -> Result<Self, Failure> {
        let places = slot.places(engine.instances(), wait, cpu.deadline()).await.map_err(Failure::Busy)?;
        let on = version.prepared.pre.engine();
        let mut store = new_store(engine, on, slot, cpu, callees).map_err(|e| Failure::Setup(format!("{e:#}")))?;
        let instance = version.prepared.pre.instantiate_async(&mut store).await.map_err(Failure::of)?;
        Ok(Self { store, instance, version, _places: places })
    }

    /// Its HTTP handler. Loading refuses a route or health path to a component without one, so
    /// this fails only on a bug.
    pub fn http_handler(&mut self) -> wasmtime::Result<Handler> {
        match self.version.prepared.http.as_ref().ok_or_else(|| wasmtime::format_err!("no HTTP export"))? {
            HttpExport::P2(indices) => indices.load(&mut self.store, &self.instance).map(Handler::P2),
            HttpExport::P3(indices) => indices.load(&mut self.store, &self.instance).map(Handler::P3),
        }
    }

    /// Function `name` of its export of `contract`.
    pub fn export(&mut self, contract: &Contract, name: &str) -> Result<Func, String> {
        let missing = || format!("its version {} does not export it", self.version.number);
        let interface = self.version.prepared.contracts.export(contract).ok_or_else(missing)?;
        let index = interface.functions.get(name).and_then(|f| f.export.as_ref()).ok_or_else(missing)?;
        self.instance.get_func(&mut self.store, index).ok_or_else(missing)
    }
}
