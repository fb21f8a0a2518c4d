//! Thousands of cities on one host, through the real binary: what an operation costs follows
//! what changed, not how many cities there are. Asserted as mechanisms, not times (the times are
//! in BENCHMARKS.md): a changed manifest among 2,000 is the only one parsed again, a reload with
//! nothing changed parses none, pages of the admin API return every row once, a scrape's series
//! do not grow per component and city, and a cluster stores one file's bytes once for all of
//! its slots.

use civic_tests::postgres::Postgres;
use civic_tests::{City, Civic, HELLO_CITY, Workspace, civic, client, get};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const CITIES: usize = 2000;
const TOKEN: &str = "scale-admin-token-of-32-chars!!!";
const LOG_WAIT: Duration = Duration::from_secs(60);

fn id(i: usize) -> String {
    format!("c{i:04}")
}

/// City `i`: hello-city greeting with `greeting`, at `cNNNN.localhost`.
fn city(i: usize, greeting: &str) -> City {
    let host = format!("{}.localhost", id(i));
    let config = format!(r#"config = {{ city_name = "{}", greeting = "{greeting}" }}"#, id(i));
    City::new(&id(i)).hosts(&[&host]).component("hello", HELLO_CITY, &config).route("/hello", "hello")
}

/// A directory of [`CITIES`] manifests.
fn cities(ws: &Workspace) -> PathBuf {
    for i in 0..CITIES {
        ws.write(&format!("cities/{}.toml", id(i)), city(i, "Hello").toml());
    }
    ws.path().join("cities")
}

async fn admin(civic: &Civic, method: reqwest::Method, path: &str) -> (u16, Value) {
    let url = format!("http://{}{path}", civic.admin_addr().await);
    let response = client().request(method, url).bearer_auth(TOKEN).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread")]
async fn among_2000_cities_a_reload_parses_what_changed_and_lists_page() {
    let ws = Workspace::new();
    let dir = cities(&ws);
    let host = Civic::run_with_admin_and(&[&dir], TOKEN, &["--watch"]);
    let last = format!("{}.localhost", id(CITIES - 1));
    assert_eq!(get(&host.url("/hello"), Some(&last)).await, (200, format!("Hello from {}!\n", id(CITIES - 1))));

    // Nothing changed: nothing is parsed, every component stays.
    let (status, reloaded) = admin(&host, reqwest::Method::POST, "/v1/reload").await;
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!((reloaded["manifests_parsed"].as_u64(), reloaded["manifests"].as_u64()), (Some(0), Some(2000)));
    assert_eq!(reloaded["unchanged"], CITIES, "{reloaded}");

    // The same bytes written again (a ConfigMap relinks every file so): read, compared, not parsed.
    for i in [3, 4, 5] {
        ws.write(&format!("cities/{}.toml", id(i)), city(i, "Hello").toml());
    }
    let (_, reloaded) = admin(&host, reqwest::Method::POST, "/v1/reload").await;
    assert_eq!(reloaded["manifests_parsed"], 0, "{reloaded}");

    // One manifest changed: the watch parses that one and replaces its one slot.
    ws.write(&format!("cities/{}.toml", id(7)), city(7, "Moin").toml());
    let line = host
        .wait_for_log(&["reloaded the manifests", "1 replaced", "1 of 2000 manifests parsed again"], LOG_WAIT)
        .await;
    assert!(line.contains(&format!("{} unchanged", CITIES - 1)), "{line}");
    let seventh = format!("{}.localhost", id(7));
    assert_eq!(get(&host.url("/hello"), Some(&seventh)).await, (200, format!("Moin from {}!\n", id(7))));

    // Pages of /v1/components: every row once, in order, the total on each.
    let mut seen = Vec::new();
    let mut path = "/v1/components?limit=300".to_owned();
    for _ in 0..20 {
        let (status, page) = admin(&host, reqwest::Method::GET, &path).await;
        assert_eq!((status, page["total"].as_u64()), (200, Some(CITIES as u64)), "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 300);
        seen.extend(items.iter().map(|c| format!("{}/{}", c["city"].as_str().unwrap(), c["name"].as_str().unwrap())));
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/components?limit=300&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..CITIES).map(|i| format!("{}/hello", id(i))).collect();
    assert_eq!(seen, expected, "every row exactly once, in city/component order");
    // Filtered: one city; a component; a search among the cities.
    let (_, one) = admin(&host, reqwest::Method::GET, &format!("/v1/components?city={}", id(42))).await;
    assert_eq!((one["total"].as_u64(), one["next"].is_null()), (Some(1), true), "{one}");
    let (_, found) = admin(&host, reqwest::Method::GET, "/v1/cities?q=C199&limit=5").await;
    let ids: BTreeSet<_> = found["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!((found["total"].as_u64(), ids.len()), (Some(10), 5), "{found}");
    let (status, refused) = admin(&host, reqwest::Method::GET, "/v1/components?limit=0").await;
    assert_eq!((status, refused["kind"].as_str()), (400, Some("query")), "{refused}");

    // The scrape: one series per city and a few per component name, never one per slot.
    let url = format!("http://{}/metrics", host.admin_addr().await);
    let metrics = client().get(&url).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    let series = metrics.lines().filter(|line| !line.starts_with('#')).count();
    assert!(series < CITIES + 100, "{series} series");
    assert!(!metrics.contains("city=\"c0007\",component="), "no series per slot by default");
    let line = format!("civic_city_requests_total{{city=\"{}\"}} 1", id(7));
    assert!(metrics.lines().any(|l| l == line), "{line}");
    assert!(metrics.lines().any(|l| l == "civic_components{component=\"hello\"} 2000"));

    // `civic status`: with more rows than a screen, a summary and what fails; one city on request.
    let token = ws.write("token", TOKEN);
    let admin_addr = host.admin_addr().await.to_string();
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--admin", &admin_addr, "--admin-token-file", token.to_str().unwrap()];
        args.extend(extra);
        let output = civic(&args, ws.path());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let summary = status(&[]);
    assert!(summary.starts_with("2000 cities, 2000 components; 0 failing"), "{summary}");
    assert!(summary.lines().count() < 10, "{summary}");
    let one = status(&["--city", &id(7)]);
    assert!(one.lines().any(|l| l.split_whitespace().take(2).eq([id(7).as_str(), "hello"])), "{one}");
    assert_eq!(one.lines().count(), 2, "the header and the city's one component: {one}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_stores_one_files_bytes_once_for_2000_slots() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let dir = cities(&ws);
    let first = Civic::run_clustered(&db, &[&dir], TOKEN, &[]);
    first.wait_for_log(&["joined the cluster"], LOG_WAIT).await;
    let count = |table: &str| server.query(&db, &format!("SELECT count(*) FROM {table}"));
    assert_eq!(count("civic_blobs"), "1", "one file, one blob");
    assert_eq!(count("civic_versions"), CITIES.to_string());
    assert_eq!(count("civic_served"), "0", "a host that serves what the cluster wants stores nothing per slot");
    let stored = server.query(&db, "SELECT sum(length(wasm)) FROM civic_blobs");
    assert_eq!(stored, std::fs::metadata(HELLO_CITY).unwrap().len().to_string());

    // A second host adopts the same sources: nothing new is stored, and it serves the last city.
    let second = Civic::run_clustered(&db, &[&dir], TOKEN, &[]);
    second.wait_for_log(&["joined the cluster"], LOG_WAIT).await;
    assert_eq!((count("civic_blobs"), count("civic_versions")), ("1".into(), CITIES.to_string()));
    let last = format!("{}.localhost", id(CITIES - 1));
    assert_eq!(get(&second.url("/hello"), Some(&last)).await.0, 200);

    // The cluster's view pages like every list, and counts what disagrees in the whole cluster.
    let (status, view) = admin(&second, reqwest::Method::GET, "/v1/cluster?limit=10").await;
    assert_eq!((status, view["total"].as_u64(), view["items"].as_array().map(Vec::len)), (200, Some(2000), Some(10)));
    assert_eq!(view["next"], format!("{}/hello", id(9)), "{view}");
    let (_, page) = admin(&second, reqwest::Method::GET, &format!("/v1/cluster?limit=10&cursor={}/hello", id(9))).await;
    assert_eq!(page["items"][0]["city"], id(10), "{page}");
    // Both hosts serve every slot as the cluster wants, and neither stored a row to say so.
    assert_eq!((view["agree"].as_bool(), view["disagreeing"].as_u64()), (Some(true), Some(0)), "{view}");
    let hosts = |item: &Value| item["hosts"].as_array().map_or(0, Vec::len);
    assert!(page["items"].as_array().is_some_and(|items| items.iter().all(|item| hosts(item) == 2)), "{page}");
    assert_eq!(count("civic_served"), "0");
}
