use super::admin_client::AdminArgs;
use anyhow::Context as _;
use http::Method;
use std::path::PathBuf;

/// Swap a running component for a new version (through the admin API).
#[derive(clap::Args)]
pub struct SwapCommand {
    #[command(flatten)]
    admin: AdminArgs,

    /// The city, by id.
    city: String,

    /// The component, by its name in the city's manifest.
    component: String,

    /// The new version's `.wasm` file.
    wasm: PathBuf,
}

impl SwapCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.wasm).with_context(|| format!("cannot read `{}`", self.wasm.display()))?;
        let path = format!("/v1/cities/{}/components/{}", self.city, self.component);
        println!("{}", self.admin.request(Method::PUT, &path, bytes)?);
        Ok(())
    }
}

/// Put a component's previous version back (through the admin API).
#[derive(clap::Args)]
pub struct RollbackCommand {
    #[command(flatten)]
    admin: AdminArgs,

    /// The city, by id.
    city: String,

    /// The component, by its name in the city's manifest.
    component: String,
}

impl RollbackCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let path = format!("/v1/cities/{}/components/{}/rollback", self.city, self.component);
        println!("{}", self.admin.request(Method::POST, &path, Vec::new())?);
        Ok(())
    }
}
