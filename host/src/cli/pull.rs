use super::options::RegistryArgs;
use crate::manifest::OciReference;
use anyhow::Context as _;
use std::path::PathBuf;

/// Fetch a component from an OCI registry, checked against its digests.
#[derive(clap::Args)]
pub struct PullCommand {
    /// `oci://HOST[:PORT]/REPOSITORY:TAG`, `…@sha256:DIGEST`.
    reference: String,

    /// Where to write it [default: the repository's last name, `.wasm`].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    registry: RegistryArgs,
}

impl PullCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let reference = OciReference::try_from(self.reference.as_str()).map_err(anyhow::Error::msg)?;
        let registry = self.registry.registry(Some(reference.registry()), None);
        let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let wasm = threads.block_on(registry.fetch(&reference))?;
        let name = reference.repository().rsplit('/').next().unwrap_or("component");
        let output = self.output.unwrap_or_else(|| PathBuf::from(format!("{name}.wasm")));
        std::fs::write(&output, &wasm.bytes).with_context(|| format!("cannot write `{}`", output.display()))?;
        println!("pulled {} to {} (sha256 {})", wasm.path.display(), output.display(), wasm.digest);
        Ok(())
    }
}
