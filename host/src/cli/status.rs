use super::admin_client::AdminArgs;
use http::Method;
use serde_json::Value;

/// Show every city's components (version, hash, since when, requests, errors) and, in a
/// cluster, its hosts and whether they agree on every version.
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
        let cluster: Value = serde_json::from_str(&self.admin.request(Method::GET, "/v1/cluster", Vec::new())?)?;
        if cluster["clustered"] == true {
            print!("\n{}", describe_cluster(&cluster));
        }
        Ok(())
    }
}

/// The cluster's hosts, then whether they agree — plainly, and for how long they have not.
fn describe_cluster(cluster: &Value) -> String {
    let mut text = format!("{:<28} {:<24} {:<20} {:>9}\n", "HOST", "ADDRESS", "STARTED", "LAST SEEN");
    let hosts = cluster["hosts"].as_array().map(Vec::as_slice).unwrap_or_default();
    for host in hosts {
        let ago = host["seen_seconds_ago"].as_f64().unwrap_or_default();
        text += &format!(
            "{:<28} {:<24} {:<20} {:>8.0}s ago\n",
            host["id"].as_str().unwrap_or_default(),
            host["address"].as_str().unwrap_or_default(),
            host["started"].as_str().unwrap_or_default(),
            ago
        );
    }
    let components = cluster["components"].as_array().map(Vec::as_slice).unwrap_or_default();
    let disagreeing: Vec<_> = components.iter().filter(|c| c["agree"] != true).collect();
    if disagreeing.is_empty() {
        text += &format!("\nthe {} hosts agree on every version\n", hosts.len());
        return text;
    }
    let longest = disagreeing.iter().filter_map(|c| c["disagreeing_seconds"].as_f64()).fold(0.0, f64::max);
    text += &format!("\nthe hosts DISAGREE on {} components, for {longest:.0}s:\n", disagreeing.len());
    for component in disagreeing {
        let (city, name, wanted) = (&component["city"], &component["component"], &component["version"]);
        text += &format!(
            "  {}/{}: the cluster wants version {wanted}",
            city.as_str().unwrap_or_default(),
            name.as_str().unwrap_or_default()
        );
        for host in hosts {
            let id = host["id"].as_str().unwrap_or_default();
            let served = component["hosts"].as_array().into_iter().flatten().find(|s| s["host"] == id);
            match served {
                None => text += &format!("; {id} has not reported"),
                Some(served) if !served["refused"].is_null() => {
                    text += &format!(
                        "; {id} serves {} and refused it: {}",
                        served["version"],
                        served["refused"].as_str().unwrap_or_default()
                    )
                }
                Some(served) if served["version"] != *wanted => text += &format!("; {id} serves {}", served["version"]),
                Some(_) => {}
            }
        }
        text += "\n";
    }
    text
}
