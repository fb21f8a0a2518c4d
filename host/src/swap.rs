//! Replacing a city's component with a new version while the host serves, and rolling back.
//!
//! A new version is compiled, linked and checked before it goes live: it must provide every
//! interface the current version exports (same package and interface, semver-compatible
//! version), its imports must be ones the host provides, the city's links to and from it must
//! type-check ([`crate::link::check`]), and when the manifest names a health route it must answer
//! it with 2xx. A rollback checks the links too. Then the slot's current version is replaced in one atomic
//! store: requests in flight finish on the old version, new ones get the new one. Key-value
//! state belongs to the slot, so it is untouched.

use crate::manifest::WasmFile;
use crate::runtime::Runtime;
use crate::slot::{Loaded, Slot, Version};
use std::path::PathBuf;
use std::sync::Arc;

/// Why a swap or rollback did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// No such city or component.
    #[error("{0}")]
    NotFound(String),
    /// The new version failed a check; nothing changed.
    #[error("{0}")]
    Rejected(String),
    /// A rollback was asked for, but the slot has only ever had one version.
    #[error("{0}")]
    NoEarlierVersion(String),
}

/// Puts `bytes` live as component `name` of `city`, once they pass every check.
pub async fn swap(runtime: &Arc<Runtime>, city: &str, name: &str, bytes: Vec<u8>) -> Result<Arc<Version>, SwapError> {
    let slot = find(runtime, city, name)?;
    let outcome = check(runtime, &slot, bytes).await;
    slot.stats().record_swap(outcome.is_ok());
    let loaded = outcome.map_err(|reason| {
        tracing::warn!(city, component = name, "swap rejected: {reason}");
        SwapError::Rejected(reason)
    })?;
    let version = slot.deploy(loaded);
    tracing::info!(city, component = name, version = version.number, sha256 = %version.loaded.digest, "swapped");
    Ok(version)
}

/// Puts the version before the current one back live.
pub fn roll_back(runtime: &Runtime, city: &str, name: &str) -> Result<Arc<Version>, SwapError> {
    let slot = find(runtime, city, name)?;
    // The city's other components may have changed since: the earlier version must still fit.
    if let Some(previous) = slot.previous() {
        check_links(runtime, &slot, &previous.loaded).map_err(|reason| {
            tracing::warn!(city, component = name, "rollback rejected: {reason}");
            SwapError::Rejected(reason)
        })?;
    }
    let version = slot.roll_back().ok_or_else(|| {
        SwapError::NoEarlierVersion(format!("`{name}` in `{city}` has no earlier version to roll back to"))
    })?;
    tracing::info!(city, component = name, version = version.number, sha256 = %version.loaded.digest, "rolled back");
    Ok(version)
}

fn find(runtime: &Runtime, city: &str, name: &str) -> Result<Arc<Slot>, SwapError> {
    runtime.slot(city, name).ok_or_else(|| SwapError::NotFound(format!("no component `{name}` in city `{city}`")))
}

/// Compiles and links the new bytes and runs every check; the reason when one fails.
async fn check(runtime: &Arc<Runtime>, slot: &Arc<Slot>, bytes: Vec<u8>) -> Result<Arc<Loaded>, String> {
    let wasm = WasmFile::from_bytes(PathBuf::from(format!("upload for {}/{}", slot.city(), slot.name())), bytes);
    // Compiling takes a while and all of a core: keep it off the threads that serve requests.
    let compiler = runtime.clone();
    let loaded = tokio::task::spawn_blocking(move || compiler.engine().load(&wasm))
        .await
        .map_err(|e| format!("compiling the new version failed: {e}"))?
        .map_err(|e| format!("{e:#}"))?;
    let current = slot.current();
    for export in &current.loaded.exports {
        if !loaded.exports.iter().any(|new| compatible(export, new)) {
            return Err(format!(
                "the new version does not export `{export}`, which the current version provides; it exports {}",
                loaded.exports.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let loaded = Arc::new(loaded);
    check_links(runtime, slot, &loaded)?;
    if let Some(path) = slot.health() {
        let candidate = Arc::new(Version { loaded: loaded.clone(), number: 0, since: std::time::SystemTime::now() });
        let status = crate::http::probe(runtime, slot.clone(), candidate, path.as_str()).await;
        if !status.is_success() {
            return Err(format!("the new version answered its health route `{path}` with {status}"));
        }
    }
    Ok(loaded)
}

/// The new version must serve what the city links to it, and be served what it imports.
fn check_links(runtime: &Runtime, slot: &Arc<Slot>, loaded: &Arc<Loaded>) -> Result<(), String> {
    let routes = runtime.routes();
    let Some(city) = routes.cities().iter().find(|c| c.id == *slot.city()) else { return Ok(()) };
    let live: Vec<_> = city
        .slots
        .values()
        .map(|s| (s.spec(), if Arc::ptr_eq(s, slot) { loaded.clone() } else { s.current().loaded.clone() }))
        .collect();
    let components: Vec<_> = live.iter().map(|(spec, loaded)| (spec, &loaded.contracts)).collect();
    let problems = crate::link::check(&city.id, &components);
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems.iter().map(|p| p.message().to_owned()).collect::<Vec<_>>().join("; "))
}

/// Whether export `new` can stand in for `old`: the same interface, at a version in the same
/// semver range either way (a downgrade within the range is fine for the host; components linked
/// to it are held to the caret rule by `check_links`).
fn compatible(old: &str, new: &str) -> bool {
    crate::link::compatible(old, new) || crate::link::compatible(new, old)
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
