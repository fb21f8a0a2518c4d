//! Re-reading the manifests while the host serves: on `POST /v1/reload` and, with
//! `civic run --watch`, whenever they change. An invalid manifest is rejected with its errors in
//! the log and the running configuration keeps serving; a valid one is applied as a diff
//! ([`Runtime::reload`]) of the cities whose manifests or components changed ([`Manifests`]).
//!
//! The watch hears changes from the kernel (inotify) on the manifests' directories, and then
//! compares stamps; it also compares them every few seconds, in case an event went unheard (and
//! every half second where the kernel cannot tell).

use super::manifests::{Manifests, Scan};
use super::{Reloaded, Runtime};
use crate::manifest::{Diagnostic, Diagnostics};
use notify::Watcher as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the watch compares stamps when it hears nothing, with and without the kernel's events.
const SAFETY_POLL: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(500);

/// How long the watch lets a burst of events (a write, a ConfigMap's relinking) settle.
const SETTLE: Duration = Duration::from_millis(30);

/// Reads the manifests again, applies what changed (in a cluster, records the changed sources);
/// logs the outcome.
pub async fn reload(runtime: &Arc<Runtime>, manifests: &Manifests) -> Result<Reloaded, Diagnostics> {
    reload_scanned(runtime, manifests, None).await
}

/// [`reload`] of the manifest files `scan` found, when given.
async fn reload_scanned(
    runtime: &Arc<Runtime>,
    manifests: &Manifests,
    scan: Option<Scan>,
) -> Result<Reloaded, Diagnostics> {
    let mut loaded = manifests.lock().await;
    let outcome = match manifests.update(&loaded, Vec::new(), scan).await {
        Ok(update) => {
            // Compiling takes a while and all of a core: keep it off the threads that serve requests.
            let compiler = runtime.clone();
            let applied = tokio::task::spawn_blocking(move || {
                let reloaded = compiler.reload(&update.cities, &update.changed);
                (reloaded, update)
            })
            .await;
            match applied {
                Ok((Ok(reloaded), update)) => {
                    let reloaded =
                        Reloaded { manifests_parsed: update.parsed, manifests: update.cities.len(), ..reloaded };
                    let changed = update.changed.clone();
                    Manifests::commit(&mut loaded, update);
                    if let Err(e) = runtime.adopt_manifests(Some(&changed)).await {
                        tracing::error!("the cluster could not record the manifests' sources: {e:#}");
                    }
                    Ok(reloaded)
                }
                Ok((Err(diagnostics), _)) => Err(diagnostics),
                // A compiler that panicked fails this reload, not the watch or the admin request.
                Err(e) => {
                    let path = manifests.args.first().map_or(Path::new("manifests"), PathBuf::as_path);
                    Err(Diagnostic::file(path, format!("the reload stopped: {e}")).into())
                }
            }
        }
        Err(diagnostics) => Err(diagnostics),
    };
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
    let (heard, mut events) = tokio::sync::mpsc::channel(1);
    // Kept alive for as long as the watch runs: dropping it stops the events.
    let mut watcher = listen(&manifests.args, heard.clone());
    let mut ticks = tokio::time::interval(if watcher.is_some() { SAFETY_POLL } else { POLL });
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            Some(()) = events.recv() => {
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
            }
        }
        let scan = match manifests.scan_if_changed(&*manifests.lock().await) {
            Ok(None) => continue,
            Ok(Some(scan)) => Some(scan),
            Err(_) => None,
        };
        let _ = reload_scanned(&runtime, &manifests, scan).await;
        // A swapped link leaves the old directories watched: watch what the paths name now.
        if watcher.is_some() {
            watcher = listen(&manifests.args, heard.clone());
        }
    }
}

/// Asks the kernel to tell of every change in the directories that hold the manifests (where
/// a file is given, its directory: editors and ConfigMaps replace files rather than write them),
/// and in the directory of each link on the way to them (git-sync swaps its `current` link to a
/// new checkout). `None`, with a warning, where it cannot.
fn listen(args: &[PathBuf], heard: tokio::sync::mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let on_event = move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            // Full means a reload is pending already, which will see this change too.
            let _ = heard.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(on_event) {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!("cannot hear changes to the manifests ({e}); looking every {POLL:?}");
            return None;
        }
    };
    let directory = |path: &Path| match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = Vec::new();
    for arg in args {
        dirs.push(if arg.is_dir() { arg.clone() } else { directory(arg) });
        let links = arg.ancestors().filter(|a| std::fs::symlink_metadata(a).is_ok_and(|m| m.is_symlink()));
        dirs.extend(links.map(directory));
    }
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!("cannot hear changes in `{}` ({e}); looking every {POLL:?}", dir.display());
            return None;
        }
    }
    Some(watcher)
}
