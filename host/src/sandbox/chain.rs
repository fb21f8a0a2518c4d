//! The callees of one top-level request: each instantiated on first use, in its own store with
//! its own limits, config and buckets, from whatever version its slot holds at that moment (so
//! swapping a callee needs no relinking), and shared by every instance in the request's chain:
//! a component reached by two paths (A→C and A→B→C) is one instance, for this request only.

use super::failure::Failure;
use super::instance::Instance;
use super::slot::Slots;
use crate::engine::Engine;
use crate::limits::CpuShare;
use crate::link::{Callees, CalleesRef, Cause};
use crate::manifest::{ComponentName, Contract};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;
use tokio::sync::Mutex as AsyncMutex;
use wasmtime::component::Val;

type Open = HashMap<ComponentName, Arc<AsyncMutex<Instance>>>;

pub struct Chain {
    engine: Engine,
    /// The city's slots as the request found them.
    slots: Arc<Slots>,
    /// The top-level request's share of the CPU, which its callees run on.
    cpu: CpuShare,
    me: Weak<Chain>,
    open: Mutex<Open>,
}

impl Chain {
    /// The callees of a request that runs under `cpu`, for the top-level instance to own.
    pub fn for_request(engine: &Engine, slots: Arc<Slots>, cpu: CpuShare) -> CalleesRef {
        let chain =
            Arc::new_cyclic(|me| Self { engine: engine.clone(), slots, cpu, me: me.clone(), open: Mutex::default() });
        CalleesRef::Owner(chain)
    }

    /// The request's instance of `name`, instantiated now if this is the first call to it.
    async fn open(&self, name: &ComponentName) -> Result<Arc<AsyncMutex<Instance>>, Cause> {
        if let Some(callee) = self.lock().get(name) {
            return Ok(callee.clone());
        }
        let unknown = || Cause::Failed("it is not a component of the city".into());
        let slot = self.slots.get(name).ok_or_else(unknown)?.clone();
        let cpu = self.cpu.for_callee(Instant::now() + slot.limits().timeout);
        let chain: Weak<dyn Callees> = self.me.clone();
        let links = (!slot.grants().links().is_empty()).then_some(CalleesRef::Member(chain));
        let version = slot.current();
        let instance =
            Instance::start(&self.engine, slot, version, cpu, links, false).await.map_err(Failure::into_cause)?;
        Ok(self.lock().entry(name.clone()).or_insert_with(|| Arc::new(AsyncMutex::new(instance))).clone())
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Callees for Chain {
    async fn call(
        &self,
        callee: &ComponentName,
        contract: &Contract,
        function: &str,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), Cause> {
        let outcome = async {
            let instance = self.open(callee).await?;
            // Links are acyclic, so a callee is never in a call already; if it were, waiting
            // for it would wait for ourselves.
            let mut instance =
                instance.try_lock_owned().map_err(|_| Cause::Failed("it is already in a call".into()))?;
            let func = instance.export(contract, function).map_err(Cause::Failed)?;
            func.call_async(&mut instance.store, params, results).await.map_err(|e| Failure::of(e).into_cause())
        }
        .await;
        if let Some(slot) = self.slots.get(callee) {
            slot.stats().record_linked_call(outcome.is_ok());
        }
        outcome
    }
}
