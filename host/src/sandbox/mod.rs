//! One instance of one slot, and everything it runs with.
//!
//! - [`Sandbox`]: the engine, the one linker of the host interfaces, and the CPU turns; it
//!   prepares a component ([`Prepared`]: compiled, linked, pre-instantiated) once per content hash.
//! - [`Slot`] and [`Version`]: a city's component and what serves it now.
//! - [`StoreData`](store::StoreData): an instance's state, composed of every capability's.
//! - [`Instance::start`]: the one way to start an instance (permit, store, deadline,
//!   instantiate), for requests and linked callees alike; [`Chain`]: a request's callees;
//!   [`Failure`]: the one classification of what went wrong.

mod chain;
mod failure;
mod instance;
mod slot;
mod stats;
mod store;

pub(crate) use chain::Chain;
pub(crate) use failure::{Busy, Failure};
pub(crate) use instance::Instance;
pub(crate) use slot::{Slot, Slots, Version};
pub(crate) use stats::{BUCKETS, Snapshot};

use crate::engine::Engine;
use crate::limits::CpuTurns;
use crate::link::{self, Contracts};
use crate::manifest::{Digest, WasmFile};
use std::path::PathBuf;
use store::StoreData;
use wasmtime::component::{InstancePre, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

/// The engine, the linker of the host interfaces, and the CPU turns of one host.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<StoreData>,
    turns: CpuTurns,
}

/// One component, compiled and linked against the host, ready to instantiate.
pub struct Prepared {
    pub digest: Digest,
    /// Where its bytes came from.
    pub source: PathBuf,
    pub pre: InstancePre<StoreData>,
    /// Where its `wasi:http/incoming-handler` is, when it has one; without it, the component can
    /// only serve contracts (no route, no health path).
    pub http: Option<ProxyIndices>,
    pub contracts: Contracts,
}

/// Why a component cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{0:#}")]
    Compile(anyhow::Error),
    #[error("`{path}` imports something this host does not provide: {error:#}")]
    Imports { path: String, error: wasmtime::Error },
    #[error("`{0}` exports neither `wasi:http/incoming-handler` nor a contract, so it can serve nothing")]
    ServesNothing(String),
}

impl Sandbox {
    pub fn new(engine: Engine) -> anyhow::Result<Self> {
        let linker = store::linker(&engine)?;
        Ok(Self { engine, linker, turns: CpuTurns::for_this_machine() })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn turns(&self) -> &CpuTurns {
        &self.turns
    }

    /// Compiles `wasm` (or takes it from the cache) and links it against the host. Blocks while
    /// it compiles.
    pub fn prepare(&self, wasm: &WasmFile) -> Result<Prepared, PrepareError> {
        let path = || wasm.path.display().to_string();
        let component = self.engine.compile(wasm).map_err(PrepareError::Compile)?;
        let contracts = Contracts::of(&component, self.engine.wasmtime());
        let pre = if contracts.imports.is_empty() {
            self.linker.instantiate_pre(&component)
        } else {
            // Its own linker: the host's, plus a forwarder for each function it imports.
            let mut linker = self.linker.clone();
            link::add_to_linker(&mut linker, &contracts.imports).and_then(|()| linker.instantiate_pre(&component))
        };
        let pre = pre.map_err(|error| PrepareError::Imports { path: path(), error })?;
        let http = ProxyIndices::new(&pre).ok();
        if http.is_none() && !contracts.serves_contracts() {
            return Err(PrepareError::ServesNothing(path()));
        }
        Ok(Prepared { digest: wasm.digest, source: wasm.path.clone(), pre, http, contracts })
    }
}
