//! Re-reading the manifests while the host serves: on `POST /v1/reload` and, with
//! `civic run --watch`, whenever they change. An invalid manifest is rejected with its errors in
//! the log and the running configuration keeps serving; a valid one is applied as a diff
//! ([`Runtime::reload`]).
//!
//! The watch polls: it compares each manifest's inode, modification time and size, and the list
//! of manifests its directories hold. The inode is what catches a Kubernetes ConfigMap update,
//! which swaps a `..data` symlink to a new directory (a watch on the old file itself sees nothing).

use super::{Reloaded, Runtime};
use crate::manifest::{self, CitySpec, Diagnostic, Diagnostics, Fetch, Parsed, Sources};
use crate::registry::Registry;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often `--watch` looks at the manifests.
const POLL: Duration = Duration::from_millis(500);

/// The manifests a host serves, as its command line names them (files, or directories of
/// them), and what finds their sources when they are not plain files.
pub struct Manifests {
    args: Vec<PathBuf>,
    fetch: Option<Arc<dyn Fetch>>,
    registry: Option<Arc<Registry>>,
    /// What the watch last saw of them: from when they were named, so a change made before the
    /// watch starts (or while it restarts) is not missed.
    seen: Mutex<Stamps>,
}

/// What the watch compares: each manifest's path and, if it can be read, its identity.
type Stamps = Option<Vec<(PathBuf, Option<(u64, i64, i64, u64)>)>>;

impl Manifests {
    pub fn new(args: Vec<PathBuf>, fetch: Option<Arc<dyn Fetch>>, registry: Option<Arc<Registry>>) -> Self {
        let seen = Mutex::new(stamps(&args));
        Self { args, fetch, registry, seen }
    }

    /// Reads, checks and resolves them.
    pub async fn load(&self) -> Result<Vec<CitySpec>, Diagnostics> {
        self.resolve(&manifest::parse(&self.args)?).await
    }

    /// Resolves `parsed`, read from them: their registry sources are fetched first.
    pub async fn resolve(&self, parsed: &[Parsed]) -> Result<Vec<CitySpec>, Diagnostics> {
        let mut sources = self.fetch.clone().map(Sources::new).unwrap_or_default();
        if let Some(registry) = &self.registry {
            let mut references: Vec<_> = parsed.iter().flat_map(Parsed::registry_sources).collect();
            references.dedup();
            for reference in references {
                let fetched = registry.fetch(&reference).await.map_err(|e| e.to_string());
                sources.fetched(reference, fetched);
            }
        }
        manifest::resolve(parsed, &mut sources)
    }
}

/// The identity of every manifest `args` name.
fn stamps(args: &[PathBuf]) -> Stamps {
    let stamp = |path: &PathBuf| {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len()))
    };
    let files = manifest::discover(args).ok()?;
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

/// Reads the manifests again and applies them (in a cluster, records their sources); logs the
/// outcome.
pub async fn reload(runtime: &Arc<Runtime>, manifests: &Manifests) -> Result<Reloaded, Diagnostics> {
    let outcome = match manifests.load().await {
        Ok(cities) => {
            // Compiling takes a while and all of a core: keep it off the threads that serve requests.
            let compiler = runtime.clone();
            let applied = tokio::task::spawn_blocking(move || compiler.reload(&cities)).await;
            // A compiler that panicked fails this reload, not the watch or the admin request.
            applied.unwrap_or_else(|e| {
                let path = manifests.args.first().map_or(Path::new("manifests"), PathBuf::as_path);
                Err(Diagnostic::file(path, format!("the reload stopped: {e}")).into())
            })
        }
        Err(diagnostics) => Err(diagnostics),
    };
    if outcome.is_ok()
        && let Err(e) = runtime.adopt_manifests().await
    {
        tracing::error!("the cluster could not record the manifests' sources: {e:#}");
    }
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
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        let now = stamps(&manifests.args);
        {
            let mut seen = manifests.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                continue;
            }
            *seen = now;
        }
        let _ = reload(&runtime, &manifests).await;
    }
}
