//! Scenario 4: durable key-value operations — through a component over HTTP (`PUT`/`GET` on the
//! key-value test guest, every set acknowledged only once it is on disk) and on the SQLite backend
//! directly, with as many concurrent callers.

use crate::load::{LoadShape, measure};
use crate::{Options, bench_city, start_civic};
use civic_host::state::sqlite::SqliteBackend;
use civic_host::state::{Backend, Namespace, Write};
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
    let civic = start_civic(options, dir.path(), &[manifest])?;
    let url = format!("http://{}/", civic.addr);
    let shape = |script| LoadShape { script: Some(script), ..options.shape(CONNECTIONS) };
    let http_sets = measure(&url, &shape(sets))?;
    let http_gets = measure(&url, &shape(gets))?;
    drop(civic);

    let threads = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let seconds = Duration::from_secs(options.seconds);
    let (direct_sets, direct_gets) = threads.block_on(async {
        let backend = Arc::new(SqliteBackend::open(&dir.path().join("direct.sqlite3"))?);
        let sets = hammer(backend.clone(), seconds, true).await;
        let gets = hammer(backend, seconds, false).await;
        anyhow::Ok((sets, gets))
    })?;

    println!("## Durable key-value operations ({CONNECTIONS} concurrent callers, synchronous=FULL)\n");
    println!("| operation | through a component over HTTP | on the backend directly |");
    println!("| --- | ---: | ---: |");
    let cell = |load: &crate::load::Load| {
        format!("{}/s (p50 {:.0} µs, p99 {:.0} µs)", crate::thousands(load.rps), load.p50_us, load.p99_us)
    };
    println!("| set | {} | {}/s |", cell(&http_sets), crate::thousands(direct_sets));
    println!("| get | {} | {}/s |", cell(&http_gets), crate::thousands(direct_gets));
    println!("\nHTTP errors: {} on sets, {} on gets.\n", http_sets.errors, http_gets.errors);
    Ok(())
}

/// Operations per second from as many concurrent callers as the HTTP test has connections.
async fn hammer(backend: Arc<SqliteBackend>, duration: Duration, write: bool) -> f64 {
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
