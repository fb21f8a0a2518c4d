use super::options::RegistryArgs;
use crate::engine::uses_async_model;
use crate::manifest::OciReference;
use anyhow::{Context as _, bail};
use wit_component::{DecodedWasm, WitPrinter};

/// Print what a component imports and exports, as WIT.
#[derive(clap::Args)]
pub struct InspectCommand {
    /// The component: a `.wasm` file, or `oci://HOST[:PORT]/REPOSITORY:TAG` in a registry.
    component: String,

    #[command(flatten)]
    registry: RegistryArgs,
}

impl InspectCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let name = &self.component;
        let bytes = match OciReference::try_from(name.as_str()) {
            Ok(reference) => {
                let registry = self.registry.registry(Some(reference.registry()), None);
                let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                threads.block_on(registry.fetch(&reference))?.bytes.to_vec()
            }
            Err(_) if name.starts_with("oci://") => bail!("{}", OciReference::try_from(name.as_str()).unwrap_err()),
            Err(_) => std::fs::read(name).with_context(|| format!("cannot read `{name}`"))?,
        };
        if !wasmparser::Parser::is_component(&bytes) {
            let hint = if wasmparser::Parser::is_core_wasm(&bytes) { ": it is a core module" } else { "" };
            bail!("`{name}` is not a WebAssembly component{hint}");
        }
        let decoded = wit_component::decode(&bytes).with_context(|| format!("cannot decode `{name}`"))?;
        let DecodedWasm::Component(resolve, world) = decoded else {
            bail!("`{name}` holds WIT packages, not a component");
        };
        // The component's own world comes first; the packages it uses follow, nested.
        let main = resolve.worlds[world].package.context("the decoded world has no package")?;
        let used: Vec<_> = resolve.packages.iter().map(|(id, _)| id).filter(|id| *id != main).collect();
        if uses_async_model(&bytes) {
            println!(
                "// A component of WASI 0.3, built on the component model's async features: civic serves it when \
                 started with --experimental-wasip3."
            );
        }
        let mut printer = WitPrinter::default();
        printer.emit_docs(false);
        printer.print(&resolve, main, &used)?;
        println!("{}", super::printable(&printer.output.to_string()));
        Ok(())
    }
}
