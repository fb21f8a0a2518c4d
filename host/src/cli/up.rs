use super::run::RunCommand;
use crate::cargo;
use crate::manifest::{self, Source, Sources};

/// Build the plugin crates the manifests name, then serve the cities.
#[derive(clap::Args)]
pub struct UpCommand {
    #[command(flatten)]
    run: RunCommand,
}

impl UpCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let parsed = manifest::parse(&self.run.manifests)?;
        let mut sources = Sources::default();
        let mut crates = Vec::new();
        for source in parsed.iter().flat_map(|m| m.sources()) {
            if let Source::Crate(dir) = source {
                crates.push(sources.plugin_crate(&dir)?);
            }
        }
        cargo::build(crates.iter().map(|c| &**c))?;
        let cities = manifest::resolve(&parsed, &mut sources)?;
        self.run.serve(&cities)
    }
}
