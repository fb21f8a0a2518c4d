//! Plugin crates: where cargo puts a crate's component (what `civic run` serves of a crate
//! source), and building crates for `civic up`.

use crate::manifest::Fetch;
use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A crate that builds a component.
#[derive(Debug)]
pub struct PluginCrate {
    /// The package name (`hello-city`).
    pub package: String,
    /// The workspace it belongs to, so crates of one workspace build in one cargo call.
    pub workspace_root: PathBuf,
    /// Where `cargo build --release --target wasm32-wasip2` writes the component.
    pub artifact: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    target_directory: PathBuf,
    workspace_root: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    crate_types: Vec<String>,
}

impl PluginCrate {
    /// Asks cargo about the crate in `dir`.
    fn locate(dir: &Path) -> anyhow::Result<Self> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            bail!("`{}` is a directory without a `Cargo.toml`: expected a plugin crate or a .wasm file", dir.display());
        }
        let output = Command::new(cargo())
            .args(["metadata", "--no-deps", "--format-version=1", "--manifest-path"])
            .arg(&manifest)
            .output()
            .context("failed to run `cargo metadata`: is cargo installed?")?;
        if !output.status.success() {
            bail!(
                "`cargo metadata` failed for `{}`:\n{}",
                manifest.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let metadata: Metadata =
            serde_json::from_slice(&output.stdout).context("cannot understand `cargo metadata` output")?;
        let manifest = manifest.canonicalize()?;
        let package = metadata
            .packages
            .into_iter()
            .find(|p| p.manifest_path == manifest)
            .with_context(|| format!("`cargo metadata` does not list `{}`", manifest.display()))?;
        let Some(lib) = package.targets.iter().find(|t| t.crate_types.iter().any(|k| k == "cdylib")) else {
            bail!("`{}` is not a plugin crate: it needs `[lib] crate-type = [\"cdylib\"]`", manifest.display());
        };
        let artifact =
            metadata.target_directory.join(TARGET).join("release").join(format!("{}.wasm", lib.name.replace('-', "_")));
        Ok(Self { package: package.name, workspace_root: metadata.workspace_root, artifact })
    }
}

/// Finds plugin crates with `cargo metadata`, once per crate.
#[derive(Default)]
pub struct Cargo {
    located: Mutex<HashMap<PathBuf, Arc<PluginCrate>>>,
}

impl Cargo {
    /// The plugin crate in `dir`.
    pub fn locate(&self, dir: &Path) -> anyhow::Result<Arc<PluginCrate>> {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut located = self.located.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = located.get(&key) {
            return Ok(found.clone());
        }
        let found = Arc::new(PluginCrate::locate(&key)?);
        located.insert(key, found.clone());
        Ok(found)
    }
}

impl Fetch for Cargo {
    fn crate_artifact(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        Ok(self.locate(dir)?.artifact.clone())
    }
}

/// Builds the crates in release mode for [`TARGET`], one cargo call per workspace, with cargo's
/// progress on our stderr.
pub fn build<'a>(crates: impl IntoIterator<Item = &'a PluginCrate>) -> anyhow::Result<()> {
    let mut by_workspace: BTreeMap<&Path, Vec<&str>> = BTreeMap::new();
    for krate in crates {
        let packages = by_workspace.entry(&krate.workspace_root).or_default();
        if !packages.contains(&krate.package.as_str()) {
            packages.push(&krate.package);
        }
    }
    for (root, packages) in by_workspace {
        let mut command = Command::new(cargo());
        command.args(["build", "--release", "--target", TARGET, "--manifest-path"]).arg(root.join("Cargo.toml"));
        // Cargo reads `.cargo/config.toml` from the working directory up, not the manifest's:
        // from the workspace, its own settings (the small stack of `civic new`) apply.
        command.current_dir(root);
        for package in &packages {
            command.args(["--package", package]);
        }
        let status = command.status().context("failed to run `cargo build`: is cargo installed?")?;
        if !status.success() {
            bail!("building {} failed (is the target installed? `rustup target add {TARGET}`)", packages.join(", "));
        }
    }
    Ok(())
}

/// The cargo that runs us, when we run under cargo; else the one on `PATH`.
fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from)
}
