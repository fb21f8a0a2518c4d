//! Civic: a WebAssembly host for composable public-service components.
//!
//! A city writes a manifest; the host loads the components it names, serves them over HTTP, and
//! runs each request in a fresh sandbox. The modules are layers, each using only those below it:
//!
//! | layer | modules |
//! | --- | --- |
//! | 7 | [`cli`]: one file per command |
//! | 6 | `admin`: the operators' API and its metrics |
//! | 5 | [`runtime`]: the live cities — reload as a diff, swap and rollback (`runtime/swap.rs`) |
//! | 4 | `http`: the listener, and one request's life (`http/request.rs`, where it is routed) |
//! | 3 | `sandbox`: slots, the linker, a store's state, `Instance::start`, a request's callees |
//! | 2 | `capability` (config, logging, outbound HTTP, WASI), [`state`] (key-value, cluster versions), `link` (where a link is resolved), `registry` (OCI) |
//! | 1 | [`engine`]: wasmtime and the compile cache |
//! | 0 | [`manifest`] (parse → check → resolve), [`limits`] (budgets, CPU turns, pool size), `atomic` (whole-file writes), `task` (background tasks restarted when they end) |
//!
//! A request: hyper accepts it → `http::handle` reads the route table (`Host` → city → longest
//! prefix → slot) → `sandbox::Instance::start` (permit, store, deadline, instantiate) → the
//! guest's `wasi:http/incoming-handler`, whose imports are the capabilities; a `civic:*` import
//! goes through `link` to the request's `sandbox::Chain`, which starts the callee the same way.

#![deny(missing_docs)]

pub(crate) mod admin;
pub(crate) mod atomic;
pub(crate) mod capability;
pub mod cli;
pub mod engine;
pub(crate) mod http;
pub mod limits;
pub(crate) mod link;
pub mod manifest;
pub(crate) mod registry;
pub mod runtime;
pub(crate) mod sandbox;
pub mod state;
pub(crate) mod task;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Each top-level module's layer, as in the table above.
    const LAYERS: [(&str, u8); 14] = [
        ("atomic", 0),
        ("task", 0),
        ("manifest", 0),
        ("limits", 0),
        ("engine", 1),
        ("capability", 2),
        ("state", 2),
        ("link", 2),
        ("registry", 2),
        ("sandbox", 3),
        ("http", 4),
        ("runtime", 5),
        ("admin", 6),
        ("cli", 7),
    ];

    /// Which top-level modules each one names through `crate::` paths, comments left out.
    fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
        fn visit(dir: &Path, top: Option<&str>, graph: &mut BTreeMap<String, BTreeSet<String>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
                let module = top.map_or(name.clone(), str::to_owned);
                if path.is_dir() {
                    visit(&path, Some(&module), graph);
                } else if !matches!(module.as_str(), "lib" | "main") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let uses = graph.entry(module.clone()).or_default();
                    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                        for (at, _) in line.match_indices("crate::") {
                            let rest = &line[at + "crate::".len()..];
                            // `crate::a::B` names `a`; `crate::{a::B, c}` names `a` and `c`.
                            let names: Vec<&str> = match rest.strip_prefix('{') {
                                Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                                None => vec![rest],
                            };
                            for name in names {
                                let target: String =
                                    name.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                                if !target.is_empty() && target != module {
                                    uses.insert(target);
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut graph = BTreeMap::new();
        visit(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), None, &mut graph);
        graph
    }

    #[test]
    fn dependencies_point_down_the_layers() {
        let layers: BTreeMap<_, _> = LAYERS.into_iter().collect();
        let graph = module_graph();
        for (module, uses) in &graph {
            let from = *layers.get(module.as_str()).unwrap_or_else(|| panic!("`{module}` has no layer in LAYERS"));
            for used in uses {
                let to = layers.get(used.as_str()).copied().unwrap_or(u8::MAX);
                assert!(to <= from, "`{module}` (layer {from}) uses `{used}` (layer {to}), a layer above it");
            }
        }
        // Modules of one layer may use each other only one way.
        fn reaches(
            graph: &BTreeMap<String, BTreeSet<String>>,
            from: &str,
            to: &str,
            seen: &mut BTreeSet<String>,
        ) -> bool {
            graph
                .get(from)
                .into_iter()
                .flatten()
                .any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
        }
        for module in graph.keys() {
            assert!(!reaches(&graph, module, module, &mut BTreeSet::new()), "`{module}` is in an import cycle");
        }
    }
}
