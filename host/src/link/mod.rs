//! The micro-proxy between components: a component's `civic:*` imports are served by the
//! components its city's manifest links them to (`links = { "civic:tax/assessment@1" =
//! "local-tax" }`). This is where a link is resolved.
//!
//! - [`Contracts`]: which interfaces a component imports and exports, with the type of each
//!   function, read once when it is loaded.
//! - [`add_to_linker`]: every imported function becomes a host function that looks up the
//!   caller's link for its contract and forwards the call, with the caller's values, to the
//!   [`Callees`] of the request — the one trait through which the layer above (the sandbox's
//!   per-request chain) plugs in. Values cross by copy: contracts have no resources.
//! - [`check`]: the type checks that run at load, in `civic check`, on reload and on swap.

mod check;
mod contracts;

pub(crate) use check::{Linked, check, compatible};
pub(crate) use contracts::{Contracts, Interface};

use crate::manifest::{ComponentName, Contract, Link};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Instant;
use tracing::Instrument as _;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Val};

/// Which component of its city serves each contract a component imports.
#[derive(Clone, Debug, Default)]
pub struct Grant(BTreeMap<Contract, Link>);

impl Grant {
    pub fn new(links: &BTreeMap<Contract, Link>) -> Self {
        Self(links.clone())
    }

    /// The links, with where the manifest declares each, for the type checks.
    pub fn links(&self) -> &BTreeMap<Contract, Link> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Grants compare by the components they link to; where the manifest says so is no setting.
impl PartialEq for Grant {
    fn eq(&self, other: &Self) -> bool {
        let targets = |grant: &Self| grant.0.iter().map(|(c, l)| (c.clone(), l.component.clone())).collect::<Vec<_>>();
        targets(self) == targets(other)
    }
}

/// The instances of one top-level request that linked calls go to. The sandbox implements it:
/// it instantiates each callee on first use, in its own store with its own limits.
#[async_trait::async_trait]
pub trait Callees: Send + Sync {
    /// Calls `function` of `contract` on the request's instance of `callee`.
    async fn call(
        &self,
        callee: &ComponentName,
        contract: &Contract,
        function: &str,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), Cause>;
}

/// How an instance reaches its request's [`Callees`]. The top-level instance owns them; a
/// callee, which they own, only refers to them (a strong reference would be a cycle, never freed).
pub enum CalleesRef {
    Owner(Arc<dyn Callees>),
    Member(Weak<dyn Callees>),
}

impl CalleesRef {
    fn get(&self) -> Option<Arc<dyn Callees>> {
        match self {
            Self::Owner(callees) => Some(callees.clone()),
            Self::Member(callees) => callees.upgrade(),
        }
    }
}

/// What the forwarder needs from the caller's store.
pub struct LinkCtx<'a> {
    pub caller: &'a ComponentName,
    pub grant: &'a Grant,
    pub callees: Option<&'a CalleesRef>,
}

/// How the store's data reaches its link context.
pub trait LinkView {
    fn links(&mut self) -> LinkCtx<'_>;
}

/// Makes each function of each versioned import in `imports` a host function that forwards to
/// the linked component. An unversioned import is left out, so loading reports it as unknown.
pub fn add_to_linker<T: LinkView + Send + 'static>(
    linker: &mut Linker<T>,
    imports: &[Interface],
) -> wasmtime::Result<()> {
    for interface in imports {
        let Some(contract) = &interface.contract else { continue };
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
    async fn forward<T: LinkView>(
        &self,
        mut caller: StoreContextMut<'_, T>,
        params: &[Val],
        results: &mut [Val],
    ) -> wasmtime::Result<()> {
        let ctx = caller.data_mut().links();
        let callee = ctx.grant.0.get(&self.contract).map(|link| &link.component);
        let callees = ctx.callees.and_then(CalleesRef::get);
        let fail = |callee: &str, cause: Cause| LinkError {
            caller: ctx.caller.clone(),
            callee: callee.to_owned(),
            interface: self.interface.clone(),
            function: self.function.clone(),
            cause,
        };
        let (Some(callee), Some(callees)) = (callee, callees) else {
            return Err(fail("nothing", Cause::Failed("the import is not linked".into())).into());
        };
        let span = tracing::info_span!(
            "link",
            caller = %ctx.caller,
            callee = %callee,
            interface = %self.interface,
            function = %self.function,
        );
        let started = Instant::now();
        let outcome = callees
            .call(callee, &self.contract, &self.function, params, results)
            .instrument(span.clone())
            .await
            .map_err(|cause| match cause {
                // A failure further down the chain is reported as it is: it names the culprit.
                Cause::Downstream(inner) => *inner,
                cause => fail(callee.as_str(), cause),
            });
        let duration_us = started.elapsed().as_micros() as u64;
        span.in_scope(|| match &outcome {
            Ok(()) => tracing::info!(duration_us, "linked call"),
            Err(e) => tracing::error!(duration_us, "linked call failed: {}", e.cause),
        });
        outcome.map_err(Into::into)
    }
}

/// Why a linked call did not return.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The callee had no place for another instance: worth trying again later.
    #[error("it is busy (at its `max_concurrency`, or the host at its instance limit)")]
    Busy,
    /// A call the callee made in turn failed.
    #[error("{0}")]
    Downstream(Box<LinkError>),
    #[error("{0}")]
    Failed(String),
}

/// A linked call that did not return: the request it belongs to fails with 502, or with 503 when
/// the callee was busy.
#[derive(Debug, thiserror::Error)]
#[error("`{caller}` called `{function}` of `{interface}` on `{callee}`, and {cause}")]
pub struct LinkError {
    pub caller: ComponentName,
    /// The component that failed.
    pub callee: String,
    pub interface: String,
    pub function: String,
    pub cause: Cause,
}
