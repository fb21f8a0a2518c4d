//! The micro-proxy between components: a component's `civic:*` imports are served by the
//! components its city's manifest links them to (`links = { "civic:tax/assessment@1" =
//! "local-tax" }`).
//!
//! - [`Contracts`]: which linkable interfaces a component imports and exports, with the type of
//!   each function, read once when it is loaded.
//! - [`define_imports`]: every imported function becomes a host function that forwards the call.
//! - [`Chain`]: per top-level request, the callees instantiated so far. A callee runs in its own
//!   store with its own limits, config and buckets; it is instantiated on first use, once per
//!   request however many instances call it, from whatever version its slot holds at that
//!   moment — so swapping a callee needs no relinking. Values cross by copy (contracts have no
//!   resources).
//! - [`check`]: the type checks that run at load, in `civic check`, on reload and on swap.

mod check;

pub use check::{check, compatible};

use crate::http::router::City;
use crate::limits::CpuShare;
use crate::manifest::{ComponentName, Contract};
use crate::runtime::Runtime;
use crate::slot::{Slot, Version};
use crate::store::{StoreData, new_store};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Instant;
use tokio::sync::{Mutex as AsyncMutex, OwnedSemaphorePermit};
use tracing::Instrument as _;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, Instance, Linker, Val};
use wasmtime::{Store, StoreContextMut};

/// The linkable interfaces of a component: every import outside `wasi:` (the host provides
/// those) and every versioned export outside `wasi:`.
#[derive(Default)]
pub struct Contracts {
    /// What it needs from other components.
    pub imports: Vec<Interface>,
    /// What it offers other components.
    pub exports: Vec<Interface>,
}

/// One interface, by its full name (`civic:tax/assessment@1.0.0`).
pub struct Interface {
    /// The name with its version.
    pub name: String,
    /// Its functions by name.
    pub functions: BTreeMap<String, Function>,
}

/// A function of an [`Interface`].
pub struct Function {
    /// Its signature.
    pub ty: ComponentFunc,
    /// Where to find it in an instance, for exports.
    export: Option<ComponentExportIndex>,
}

impl Contracts {
    /// Reads them off `component`'s type.
    pub fn of(component: &Component, engine: &wasmtime::Engine) -> Self {
        let ty = component.component_type();
        let linkable = |name: &str| !name.starts_with("wasi:");
        let functions = |instance: &wasmtime::component::types::ComponentInstance, export: Option<&_>| {
            instance
                .exports(engine)
                .filter_map(|(name, item)| match item.ty {
                    ComponentItem::ComponentFunc(ty) => {
                        let export = export.and_then(|parent| component.get_export_index(Some(parent), name));
                        Some((name.to_owned(), Function { ty, export }))
                    }
                    _ => None,
                })
                .collect()
        };
        let interface = |name: &str, item: ComponentItem, exported: bool| match item {
            ComponentItem::ComponentInstance(instance) if linkable(name) => {
                let index = if exported { component.get_export_index(None, name) } else { None };
                Some(Interface { name: name.to_owned(), functions: functions(&instance, index.as_ref()) })
            }
            _ => None,
        };
        Self {
            imports: ty.imports(engine).filter_map(|(name, item)| interface(name, item.ty, false)).collect(),
            exports: ty
                .exports(engine)
                .filter(|(name, _)| Contract::of(name).is_some())
                .filter_map(|(name, item)| interface(name, item.ty, true))
                .collect(),
        }
    }

    /// The export that serves `contract`, if any.
    pub fn export(&self, contract: &Contract) -> Option<&Interface> {
        self.exports.iter().find(|e| Contract::of(&e.name).as_ref() == Some(contract))
    }
}

/// Makes each function of each versioned import in `imports` a host function that forwards to
/// the linked component. An unversioned import is left out, so loading reports it as unknown.
pub fn define_imports(linker: &mut Linker<StoreData>, imports: &[Interface]) -> wasmtime::Result<()> {
    for interface in imports {
        let Some(contract) = Contract::of(&interface.name) else { continue };
        let mut instance = linker.instance(&interface.name)?;
        for function in interface.functions.keys() {
            let hop = Arc::new(Hop {
                contract: contract.clone(),
                interface: interface.name.clone(),
                function: function.clone(),
            });
            instance.func_new_async(function, move |caller, _, params, results| {
                let hop = hop.clone();
                Box::new(async move { hop.forward(caller, params, results).await })
            })?;
        }
    }
    Ok(())
}

/// One imported function of a caller.
struct Hop {
    contract: Contract,
    interface: String,
    function: String,
}

