use crate::engine::{Engine, EngineOptions};
use crate::manifest;
use crate::runtime::Runtime;
use std::collections::HashSet;
use std::path::PathBuf;

/// Check manifests and their components (files, hashes, imports) without serving anything.
#[derive(clap::Args)]
pub struct CheckCommand {
    /// City manifests to check together, as `civic run` would load them.
    #[arg(required = true, value_name = "MANIFEST")]
    manifests: Vec<PathBuf>,
}

impl CheckCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let cities = manifest::load(&self.manifests)?;
        Runtime::new(Engine::new(EngineOptions::default())?, &cities)?;
        let components: usize = cities.iter().map(|c| c.components.len()).sum();
        let distinct: HashSet<_> = cities.iter().flat_map(|c| &c.components).map(|c| c.wasm.digest).collect();
        let routes: usize = cities.iter().map(|c| c.routes.len()).sum();
        println!(
            "ok: {} {}, {components} components ({} distinct), {routes} routes",
            cities.len(),
            if cities.len() == 1 { "city" } else { "cities" },
            distinct.len()
        );
        Ok(())
    }
}
