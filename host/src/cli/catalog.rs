use super::options::RegistryArgs;
use super::printable;
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
        let registry = self.options.registry(Some(scope.registry()), None);
        let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let catalog = threads.block_on(registry.catalog(scope))?;
        for problem in &catalog.problems {
            tracing::warn!("{}", printable(problem));
        }
        if self.json {
            let entries: Vec<_> = catalog.entries.iter().map(entry_json).collect();
            let json = json!({ "services": entries, "problems": catalog.problems });
            println!("{}", serde_json::to_string_pretty(&json)?);
            return Ok(());
        }
        if catalog.entries.is_empty() {
            println!("no component in {scope}");
        }
        for entry in &catalog.entries {
            // Annotations and interface names are the registry's text, and may hold anything.
            let annotation = |key: &str| printable(entry.annotations.get(key).map_or("-", String::as_str)).into_owned();
            println!("{}", entry.reference);
            println!("  {} {} — {}", annotation(TITLE), annotation(VERSION), annotation(DESCRIPTION));
            println!("  licence {}, by {}", annotation(LICENSES), annotation(VENDOR));
            let list = |interfaces: &mut dyn Iterator<Item = &String>| {
                let list: Vec<_> = interfaces.map(|i| printable(i).into_owned()).collect();
                if list.is_empty() { "-".to_owned() } else { list.join(", ") }
            };
            let contracts = |interfaces: &[String]| list(&mut interfaces.iter().filter(|i| !i.starts_with("wasi:")));
            println!("  exports {}", list(&mut entry.exports.iter()));
            println!("  contracts: serves {}; needs {}", contracts(&entry.exports), contracts(&entry.imports));
        }
        Ok(())
    }
}

fn entry_json(entry: &Entry) -> serde_json::Value {
    let annotation = |key: &str| entry.annotations.get(key);
    json!({
        "reference": entry.reference.to_string(),
        "sha256": entry.sha256.to_string(),
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
