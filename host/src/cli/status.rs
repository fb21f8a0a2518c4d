use super::admin_client::AdminArgs;
use crate::manifest::CityId;
use http::Method;
use serde_json::Value;

/// Rows that fit a screen: with more, `civic status` prints a summary and what is failing.
const SCREEN: usize = 40;

/// Show the cities' components (version, hash, since when, requests, errors) and, in a
/// cluster, its hosts and whether they agree on every version. With more components than fit
/// a screen: how many, and the failing and disagreeing ones.
#[derive(clap::Args)]
pub struct StatusCommand {
    #[command(flatten)]
    admin: AdminArgs,

    /// Only this city's components (and, in a cluster, its versions).
    #[arg(long, value_parser = |id: &str| CityId::try_from(id.to_owned()))]
    city: Option<CityId>,

    /// Print the admin API's JSON as it is (the first page of `/v1/components`).
    #[arg(long)]
    json: bool,
}

impl StatusCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let scope = self.city.as_ref().map(|city| format!("city={city}&")).unwrap_or_default();
        let get = |path: &str| -> anyhow::Result<Value> {
            Ok(serde_json::from_str(&self.admin.request(Method::GET, path, Vec::new())?)?)
        };
        if self.json {
            println!("{}", self.admin.request(Method::GET, &format!("/v1/components?{scope}"), Vec::new())?);
            return Ok(());
        }
        let limit = if self.city.is_some() { 1000 } else { SCREEN };
        let components = get(&format!("/v1/components?{scope}limit={limit}"))?;
        let total = components["total"].as_u64().unwrap_or_default();
        if self.city.is_some() && total == 0 {
            anyhow::bail!(
                "this host serves no city `{}`",
                self.city.as_ref().map(ToString::to_string).unwrap_or_default()
            );
        }
        if components["next"].is_null() {
            print!("{}", table(&components["items"]));
        } else {
            let cities = get("/v1/cities?limit=1")?;
            let failing = get(&format!("/v1/components?health=failing&limit={SCREEN}"))?;
            let failing_total = failing["total"].as_u64().unwrap_or_default();
            println!(
                "{} cities, {total} components; {failing_total} failing",
                cities["total"].as_u64().unwrap_or_default()
            );
            if failing_total > 0 {
                print!("\n{}", table(&failing["items"]));
                if !failing["next"].is_null() {
                    println!("… and {} more failing", failing_total - SCREEN as u64);
                }
            }
            println!("\n(`civic status --city ID` shows one city)");
        }
        let cluster = get(&format!("/v1/cluster?{scope}agree=false&limit={SCREEN}"))?;
        if cluster["clustered"] == true {
            print!("\n{}", describe_cluster(&cluster));
        }
        Ok(())
    }
}

/// The components of a page of `/v1/components`, one line each.
fn table(items: &Value) -> String {
    let mut text = format!(
        "{:<16} {:<20} {:>7} {:<12} {:<20} {:>9} {:>7}\n",
        "CITY", "COMPONENT", "VERSION", "SHA256", "SINCE", "REQUESTS", "ERRORS"
    );
    for component in items.as_array().into_iter().flatten() {
        let sha256 = component["sha256"].as_str().unwrap_or_default();
        text += &format!(
            "{:<16} {:<20} {:>7} {:<12} {:<20} {:>9} {:>7}\n",
            component["city"].as_str().unwrap_or_default(),
            component["name"].as_str().unwrap_or_default(),
            component["version"],
            sha256.get(..12).unwrap_or(sha256),
            component["loaded_at"].as_str().unwrap_or_default(),
            component["requests"],
            component["errors"],
        );
    }
    text
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
    // A page of the components they disagree on (`agree=false`), and how many in all.
    let disagreeing = cluster["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let count = cluster["total"].as_u64().unwrap_or(disagreeing.len() as u64);
    if count == 0 {
        text += &format!("\nthe {} hosts agree on every version\n", hosts.len());
        return text;
    }
    let longest = disagreeing.iter().filter_map(|c| c["disagreeing_seconds"].as_f64()).fold(0.0, f64::max);
    text += &format!("\nthe hosts DISAGREE on {count} components, for {longest:.0}s:\n");
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
                None => text += &format!("; {id} has not applied it yet"),
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
    if count > disagreeing.len() as u64 {
        text +=
            &format!("  … and {} more (`GET /v1/cluster?agree=false` lists them)\n", count - disagreeing.len() as u64);
    }
    text
}
