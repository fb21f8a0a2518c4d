use super::options::RegistryArgs;
use crate::manifest::OciReference;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Publish a component to an OCI registry, in the Wasm artifact layout, with its metadata.
#[derive(clap::Args)]
pub struct PushCommand {
    /// The component's `.wasm` file.
    wasm: PathBuf,

    /// Where: `oci://HOST[:PORT]/REPOSITORY:TAG`.
    reference: String,

    /// An `org.opencontainers.image.*` (or any) annotation, over what the component's own
    /// metadata says: `--annotation org.opencontainers.image.vendor="City of Lecce"`.
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = annotation)]
    annotations: Vec<(String, String)>,

    #[command(flatten)]
    registry: RegistryArgs,
}

fn annotation(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    Ok((key.trim().to_owned(), value.to_owned()))
}

impl PushCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let reference = OciReference::try_from(self.reference.as_str()).map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            reference.tag().is_some() && reference.digest().is_none(),
            "push to a tag: `oci://HOST/REPOSITORY:TAG`"
        );
        let bytes = std::fs::read(&self.wasm).with_context(|| format!("cannot read `{}`", self.wasm.display()))?;
        let name = self.wasm.file_name().and_then(|n| n.to_str()).unwrap_or("component.wasm").to_owned();
        let annotations: BTreeMap<_, _> = self.annotations.into_iter().collect();
        let registry = self.registry.registry(Some(reference.registry()), None);
        let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let pushed = threads.block_on(registry.push(&bytes, &name, &reference, &annotations))?;
        println!("{pushed}");
        Ok(())
    }
}
