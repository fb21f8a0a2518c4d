//! Scenario 8: how fast a change made through one host of a cluster reaches the others. Three
//! `civic run --state postgres://…` hosts on one PostgreSQL server (the test harness's, on this
//! machine); 20 swaps, each through the next host, alternating two versions of `hello_city` that
//! behave alike (the second has a custom section more: another sha256); then 20 rollbacks. Each
//! is timed from the admin call to the moment both other hosts report the new version number in
//! `GET /v1/components`.

use crate::swap::{TOKEN, exchange};
use crate::{Options, start_civic_with};
use anyhow::{Context as _, ensure};
use civic_tests::edit::with_custom_section;
use civic_tests::postgres::Postgres;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CHANGES: usize = 20;
const PATH: &str = "/v1/cities/bench/components/service";

pub fn run(options: &Options) -> anyhow::Result<()> {
    let server = Postgres::shared();
    let db = server.database();
    let dir = tempfile::tempdir()?;
    let hello = options.plugin("hello_city");
    let manifest = crate::bench_city(dir.path(), &hello, "/hello", crate::http::HELLO_CONFIG)?;
    let args = ["--state", db.as_str(), "--admin", "127.0.0.1:0"];
    let mut hosts = Vec::new();
    let mut admins = Vec::new();
    for i in 0..3 {
        let host = start_civic_with(
            options,
            &dir.path().join(format!("host-{i}")),
            std::slice::from_ref(&manifest),
            &args,
            &[("CIVIC_ADMIN_TOKEN", TOKEN)],
        )?;
        admins.push(host.next_addr(Duration::from_secs(10))?);
        hosts.push(host);
    }
    let v1 = std::fs::read(&hello)?;
    let versions = [with_custom_section(&v1, "civic-bench", b"v2"), v1];

    let mut swaps = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let via = i % 3;
        let started = Instant::now();
        let number = change(admins[via], "PUT", PATH, &versions[i % 2])?;
        reached(&admins, via, number)?;
        swaps.push(started.elapsed());
    }
    let mut rollbacks = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let via = i % 3;
        let started = Instant::now();
        let number = change(admins[via], "POST", &format!("{PATH}/rollback"), &[])?;
        reached(&admins, via, number)?;
        rollbacks.push(started.elapsed());
    }

    println!("## A change through one host of three, until the other two serve it ({CHANGES} each)\n");
    println!("| change | p50 | p99 | max |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, mut times) in [("swap", swaps), ("rollback", rollbacks)] {
        times.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(times[times.len() / 2]),
            ms(p99),
            ms(times[times.len() - 1])
        );
    }
    println!("\nGoal: every other host within 2 s.\n");
    drop(hosts);
    Ok(())
}

/// Sends a swap or a rollback; the cluster's version number it made live.
fn change(admin: SocketAddr, method: &str, path: &str, body: &[u8]) -> anyhow::Result<u64> {
    let (status, answer) = exchange(admin, method, path, body)?;
    ensure!(status == 200, "{method} {path} answered {status}: {answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer)?;
    answer["version"].as_u64().context("a version number")
}

/// Waits (at most 10 s) until every host but `via` serves version `number`.
fn reached(admins: &[SocketAddr], via: usize, number: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, admin) in admins.iter().enumerate().filter(|(i, _)| *i != via) {
        loop {
            let (_, status) = exchange(*admin, "GET", "/v1/components", &[])?;
            let status: serde_json::Value = serde_json::from_str(&status)?;
            if status["items"][0]["version"].as_u64() == Some(number) {
                break;
            }
            ensure!(Instant::now() < deadline, "host {i} did not serve version {number} within 10 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}
