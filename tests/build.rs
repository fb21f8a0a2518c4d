//! Builds every component the tests run — the plugins workspace and the test guests — for
//! `wasm32-wasip2`, into `OUT_DIR` (never the outer target dir: a nested cargo on the same
//! directory would wait for the lock the outer one holds).
//!
//! Generates `pub const HELLO_CITY: &str = "…/hello_city.wasm";` per component, plus
//! `foreach_plugin!` and `foreach_guest!`, which the tests use to fail compilation when a
//! component has no test.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// The workspaces built here, and the macro listing each one's components.
const WORKSPACES: [(&str, &str); 2] = [("plugins", "foreach_plugin"), ("tests/guests", "foreach_guest")];

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    crate_types: Vec<String>,
}

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repository");
    let target_dir = out_dir.join("wasm");
    let mut code = String::new();
    writeln!(code, "/// The `CARGO_TARGET_DIR` the components were built in.").unwrap();
    writeln!(code, "pub const WASM_TARGET_DIR: &str = {:?};", target_dir).unwrap();

    let mut rerun = BTreeSet::from([root.join(".cargo/config.toml")]);
    for (workspace, macro_name) in WORKSPACES {
        let manifest = root.join(workspace).join("Cargo.toml");
        rerun.insert(manifest.clone());
        build(&manifest, &target_dir);
        let mut names = Vec::new();
        for package in metadata(&manifest).packages {
            rerun.insert(package.manifest_path.clone());
            for target in package.targets.iter().filter(|t| t.crate_types.iter().any(|k| k == "cdylib")) {
                let name = target.name.replace('-', "_");
                let wasm = target_dir.join(TARGET).join("release").join(format!("{name}.wasm"));
                rerun.extend(dependencies_of(&wasm));
                writeln!(code, "/// The `{}` component.", target.name).unwrap();
                writeln!(code, "pub const {}: &str = {:?};", name.to_uppercase(), wasm).unwrap();
                names.push(name);
            }
        }
        writeln!(code, "/// Calls `$mac!(name)` for every component of `{workspace}/`.").unwrap();
        writeln!(code, "#[macro_export]\nmacro_rules! {macro_name} {{\n    ($mac:ident) => {{").unwrap();
        for name in &names {
            writeln!(code, "        $mac!({name});").unwrap();
        }
        writeln!(code, "    }};\n}}").unwrap();
    }
    for path in rerun {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    std::fs::write(out_dir.join("components.rs"), code).expect("cannot write components.rs");
}

/// `cargo <args> --manifest-path <manifest>`, for a nested build of guests.
fn cargo(args: &[&str], manifest: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // From the workspace, so the repository's `.cargo/config.toml` applies as it does to a
    // developer building there.
    command
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .current_dir(manifest.parent().expect("a manifest is in a directory"));
    // Flags meant for the host build (or for clippy, which wraps rustc) are not for the guests.
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        command.env_remove(var);
    }
    command
}

fn build(manifest: &Path, target_dir: &Path) {
    let status = cargo(&["build", "--release", "--workspace", "--target", TARGET], manifest)
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .expect("cannot run cargo");
    assert!(
        status.success(),
        "building `{}` for {TARGET} failed (is the target installed? `rustup target add {TARGET}`)",
        manifest.display()
    );
}

fn metadata(manifest: &Path) -> Metadata {
    let output = cargo(&["metadata", "--no-deps", "--format-version=1"], manifest).output().expect("cannot run cargo");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cannot parse cargo metadata")
}

/// The source files an artifact was built from, from the `.d` file cargo writes beside it.
fn dependencies_of(artifact: &Path) -> Vec<PathBuf> {
    let deps = std::fs::read_to_string(artifact.with_extension("d")).expect("cargo writes a .d file per artifact");
    let Some((_, files)) = deps.split_once(": ") else {
        return Vec::new();
    };
    // Makefile syntax: spaces inside a path are escaped with a backslash.
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = files.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' | '\n' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}
