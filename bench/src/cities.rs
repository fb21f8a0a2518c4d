//! Scenario 3: the shared-service centre — 1, 100 and 1000 city manifests, each running seven
//! components drawn from the same few files. Start-up is measured from spawn to the `listening on`
//! line, first with an empty compile cache, then again with the cache warm; memory is the host's
//! resident set once it listens.
//!
//! With `--count N`: every operation at N cities (seven components from five files each, in one
//! directory): start alone and as the first and second host of a cluster, a reload of one changed
//! file (from the write to the log line, with `--watch`) and one with nothing changed, a scrape,
//! the first page of `/v1/components`, the resident set before and after, the cluster's database
//! against the distinct bytes, and an idle cluster's queries per second.

use crate::swap::{TOKEN, exchange};
use crate::{Options, start_civic, start_civic_with};
use civic_tests::edit::with_custom_section;
use civic_tests::postgres::Postgres;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const COMPONENTS_PER_CITY: usize = 7;

/// How long the scale scenario waits for a host to start or a reload to show.
const PATIENCE: Duration = Duration::from_secs(600);

/// How long the idle cluster's queries are counted.
const IDLE: Duration = Duration::from_secs(30);

pub fn run(options: &Options) -> anyhow::Result<()> {
    if let Some(count) = options.count {
        return scale(options, count);
    }
    let files = [
        options.plugin("hello_city"),
        options.guest("keyvalue"),
        options.guest("plain_proxy"),
        options.guest("faulty"),
    ];
    println!("## Many cities, shared components ({COMPONENTS_PER_CITY} per city from {} files)\n", files.len());
    println!("| cities | start-up, cold cache | start-up, warm cache | RSS |");
    println!("| ---: | ---: | ---: | ---: |");
    for count in [1, 100, 1000] {
        let dir = tempfile::tempdir()?;
        let manifests = write_cities(dir.path(), count, &files)?;
        let cold = start_civic(options, dir.path(), &manifests)?;
        let cold_startup = cold.startup;
        drop(cold);
        let warm = start_civic(options, dir.path(), &manifests)?;
        let rss = warm.rss_bytes()?;
        println!(
            "| {count} | {:.2} s | {:.2} s | {} MiB |",
            cold_startup.as_secs_f64(),
            warm.startup.as_secs_f64(),
            rss / (1024 * 1024)
        );
    }
    println!();
    Ok(())
}

fn write_cities(dir: &Path, count: usize, files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    (0..count)
        .map(|i| {
            let mut text = format!(
                "manifest_version = 1\n[city]\nid = \"city-{i}\"\nname = \"City {i}\"\nhosts = [\"city-{i}.localhost\"]\n"
            );
            for c in 0..COMPONENTS_PER_CITY {
                let file = &files[c % files.len()];
                text += &format!(
                    "[components.service-{c}]\nsource = {:?}\nconfig = {{ city_name = \"City {i}\" }}\nkeyvalue = [\"b\"]\n\
                     [[routes]]\npath = \"/s{c}\"\ncomponent = \"service-{c}\"\n",
                    file.display().to_string()
                );
            }
            let path = dir.join(format!("city-{i}.toml"));
            std::fs::write(&path, text)?;
            Ok(path)
        })
        .collect()
}

