use super::admin_client::AdminArgs;
use http::Method;
use serde_json::Value;

/// Show every city's components: version, hash, since when, requests and errors.
#[derive(clap::Args)]
pub struct StatusCommand {
    #[command(flatten)]
    admin: AdminArgs,

    /// Print the admin API's JSON as it is.
    #[arg(long)]
    json: bool,
}

impl StatusCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let text = self.admin.request(Method::GET, "/v1/components", Vec::new())?;
        if self.json {
            println!("{text}");
            return Ok(());
        }
        let status: Value = serde_json::from_str(&text)?;
        println!(
            "{:<16} {:<20} {:>7} {:<12} {:<20} {:>9} {:>7}",
            "CITY", "COMPONENT", "VERSION", "SHA256", "SINCE", "REQUESTS", "ERRORS"
        );
        for city in status["cities"].as_array().into_iter().flatten() {
            for component in city["components"].as_array().into_iter().flatten() {
                let sha256 = component["sha256"].as_str().unwrap_or_default();
                println!(
                    "{:<16} {:<20} {:>7} {:<12} {:<20} {:>9} {:>7}",
                    city["id"].as_str().unwrap_or_default(),
                    component["name"].as_str().unwrap_or_default(),
                    component["version"],
                    sha256.get(..12).unwrap_or(sha256),
                    component["loaded_at"].as_str().unwrap_or_default(),
                    component["requests"],
                    component["errors"],
                );
            }
        }
        Ok(())
    }
}
