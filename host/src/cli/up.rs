use super::cargo::{self, Cargo};
use super::run::RunCommand;
use crate::manifest::{self, Source};
use std::sync::Arc;

/// Build the plugin crates the manifests name, then serve the cities.
#[derive(clap::Args)]
pub struct UpCommand {
    #[command(flatten)]
    run: RunCommand,
}

impl UpCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let checked = self.run.check()?;
        let parsed = manifest::parse(&self.run.manifests)?;
        let cargo = Arc::new(Cargo::default());
        let mut crates = Vec::new();
        for source in parsed.iter().flat_map(|m| m.sources()) {
            if let Source::Crate(dir) = source {
                crates.push(cargo.locate(&dir)?);
            }
        }
        cargo::build(crates.iter().map(|c| &**c))?;
        self.run.start(checked, cargo, Some(parsed))
    }
}
