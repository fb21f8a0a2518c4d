use super::cargo::Cargo;
use super::options::{ExperimentalArgs, RegistryArgs};
use crate::engine::shape::Shapes;
use crate::engine::{Engine, EngineOptions};
use crate::limits::{Limits, PoolSize};
use crate::runtime::Runtime;
use crate::runtime::manifests::Manifests;
use crate::state::State;
use crate::state::memory::MemoryBackend;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Check manifests and their components (files, registry sources, hashes, imports, links) without
/// serving anything.
#[derive(clap::Args)]
pub struct CheckCommand {
    /// City manifests (or directories of them) to check together, as `civic run` would load them.
    #[arg(required = true, value_name = "MANIFEST")]
    manifests: Vec<PathBuf>,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    experimental: ExperimentalArgs,
}

impl CheckCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let registry = Arc::new(self.registry.registry(None, None));
        let manifests = Manifests::new(self.manifests, Some(Arc::new(Cargo::default())), Some(registry));
        let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let cities = threads.block_on(manifests.load())?;
        // Nothing runs, so nothing is stored: an in-memory store stands in for the database.
        let state = State { backend: Arc::new(MemoryBackend::default()), limits: Default::default() };
        let defaults = Limits::default();
        let shapes = Shapes::default();
        let pool = PoolSize::fitting(&defaults, shapes.of_cities(&defaults, &cities));
        let wasip3 = self.experimental.wasip3;
        let engine = Engine::new(EngineOptions { cache_dir: None, pool, budgets: true, wasip3, shapes })?;
        Runtime::new(engine, state, &defaults, &cities)?;
        let components: usize = cities.iter().map(|c| c.components.len()).sum();
        let distinct: HashSet<_> = cities.iter().flat_map(|c| &c.components).map(|c| c.wasm.digest).collect();
        let routes: usize = cities.iter().map(|c| c.routes.len()).sum();
        let links: usize = cities.iter().flat_map(|c| &c.components).map(|c| c.links.len()).sum();
        println!(
            "ok: {} {}, {components} components ({} distinct), {routes} routes{}",
            cities.len(),
            if cities.len() == 1 { "city" } else { "cities" },
            distinct.len(),
            if links > 0 { format!(", {links} links") } else { String::new() }
        );
        Ok(())
    }
}
