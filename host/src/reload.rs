//! Re-reading the manifests while the host serves: on `POST /v1/reload` and, with
//! `civic run --watch`, whenever a manifest file changes. An invalid manifest is rejected with
//! its errors in the log and the running configuration keeps serving; a valid one is applied as
//! a diff ([`Runtime::reload`]).

use crate::manifest::{self, Diagnostics};
use crate::runtime::{Reloaded, Runtime};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often `--watch` looks at the manifest files.
const POLL: Duration = Duration::from_millis(500);

/// Reads `manifests` again and applies them; logs the outcome. Blocks while it compiles.
pub fn reload(runtime: &Runtime, manifests: &[PathBuf]) -> Result<Reloaded, Diagnostics> {
    let outcome = manifest::load(manifests).and_then(|cities| runtime.reload(&cities));
    match &outcome {
        Ok(reloaded) => tracing::info!("reloaded the manifests: {reloaded}"),
        Err(diagnostics) => {
            tracing::error!("reload rejected, the previous configuration keeps serving:\n{diagnostics}")
        }
    }
    outcome
}

/// Reloads whenever one of `manifests` changes (its modification time or size), until the host stops.
pub async fn watch(runtime: Arc<Runtime>, manifests: Arc<[PathBuf]>) {
    let stamps = |paths: &[PathBuf]| -> Vec<Option<(SystemTime, u64)>> {
        let stamp = |path: &PathBuf| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        paths.iter().map(stamp).collect()
    };
    let mut seen = stamps(&manifests);
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        let now = stamps(&manifests);
        if now == seen {
            continue;
        }
        seen = now;
        let (runtime, manifests) = (runtime.clone(), manifests.clone());
        let _ = tokio::task::spawn_blocking(move || reload(&runtime, &manifests)).await;
    }
}

impl fmt::Display for Reloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cities +{} -{}; components: {} added, {} swapped, {} replaced, {} unchanged, {} removed",
            self.cities_added,
            self.cities_removed,
            self.added,
            self.swapped,
            self.replaced,
            self.unchanged,
            self.removed
        )
    }
}
