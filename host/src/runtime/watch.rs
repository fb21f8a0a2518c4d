//! Re-reading the manifests while the host serves: on `POST /v1/reload` and, with
//! `civic run --watch`, whenever they change. An invalid manifest is rejected with its errors in
//! the log and the running configuration keeps serving; a valid one is applied as a diff
//! ([`Runtime::reload`]).
//!
//! The watch polls: it compares each manifest's inode, modification time and size, and the list
//! of manifests its directories hold. The inode is what catches a Kubernetes ConfigMap update,
//! which swaps a `..data` symlink to a new directory (a watch on the old file itself sees nothing).

use super::{Reloaded, Runtime};
use crate::manifest::{self, CitySpec, Diagnostics, Fetch, Sources};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often `--watch` looks at the manifests.
const POLL: Duration = Duration::from_millis(500);

/// The manifests a host serves, as its command line names them (files, or directories of
/// them), and what finds their sources when they are not plain files.
pub struct Manifests {
    args: Vec<PathBuf>,
    fetch: Option<Arc<dyn Fetch>>,
}

/// What the watch compares: each manifest's path and, if it can be read, its identity.
type Stamps = Option<Vec<(PathBuf, Option<(u64, i64, i64, u64)>)>>;

impl Manifests {
    pub fn new(args: Vec<PathBuf>, fetch: Option<Arc<dyn Fetch>>) -> Self {
        Self { args, fetch }
    }

    /// A fresh reader of their sources, which reads each file once.
    pub fn sources(&self) -> Sources {
        self.fetch.clone().map(Sources::new).unwrap_or_default()
    }

    /// Reads, checks and resolves them.
    pub fn load(&self) -> Result<Vec<CitySpec>, Diagnostics> {
        manifest::load(&self.args, &mut self.sources())
    }

    fn stamps(&self) -> Stamps {
        let stamp = |path: &PathBuf| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len()))
        };
        let files = manifest::discover(&self.args).ok()?;
        Some(
            files
                .into_iter()
                .map(|path| {
                    let identity = stamp(&path);
                    (path, identity)
                })
                .collect(),
        )
    }
}

/// Reads the manifests again and applies them; logs the outcome. Blocks while it compiles.
pub fn reload(runtime: &Runtime, manifests: &Manifests) -> Result<Reloaded, Diagnostics> {
    let outcome = manifests.load().and_then(|cities| runtime.reload(&cities));
    match &outcome {
        Ok(reloaded) => tracing::info!("reloaded the manifests: {reloaded}"),
        Err(diagnostics) => {
            tracing::error!("reload rejected, the previous configuration keeps serving:\n{diagnostics}")
        }
    }
    outcome
}

/// Reloads whenever the manifests change, until the host stops.
pub async fn watch(runtime: Arc<Runtime>, manifests: Arc<Manifests>) {
    let mut seen = manifests.stamps();
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        let now = manifests.stamps();
        if now == seen {
            continue;
        }
        seen = now;
        let (runtime, manifests) = (runtime.clone(), manifests.clone());
        let _ = tokio::task::spawn_blocking(move || reload(&runtime, &manifests)).await;
    }
}
