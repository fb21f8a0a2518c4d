//! The live host: the cities it serves, as a route table published in one atomic store, and
//! every change to them — a reload as a diff ([`plan`]), a swap or rollback ([`swap`], where a
//! swap happens), and re-reading the manifests when they change ([`watch`]).
//!
//! Changes are serialised: a swap, a rollback and a reload each hold one lock from their first
//! look at the slots to their last change, so none of them silently undoes another. Requests
//! never take it; they read the current table without a lock.

pub(crate) mod cluster;
pub(crate) mod manifests;
mod plan;
pub(crate) mod swap;
pub(crate) mod watch;

pub(crate) use cluster::Cluster;
pub(crate) use plan::Reloaded;

use crate::engine::Engine;
use crate::http::{self, Routes};
use crate::limits::Limits;
use crate::manifest::{CityId, CitySpec, Diagnostics};
use crate::sandbox::{Sandbox, Slot};
use crate::state::State;
use arc_swap::{ArcSwap, Guard};
use bytes::Bytes;
use hyper::body::Body;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Everything a running host shares between its listeners.
pub struct Runtime {
    sandbox: Sandbox,
    state: State,
    defaults: Limits,
    routes: ArcSwap<Routes>,
    changes: tokio::sync::Mutex<()>,
    /// Set when the host starts shutting down: from then on it is not ready.
    draining: AtomicBool,
    /// Its cluster, when its state is in a database that other hosts share.
    cluster: Option<Cluster>,
}

impl Runtime {
    /// Loads every city; any component that does not compile or link fails the whole start (the
    /// error is the manifests' [`Diagnostics`]). `defaults` fill in the budgets the manifests
    /// leave out.
    pub fn new(engine: Engine, state: State, defaults: &Limits, cities: &[Arc<CitySpec>]) -> anyhow::Result<Self> {
        Self::clustered(engine, state, defaults, cities, None)
    }

    /// [`Runtime::new`] for a host of `cluster`, which [`join`](Runtime::join)s it once serving.
    pub(crate) fn clustered(
        engine: Engine,
        state: State,
        defaults: &Limits,
        cities: &[Arc<CitySpec>],
        cluster: Option<Cluster>,
    ) -> anyhow::Result<Self> {
        let sandbox = Sandbox::new(engine)?;
        let plan = plan::Plan::new(&sandbox, &state, defaults, cities, |_| true, &Routes::default())?;
        let routes = ArcSwap::from_pointee(plan.apply().0);
        let changes = tokio::sync::Mutex::new(());
        Ok(Self { sandbox, state, defaults: *defaults, routes, changes, draining: AtomicBool::new(false), cluster })
    }

    /// Its cluster, if it is in one.
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Reports the host not ready from now on, so load balancers stop sending before it stops.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Routes and serves one request, as the public listener does; for driving the host without
    /// a socket.
    pub async fn handle<B>(&self, request: ::http::Request<B>) -> ::http::Response<HyperOutgoingBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        http::handle(self, request).await
    }

    /// The slot of component `name` in city `city`.
    pub(crate) fn slot(&self, city: &str, name: &str) -> Option<Arc<Slot>> {
        self.routes.load().slot(city, name).cloned()
    }

    /// Serves `cities` from now on, as a diff against what is served: only the cities `changed`
    /// names are looked at again, and only what changed in them is compiled. Blocks while it
    /// compiles: call it off the threads that serve requests.
    pub(crate) fn reload(&self, cities: &[Arc<CitySpec>], changed: &HashSet<CityId>) -> Result<Reloaded, Diagnostics> {
        let _no_other_change = self.changes.blocking_lock();
        tracing::info!(changed = changed.len(), "applying the manifests");
        let current = self.routes.load_full();
        let plan =
            plan::Plan::new(&self.sandbox, &self.state, &self.defaults, cities, |id| changed.contains(id), &current)?;
        let (routes, reloaded) = plan.apply();
        let reloaded = reloaded.counting_removed(&current, &routes);
        self.routes.store(Arc::new(routes));
        Ok(reloaded)
    }
}

impl http::Host for Runtime {
    fn routes(&self) -> Guard<Arc<Routes>> {
        self.routes.load()
    }

    fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    async fn ready(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("the host is shutting down".into());
        }
        self.state.backend.ping().await.map_err(|e| e.to_string())
    }
}