impl Hop {
    /// Calls the linked component's export with the caller's arguments; its results become the
    /// caller's. One span per hop, under the request's span.
    async fn forward(
        &self,
        mut caller: StoreContextMut<'_, StoreData>,
        params: &[Val],
        results: &mut [Val],
    ) -> wasmtime::Result<()> {
        let data = caller.data_mut();
        let caller_name = data.slot().name().clone();
        let callee_name = data.slot().links().get(&self.contract).cloned();
        let fail = |callee: &str, cause: Cause| LinkError {
            caller: caller_name.clone(),
            callee: callee.to_owned(),
            interface: self.interface.clone(),
            function: self.function.clone(),
            cause,
        };
        let cpu = data.cpu().clone();
        let chain = data.callees.as_ref().and_then(Callees::chain);
        let (Some(callee_name), Some(chain)) = (callee_name, chain) else {
            return Err(fail("nothing", Cause::Failed("the import is not linked".into())).into());
        };
        let span = tracing::info_span!(
            "link",
            caller = %caller_name,
            callee = %callee_name,
            interface = %self.interface,
            function = %self.function,
        );
        let started = Instant::now();
        let outcome = async {
            let callee = chain.open(&callee_name, &cpu).await.map_err(|cause| fail(callee_name.as_str(), cause))?;
            // Links are acyclic, so a callee is never in a call already; if it were, waiting
            // for it would wait for ourselves.
            let mut callee = callee
                .try_lock_owned()
                .map_err(|_| fail(callee_name.as_str(), Cause::Failed("it is already in a call".into())))?;
            let func = callee
                .function(&self.contract, &self.function)
                .map_err(|cause| fail(callee_name.as_str(), Cause::Failed(cause)))?;
            func.call_async(&mut callee.store, params, results).await.map_err(|error| {
                // A failure further down the chain is reported as it is: it names the culprit.
                match error.downcast::<LinkError>() {
                    Ok(inner) => inner,
                    Err(error) => fail(callee_name.as_str(), describe(&error)),
                }
            })
        }
        .instrument(span.clone())
        .await;
        if let Some(slot) = chain.city.slots.get(&callee_name) {
            slot.stats().record_linked_call(outcome.is_ok());
        }
        let duration_us = started.elapsed().as_micros() as u64;
        span.in_scope(|| match &outcome {
            Ok(()) => tracing::info!(duration_us, "linked call"),
            Err(e) => tracing::error!(duration_us, "linked call failed: {}", e.cause),
        });
        outcome.map_err(Into::into)
    }
}

fn describe(error: &wasmtime::Error) -> Cause {
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        Cause::Failed("it ran past its deadline".to_owned())
    } else if error.root_cause().downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        Cause::Busy
    } else {
        Cause::Failed(format!("it failed: {}", error.root_cause()))
    }
}

/// Why a linked call did not return.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The callee had no place for another instance: worth trying again later.
    #[error("it is busy (at its `max_concurrency`, or the host at its instance limit)")]
    Busy,
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// A linked call that did not return: the request it belongs to fails with 502, or with 503 when
/// the callee was busy.
#[derive(Debug, thiserror::Error)]
#[error("`{caller}` called `{function}` of `{interface}` on `{callee}`, and {cause}")]
pub struct LinkError {
    /// The component that called.
    pub caller: ComponentName,
    /// The component that failed.
    pub callee: String,
    /// The interface, with its version.
    pub interface: String,
    /// The function.
    pub function: String,
    /// What happened.
    pub cause: Cause,
}

/// The callees of one top-level request, opened on first use and shared by every instance in
/// its chain: a component reached by two paths (A→C and A→B→C) is instantiated once.
pub struct Chain {
    runtime: Arc<Runtime>,
    city: Arc<City>,
    open: Mutex<HashMap<ComponentName, Arc<AsyncMutex<Callee>>>>,
}

impl Chain {
    /// The instance of `name`, instantiated now, under the caller's `cpu` share, if this is the
    /// request's first call to it.
    async fn open(self: &Arc<Self>, name: &ComponentName, cpu: &CpuShare) -> Result<Arc<AsyncMutex<Callee>>, Cause> {
        if let Some(callee) = self.lock().get(name) {
            return Ok(callee.clone());
        }
        let unknown = || Cause::Failed("it is not a component of the city".into());
        let slot = self.city.slots.get(name).ok_or_else(unknown)?.clone();
        let callee = Arc::new(AsyncMutex::new(Callee::start(self, slot, cpu).await?));
        Ok(self.lock().entry(name.clone()).or_insert(callee).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ComponentName, Arc<AsyncMutex<Callee>>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How an instance reaches its request's [`Chain`]. The top-level instance owns it; a callee,
/// which the chain owns, only refers to it (a strong reference would be a cycle, never freed).
pub enum Callees {
    /// Held by the top-level instance.
    Owner(Arc<Chain>),
    /// Held by a callee.
    Member(Weak<Chain>),
}

impl Callees {
    /// A new chain for a request served from `city`'s slots as the request found them.
    pub fn new(runtime: Arc<Runtime>, city: Arc<City>) -> Self {
        Self::Owner(Arc::new(Chain { runtime, city, open: Mutex::default() }))
    }

    /// The chain, while its request lasts.
    fn chain(&self) -> Option<Arc<Chain>> {
        match self {
            Self::Owner(chain) => Some(chain.clone()),
            Self::Member(chain) => chain.upgrade(),
        }
    }
}

/// A callee's instance, alive until its request's top-level instance is dropped.
struct Callee {
    store: Store<StoreData>,
    instance: Instance,
    version: Arc<Version>,
    /// Its place among the slot's concurrent requests.
    _running: OwnedSemaphorePermit,
}

impl Callee {
    async fn start(chain: &Arc<Chain>, slot: Arc<Slot>, cpu: &CpuShare) -> Result<Self, Cause> {
        let running = slot.try_start().ok_or(Cause::Busy)?;
        let version = slot.current();
        let cpu = cpu.for_callee(Instant::now() + slot.limits().timeout);
        let linked = !slot.links().is_empty();
        let mut store = new_store(chain.runtime.engine(), slot, cpu).map_err(|e| Cause::Failed(format!("{e:#}")))?;
        if linked {
            store.data_mut().callees = Some(Callees::Member(Arc::downgrade(chain)));
        }
        let instance = version.loaded.pre.instantiate_async(&mut store).await.map_err(|e| describe(&e))?;
        Ok(Self { store, instance, version, _running: running })
    }

    fn function(&mut self, contract: &Contract, name: &str) -> Result<wasmtime::component::Func, String> {
        let missing = || format!("its version {} does not export it", self.version.number);
        let interface = self.version.loaded.contracts.export(contract).ok_or_else(missing)?;
        let index = interface.functions.get(name).and_then(|f| f.export.as_ref()).ok_or_else(missing)?;
        self.instance.get_func(&mut self.store, index).ok_or_else(missing)
    }
}
