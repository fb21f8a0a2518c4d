use anyhow::{Context as _, bail};
use std::path::PathBuf;
use wit_component::{DecodedWasm, WitPrinter};

/// Print what a component imports and exports, as WIT.
#[derive(clap::Args)]
pub struct InspectCommand {
    /// The component's `.wasm` file.
    wasm: PathBuf,
}

impl InspectCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.wasm).with_context(|| format!("cannot read `{}`", self.wasm.display()))?;
        if !wasmparser::Parser::is_component(&bytes) {
            let hint = if wasmparser::Parser::is_core_wasm(&bytes) { ": it is a core module" } else { "" };
            bail!("`{}` is not a WebAssembly component{hint}", self.wasm.display());
        }
        let decoded =
            wit_component::decode(&bytes).with_context(|| format!("cannot decode `{}`", self.wasm.display()))?;
        let DecodedWasm::Component(resolve, world) = decoded else {
            bail!("`{}` holds WIT packages, not a component", self.wasm.display());
        };
        // The component's own world comes first; the packages it uses follow, nested.
        let main = resolve.worlds[world].package.context("the decoded world has no package")?;
        let used: Vec<_> = resolve.packages.iter().map(|(id, _)| id).filter(|id| *id != main).collect();
        let mut printer = WitPrinter::default();
        printer.emit_docs(false);
        printer.print(&resolve, main, &used)?;
        println!("{}", printer.output);
        Ok(())
    }
}
