use super::options::RegistryArgs;
use crate::registry::{CatalogScope, DESCRIPTION, Entry, LICENSES, TITLE, VENDOR, VERSION};
use serde_json::json;

/// List the services a registry offers: every repository and tag that holds a component, with
/// its metadata and the interfaces (and `civic:*` contracts) it exports and imports.
#[derive(clap::Args)]
pub struct CatalogCommand {
    /// `HOST[:PORT]`, or `HOST[:PORT]/PREFIX` for the repositories under a prefix.
    registry: CatalogScope,

    /// Print JSON for machines.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    options: RegistryArgs,
}

impl CatalogCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let scope = &self.registry;
        let registry = self.options.registry(Some(&scope.registry), None);
        let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let entries = threads.block_on(registry.catalog(scope))?;
        if self.json {
            let entries: Vec<_> = entries.iter().map(entry_json).collect();
            println!("{}", serde_json::to_string_pretty(&json!({ "services": entries }))?);
            return Ok(());
        }
        if entries.is_empty() {
            println!("no component in {scope}");
        }
        for entry in &entries {
            let annotation = |key: &str| entry.annotations.get(key).map(String::as_str).unwrap_or("-");
            println!("{}", entry.reference);
            println!("  {} {} — {}", annotation(TITLE), annotation(VERSION), annotation(DESCRIPTION));
            println!("  licence {}, by {}", annotation(LICENSES), annotation(VENDOR));
            let contracts = |interfaces: &[String]| {
                let contracts: Vec<_> = interfaces.iter().filter(|i| !i.starts_with("wasi:")).cloned().collect();
                if contracts.is_empty() { "-".to_owned() } else { contracts.join(", ") }
            };
            println!("  exports {}", entry.exports.join(", "));
            println!("  contracts: serves {}; needs {}", contracts(&entry.exports), contracts(&entry.imports));
        }
        Ok(())
    }
}

fn entry_json(entry: &Entry) -> serde_json::Value {
    let annotation = |key: &str| entry.annotations.get(key);
    json!({
        "reference": entry.reference.to_string(),
        "sha256": entry.sha256,
        "title": annotation(TITLE),
        "version": annotation(VERSION),
        "description": annotation(DESCRIPTION),
        "licenses": annotation(LICENSES),
        "vendor": annotation(VENDOR),
        "exports": entry.exports,
        "imports": entry.imports,
        "annotations": entry.annotations,
    })
}
