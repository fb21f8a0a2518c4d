//! Replacing a city's component with a new version while the host serves, and rolling back:
//! where a swap happens.
//!
//! A new version is prepared and checked before it goes live: it must provide every interface
//! the current version exports (same package and interface, semver-compatible version), its
//! imports must be ones the host provides, the city's links to and from it must type-check, and
//! when the manifest names a health route it must answer it with 2xx. A rollback checks the
//! links too. Then the slot's current version is replaced in one atomic store: requests in
//! flight finish on the old version, new ones get the new one. Key-value state belongs to the
//! slot, so it is untouched.

use super::Runtime;
use crate::engine::CompileError;
use crate::http::{self, Host as _};
use crate::link::{self, Linked};
use crate::manifest::{RoutePath, WasmFile};
use crate::sandbox::{HttpExport, PrepareError, Prepared, RefusalKind, Slot, Version};
use crate::state::StoreError;
use ::http::StatusCode;
use std::sync::Arc;

/// Why a swap or rollback did not happen; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("no component `{name}` in city `{city}`")]
    NotFound { city: String, name: String },
    /// The version failed a check.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("`{name}` in `{city}` has no earlier version to roll back to")]
    NoEarlierVersion { city: String, name: String },
    /// The cluster's store could not record it (or give a version's bytes); nothing changed.
    #[error("the cluster's state store could not record the change, so nothing changed: {0}")]
    Store(StoreError),
}

/// The check a version failed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("the new version does not export `{missing}`, which the current version provides; it exports {offered}")]
    Exports { missing: String, offered: String },
    /// The city's links to or from it would not type-check.
    #[error("{0}")]
    Links(String),
    #[error(transparent)]
    Health(#[from] HealthError),
}

impl Refusal {
    /// Which check it failed.
    pub fn kind(&self) -> RefusalKind {
        match self {
            Self::Prepare(PrepareError::Compile(_)) => RefusalKind::Compile,
            Self::Prepare(PrepareError::Imports { .. }) => RefusalKind::Imports,
            Self::Prepare(PrepareError::ServesNothing(_)) | Self::Exports { .. } => RefusalKind::Exports,
            Self::Prepare(PrepareError::Pool { .. }) => RefusalKind::Pool,
            Self::Links(_) => RefusalKind::Links,
            Self::Health(_) => RefusalKind::Health,
        }
    }
}

impl SwapError {
    /// Why, by name.
    pub fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound { .. } => RefusalKind::NotFound,
            Self::Refused(refusal) => refusal.kind(),
            Self::NoEarlierVersion { .. } => RefusalKind::NoEarlierVersion,
            Self::Store(StoreError::Unavailable(_)) => RefusalKind::Unavailable,
            Self::Store(StoreError::Failed(_)) => RefusalKind::Store,
        }
    }
}

/// How a version failed its health route.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("the new version answered its health route `{path}` with {status}")]
    Status { path: RoutePath, status: StatusCode },
    #[error("the new version's answer to its health route `{path}` broke off")]
    BrokenBody { path: RoutePath },
}

impl Runtime {
    /// Puts `wasm` live as component `name` of `city`, once it passes every check; its path says
    /// where it came from (`upload`, a registry reference). In a cluster, the version is recorded
    /// first (every host then serves it), and numbered by the cluster.
    pub async fn swap(self: &Arc<Self>, city: &str, name: &str, wasm: WasmFile) -> Result<Arc<Version>, SwapError> {
        let _no_other_change = self.changes.lock().await;
        let slot = self.find(city, name)?;
        let outcome = self.check(&slot, wasm.clone()).await;
        slot.stats().record_swap(outcome.as_ref().map(|_| ()).map_err(Refusal::kind));
        let prepared =
            outcome.inspect_err(|reason| tracing::warn!(city, component = name, "swap rejected: {reason}"))?;
        let version = match &self.cluster {
            None => slot.deploy(prepared),
            Some(cluster) => {
                let (origin, host) = (wasm.path.display().to_string(), cluster.id());
                let recorded = cluster.store().record(&slot.key(), wasm.digest, &wasm.bytes, &origin, host).await;
                let desired = recorded.map_err(SwapError::Store)?;
                let version = slot.deploy_as(prepared, desired.number);
                cluster.report_swapped(&slot).await;
                version
            }
        };
        tracing::info!(city, component = name, version = version.number, sha256 = %version.prepared.digest, "swapped");
        Ok(version)
    }

