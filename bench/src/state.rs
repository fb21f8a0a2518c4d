//! Scenario 4: durable key-value operations — through a component over HTTP (`PUT`/`GET` on the
//! key-value test guest, every set acknowledged only once it is durable) and on the backend
//! directly, with as many concurrent callers: SQLite in the data dir, and PostgreSQL (a server the
//! harness starts on 127.0.0.1, as the tests do).

use crate::load::{Load, LoadShape, measure};
use crate::{Options, bench_city, start_civic_with};
use civic_host::state::postgres::PostgresBackend;
use civic_host::state::sqlite::SqliteBackend;
use civic_host::state::{Backend, Namespace, Write};
use civic_tests::postgres::Postgres;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONNECTIONS: u32 = 32;

/// Each request writes or reads a key of its own; reads cycle over keys the writes created.
const SETS: &str = r#"counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/kv/b/key-" .. counter, nil, "a value of about forty bytes, like a form")
end"#;
const GETS: &str = r#"counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/kv/b/key-" .. (counter % 5000 + 1))
end"#;

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let manifest = bench_city(dir.path(), &options.guest("keyvalue"), "/kv", "keyvalue = [\"b\"]")?;
    let (sets, gets) = (dir.path().join("sets.lua"), dir.path().join("gets.lua"));
    std::fs::write(&sets, SETS)?;
    std::fs::write(&gets, GETS)?;
    let server = Postgres::shared();
    let threads = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let seconds = Duration::from_secs(options.seconds);
    let mut rows = Vec::new();
    for store in ["sqlite", "postgres"] {
        let (state, direct): (String, Arc<dyn Backend>) = match store {
            "sqlite" => ("sqlite".into(), Arc::new(SqliteBackend::open(&dir.path().join("direct.sqlite3"))?)),
            _ => {
                let url = server.database().parse().map_err(anyhow::Error::msg)?;
                let backend = threads.block_on(PostgresBackend::connect(&url, Duration::from_secs(5)))?;
                (server.database(), Arc::new(backend))
            }
        };
        let data = dir.path().join(store);
        let civic = start_civic_with(options, &data, std::slice::from_ref(&manifest), &["--state", &state], &[])?;
        let url = format!("http://{}/", civic.addr);
        let shape =
            |script: &std::path::Path| LoadShape { script: Some(script.to_path_buf()), ..options.shape(CONNECTIONS) };
        let (http_sets, http_gets) = (measure(&url, &shape(&sets))?, measure(&url, &shape(&gets))?);
        drop(civic);
        let sets_per_second = threads.block_on(hammer(direct.clone(), seconds, true));
        let gets_per_second = threads.block_on(hammer(direct, seconds, false));
        rows.push((store, http_sets, http_gets, sets_per_second, gets_per_second));
    }

    println!("## Durable key-value operations ({CONNECTIONS} concurrent callers)\n");
    println!("SQLite with synchronous=FULL; PostgreSQL 15 on the same machine, synchronous_commit=on.\n");
    println!("| store | operation | through a component over HTTP | on the backend directly |");
    println!("| --- | --- | ---: | ---: |");
    let cell = |load: &Load| {
        format!("{}/s (p50 {:.0} µs, p99 {:.0} µs)", crate::thousands(load.rps), load.p50_us, load.p99_us)
    };
    for (store, http_sets, http_gets, sets, gets) in &rows {
        println!("| {store} | set | {} | {}/s |", cell(http_sets), crate::thousands(*sets));
        println!("| {store} | get | {} | {}/s |", cell(http_gets), crate::thousands(*gets));
    }
    let (
        (_, sqlite_sets, sqlite_gets, sqlite_direct_sets, sqlite_direct_gets),
        (_, sets, gets, direct_sets, direct_gets),
    ) = (&rows[0], &rows[1]);
    println!(
        "\npostgres / sqlite over HTTP: sets {:.2}, gets {:.2}; directly: sets {:.2}, gets {:.2}",
        sets.rps / sqlite_sets.rps,
        gets.rps / sqlite_gets.rps,
        direct_sets / sqlite_direct_sets,
        direct_gets / sqlite_direct_gets
    );
    for (store, sets, gets, ..) in &rows {
        println!("HTTP errors ({store}): {} on sets, {} on gets.", sets.errors, gets.errors);
    }
    println!();
    Ok(())
}

/// Operations per second from as many concurrent callers as the HTTP test has connections.
async fn hammer(backend: Arc<dyn Backend>, duration: Duration, write: bool) -> f64 {
    let ns = Namespace {
        city: "bench".to_owned().try_into().expect("a valid id"),
        component: "store".to_owned().try_into().expect("a valid name"),
        bucket: "b".into(),
    };
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..CONNECTIONS)
        .map(|caller| {
            let (backend, ns, done) = (backend.clone(), ns.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while started.elapsed() < duration {
                    let key = format!("key-{caller}-{}", i % 5000);
                    if write {
                        let value = b"a value of about forty bytes, like a form".to_vec();
                        backend.write(&ns, vec![Write::Set(key, value)]).await.expect("a durable set");
                    } else {
                        backend.get_many(&ns, &[key]).await.expect("a get");
                    }
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for caller in callers {
        let _ = caller.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
