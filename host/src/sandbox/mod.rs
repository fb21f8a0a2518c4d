//! One instance of one slot, and everything it runs with.
//!
//! - [`Sandbox`]: the engine, the linker of the host interfaces (one per wasmtime engine), and the
//!   CPU turns; it prepares a component ([`Prepared`]: compiled, linked, pre-instantiated) once
//!   per content hash.
//! - [`Slot`] and [`Version`]: a city's component and what serves it now.
//! - [`StoreData`](store::StoreData): an instance's state, composed of every capability's.
//! - [`Instance::start`]: the one way to start an instance (permit, store, deadline,
//!   instantiate), for requests and linked callees alike; [`Chain`]: a request's callees;
//!   [`Failure`]: the one classification of what went wrong.

mod chain;
mod failure;
mod instance;
mod refusal;
mod slot;
mod stats;
mod store;

pub(crate) use chain::Chain;
pub(crate) use failure::{Busy, Failure};
pub(crate) use instance::{Handler, Instance};
pub(crate) use refusal::RefusalKind;
pub(crate) use slot::{Slot, Slots, Version};
pub(crate) use stats::{BUCKETS, Snapshot};

use crate::engine::{CompileError, Engine};
use crate::limits::{CpuTurns, Shape};
use crate::link::{self, Contracts};
use crate::manifest::{Digest, WasmFile};
use std::path::PathBuf;
use store::StoreData;
use wasmtime::component::{InstancePre, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyIndices;
use wasmtime_wasi_http::p3::bindings::ServiceIndices;

/// The engine, the linkers of the host interfaces, and the CPU turns of one host.
pub struct Sandbox {
    engine: Engine,
    /// WASI 0.2 and the platform, for components without the async model.
    linker: Linker<StoreData>,
    /// The same and WASI 0.3, on the engine with the async model (`--experimental-wasip3`).
    async_linker: Option<Linker<StoreData>>,
    turns: CpuTurns,
}

/// One component, compiled and linked against the host, ready to instantiate.
pub struct Prepared {
    pub digest: Digest,
    /// Where its bytes came from.
    pub source: PathBuf,
    pub pre: InstancePre<StoreData>,
    /// Where its HTTP handler is, when it has one; without it, the component can only serve
    /// contracts (no route, no health path).
    pub http: Option<HttpExport>,
    pub contracts: Contracts,
}

/// The HTTP handler a component exports: of WASI 0.2 or, with `--experimental-wasip3`, of 0.3.
pub enum HttpExport {
    /// `wasi:http/incoming-handler@0.2`.
    P2(ProxyIndices),
    /// `wasi:http/handler@0.3`.
    P3(ServiceIndices),
}

impl HttpExport {
    /// Whether `interface` is the HTTP handler of either release: a new version may serve the
    /// same routes with the other.
    pub fn is_handler(interface: &str) -> bool {
        interface.starts_with("wasi:http/incoming-handler@0.2") || interface.starts_with("wasi:http/handler@0.3")
    }

    fn of(pre: &InstancePre<StoreData>) -> Option<Self> {
        ProxyIndices::new(pre).map(Self::P2).or_else(|_| ServiceIndices::new(pre).map(Self::P3)).ok()
    }
}

/// Why a component cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("`{path}` imports something this host does not provide: {error:#}")]
    Imports { path: String, error: wasmtime::Error },
    #[error("`{0}` exports neither a `wasi:http` handler nor a contract, so it can serve nothing")]
    ServesNothing(String),
    #[error(
        "`{path}` needs {needs} per instance, more than the {room} this host's pool was built for at \
         start: restart the host to size its pool for it"
    )]
    Pool { path: String, needs: Shape, room: Shape },
}

impl Sandbox {
    pub fn new(engine: Engine) -> anyhow::Result<Self> {
        let linker = store::linker(engine.wasmtime(), false)?;
        let async_linker = engine.async_wasmtime().map(|engine| store::linker(engine, true)).transpose()?;
        Ok(Self { engine, linker, async_linker, turns: CpuTurns::for_this_machine() })
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
        let (needs, room) = (self.engine.shape(wasm), self.engine.pool().per_instance);
        if !needs.fits(room) {
            return Err(PrepareError::Pool { path: path(), needs, room });
        }
        let component = self.engine.compile(wasm)?;
        let contracts = Contracts::of(&component, component.engine());
        // The linker of the engine it was compiled for.
        let host = match &self.async_linker {
            Some(linker) if wasmtime::Engine::same(linker.engine(), component.engine()) => linker,
            _ => &self.linker,
        };
        let pre = if contracts.imports.is_empty() {
            host.instantiate_pre(&component)
        } else {
            // Its own linker: the host's, plus a forwarder for each function it imports.
            let mut linker = host.clone();
            link::add_to_linker(&mut linker, &contracts.imports).and_then(|()| linker.instantiate_pre(&component))
        };
        let pre = pre.map_err(|error| PrepareError::Imports { path: path(), error })?;
        let http = HttpExport::of(&pre);
        if http.is_none() && !contracts.serves_contracts() {
            return Err(PrepareError::ServesNothing(path()));
        }
        Ok(Prepared { digest: wasm.digest, source: wasm.path.clone(), pre, http, contracts })
    }
}