fn scale(options: &Options, count: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hello = options.plugin("hello_city");
    // A fifth distinct file: hello-city with a custom section more (another sha256, same behaviour).
    let fifth = dir.path().join("hello_again.wasm");
    std::fs::write(&fifth, with_custom_section(&std::fs::read(&hello)?, "civic-bench", b"again"))?;
    let files = [hello, options.guest("keyvalue"), options.guest("plain_proxy"), options.guest("faulty"), fifth];
    let distinct: u64 = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    let cities = dir.path().join("cities");
    std::fs::create_dir_all(&cities)?;
    write_cities(&cities, count, &files)?;
    let slots = count * COMPONENTS_PER_CITY;
    let row = |what: &str, value: String| println!("| {what} | {value} |");
    println!("## Every operation at {count} cities ({slots} components from {} files)\n", files.len());
    println!("| what | measured |");
    println!("| --- | ---: |");

    // One host, SQLite.
    let admin = ["--admin", "127.0.0.1:0", "--watch"];
    let env = [("CIVIC_ADMIN_TOKEN", TOKEN), ("RUST_LOG", "info")];
    let alone = start_civic_with(options, &dir.path().join("alone"), std::slice::from_ref(&cities), &admin, &env)?;
    row("start, one host (SQLite)", seconds(alone.startup));
    let api = alone.next_addr(PATIENCE)?;
    alone.wait_for("serving", PATIENCE)?;
    let before = alone.rss_bytes()?;
    row("RSS after start", mib(before));

    let started = Instant::now();
    let (status, answer) = exchange(api, "POST", "/v1/reload", &[])?;
    anyhow::ensure!(status == 200, "reload answered {status}: {answer}");
    // Its log line, so that the next one waited for is the watch's.
    alone.wait_for("reloaded the manifests", PATIENCE)?;
    row("`POST /v1/reload`, nothing changed", seconds(started.elapsed()));

    let changed = cities.join(format!("city-{}.toml", count / 2));
    let text = std::fs::read_to_string(&changed)?.replacen("city_name = ", "greeting = \"Moin\", city_name = ", 1);
    let started = Instant::now();
    std::fs::write(&changed, text)?;
    alone.wait_for("reloaded the manifests", PATIENCE)?;
    row("`--watch`, one manifest changed: write to log line", seconds(started.elapsed()));

    let started = Instant::now();
    let (_, metrics) = exchange(api, "GET", "/metrics", &[])?;
    let scrape_time = started.elapsed();
    let series = metrics.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    row(
        "`GET /metrics`",
        format!(
            "{} in {}, {} series",
            mib_f(metrics.len() as u64),
            seconds(scrape_time),
            crate::thousands(series as f64)
        ),
    );

    let started = Instant::now();
    let (_, page) = exchange(api, "GET", "/v1/components", &[])?;
    row(
        "`GET /v1/components`, first page (1000)",
        format!("{} KiB in {}", page.len() / 1024, seconds(started.elapsed())),
    );
    // What `civic status` asks beside it.
    exchange(api, "GET", "/v1/cities?limit=1", &[])?;
    exchange(api, "GET", "/v1/components?health=failing&limit=40", &[])?;
    let after = alone.rss_bytes()?;
    row(
        "RSS after a status and a scrape",
        format!("{} ({:+.1} %)", mib(after), (after as f64 / before as f64 - 1.0) * 100.0),
    );
    drop(alone);

    // A cluster of two on PostgreSQL.
    let server = Postgres::shared();
    let db = server.database();
    let clustered = ["--state", db.as_str(), "--admin", "127.0.0.1:0"];
    let env = [("CIVIC_ADMIN_TOKEN", TOKEN)];
    let first = start_civic_with(options, &dir.path().join("first"), std::slice::from_ref(&cities), &clustered, &env)?;
    row("start, first host of a cluster", seconds(first.startup));
    let second =
        start_civic_with(options, &dir.path().join("second"), std::slice::from_ref(&cities), &clustered, &env)?;
    row("start, second host of the cluster", seconds(second.startup));
    let cluster_api = second.next_addr(PATIENCE)?;
    let started = Instant::now();
    let (_, view) = exchange(cluster_api, "GET", "/v1/cluster", &[])?;
    row("`GET /v1/cluster`, first page (1000)", format!("{} KiB in {}", view.len() / 1024, seconds(started.elapsed())));
    let size: u64 = server.query(&db, "SELECT pg_database_size(current_database())").parse()?;
    let budget = distinct + 1024 * slots as u64;
    row(
        "PostgreSQL database",
        format!("{} (budget: distinct bytes + 1 KiB per slot = {})", mib_f(size), mib_f(budget)),
    );
    let commits = || -> anyhow::Result<u64> {
        let sql = "SELECT pg_stat_force_next_flush(); SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()";
        Ok(server.query(&db, sql).lines().last().unwrap_or_default().parse()?)
    };
    let (from, started) = (commits()?, Instant::now());
    std::thread::sleep(IDLE);
    let queries = commits()?.saturating_sub(from + 2) as f64 / started.elapsed().as_secs_f64() / 2.0;
    row("transactions per second of an idle host (pg_stat_database)", format!("{queries:.2}"));
    drop((first, second));
    println!();
    Ok(())
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn mib_f(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