    /// Puts the version before the current one back live (in a cluster: the cluster's, on every
    /// host), once it passes the checks a swap does.
    pub async fn roll_back(self: &Arc<Self>, city: &str, name: &str) -> Result<Arc<Version>, SwapError> {
        let _no_other_change = self.changes.lock().await;
        let slot = self.find(city, name)?;
        let earlier = || SwapError::NoEarlierVersion { city: city.to_owned(), name: name.to_owned() };
        let rejected = |reason: &SwapError| tracing::warn!(city, component = name, "rollback rejected: {reason}");
        let Some(cluster) = &self.cluster else {
            // The city's other components may have changed since: the earlier version must still fit.
            let previous = slot.previous().ok_or_else(earlier)?;
            self.check_links(&slot, &previous.prepared).map_err(SwapError::from).inspect_err(rejected)?;
            let version = slot.roll_back().ok_or_else(earlier)?;
            tracing::info!(city, component = name, version = version.number, sha256 = %version.prepared.digest, "rolled back");
            return Ok(version);
        };
        let desired = cluster.store().desired_of(&slot.key()).await.map_err(SwapError::Store)?;
        let back = desired.and_then(|desired| desired.previous).ok_or_else(earlier)?;
        // Checked before it is recorded, as a swap is: a version that cannot serve here changes nothing.
        match slot.previous().filter(|previous| previous.number == back) {
            Some(previous) => {
                self.check_links(&slot, &previous.prepared).map_err(SwapError::from).inspect_err(rejected)?
            }
            None => {
                let wasm = cluster.wasm(&slot, back).await?;
                self.check(&slot, wasm).await.map_err(SwapError::from).inspect_err(rejected)?;
            }
        }
        let rolled = cluster.store().roll_back(&slot.key(), cluster.id()).await.map_err(SwapError::Store)?;
        self.bring(&slot, &rolled.ok_or_else(earlier)?).await?;
        let version = slot.current();
        tracing::info!(city, component = name, version = version.number, sha256 = %version.prepared.digest, "rolled back");
        Ok(version)
    }

    fn find(&self, city: &str, name: &str) -> Result<Arc<Slot>, SwapError> {
        self.slot(city, name).ok_or_else(|| SwapError::NotFound { city: city.to_owned(), name: name.to_owned() })
    }

    /// Prepares the new version and runs every check.
    pub(super) async fn check(self: &Arc<Self>, slot: &Arc<Slot>, wasm: WasmFile) -> Result<Arc<Prepared>, Refusal> {
        // Compiling takes a while and all of a core: keep it off the threads that serve requests.
        let runtime = self.clone();
        let prepared = tokio::task::spawn_blocking(move || runtime.sandbox.prepare(&wasm))
            .await
            .map_err(|e| CompileError::Other(anyhow::anyhow!("compiling the new version failed: {e}")))
            .map_err(PrepareError::Compile)?;
        let prepared = Arc::new(prepared?);
        let current = slot.current();
        let offered = &prepared.contracts.exports;
        for export in &current.prepared.contracts.exports {
            // Routes are served by the HTTP handler of either WASI release.
            if prepared.http.is_some() && HttpExport::is_handler(&export.name) {
                continue;
            }
            if !offered.iter().any(|new| compatible(&export.name, &new.name)) {
                let offered: Vec<_> = offered.iter().map(|e| format!("`{}`", e.name)).collect();
                return Err(Refusal::Exports { missing: export.name.clone(), offered: offered.join(", ") });
            }
        }
        self.check_links(slot, &prepared)?;
        if let Some(path) = slot.health() {
            let candidate = Version::candidate(prepared.clone());
            let (status, whole) = http::probe(&**self, slot.clone(), candidate, path).await;
            if !status.is_success() {
                return Err(HealthError::Status { path: path.clone(), status }.into());
            }
            if !whole {
                return Err(HealthError::BrokenBody { path: path.clone() }.into());
            }
        }
        Ok(prepared)
    }

    /// The version must serve what the city links to it, and be served what it imports.
    pub(super) fn check_links(&self, slot: &Arc<Slot>, prepared: &Arc<Prepared>) -> Result<(), Refusal> {
        let routes = self.routes();
        let Some(city) = routes.cities().iter().find(|c| c.id == *slot.city()) else { return Ok(()) };
        let live: Vec<_> = city
            .slots
            .values()
            .map(|s| (s, if Arc::ptr_eq(s, slot) { prepared.clone() } else { s.current().prepared.clone() }))
            .collect();
        let components: Vec<_> = live
            .iter()
            .map(|(s, p)| Linked {
                name: s.name(),
                links: s.grants().links().links(),
                contracts: &p.contracts,
                at: s.at(),
            })
            .collect();
        let problems = link::check(&city.id, &components);
        if problems.is_empty() {
            return Ok(());
        }
        Err(Refusal::Links(problems.iter().map(|p| p.message().to_owned()).collect::<Vec<_>>().join("; ")))
    }
}

/// Whether export `new` can stand in for `old`: the same interface, at a version in the same
/// semver range either way (a downgrade within the range is fine for the host; components linked
/// to it are held to the caret rule by `check_links`).
fn compatible(old: &str, new: &str) -> bool {
    link::compatible(old, new) || link::compatible(new, old)
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn exports_are_compatible_within_a_semver_range() {
        assert!(compatible("wasi:http/incoming-handler@0.2.0", "wasi:http/incoming-handler@0.2.6"));
        assert!(compatible("civic:tax/assessment@1.2.0", "civic:tax/assessment@1.0.0"));
        assert!(!compatible("wasi:http/incoming-handler@0.2.0", "wasi:http/incoming-handler@0.3.0"));
        assert!(!compatible("civic:tax/assessment@1.2.0", "civic:tax/assessment@2.0.0"));
        assert!(!compatible("civic:tax/assessment@1.2.0", "civic:tax/reductions@1.2.0"));
        assert!(compatible("run", "run"));
    }
}
