//! Scenario 7: what a linked call costs. In process (no network), requests to the `link-bench`
//! guest compute one tax assessment `N` times, either through the host's link to `test-tax` or
//! in-process with the same values built. Per hop:
//! - warm: `(linked(101) − linked(1)) − (local(101) − local(1))`, over 100 — the callee instance
//!   exists, only the call crosses (arguments and results copied by value, a span, the lookup);
//! - cold: `linked(1) − local(1)` — the first call of a request also makes the callee's store and
//!   instance.

use crate::Options;
use crate::instantiate::{Summary, in_process};
use bytes::Bytes;
use civic_host::runtime::Runtime;
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests per path, measured in interleaved chunks so drift hits every path alike.
const REQUESTS: usize = 4_000;
const CHUNK: usize = 200;
/// The calls of the "many" requests: one more than the hops measured.
const MANY: u32 = 101;

const PATHS: [(&str, &str); 4] = [
    ("local, 1 call", "/bench/local?calls=1"),
    ("local, 101 calls", "/bench/local?calls=101"),
    ("linked, 1 call", "/bench/linked?calls=1"),
    ("linked, 101 calls", "/bench/linked?calls=101"),
];

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("bench.toml");
    std::fs::write(
        &manifest,
        format!(
            "manifest_version = 1\n[city]\nid = \"bench\"\nname = \"Bench\"\n\
             [components.caller]\nsource = {:?}\nlinks = {{ \"civic:tax/assessment@1\" = \"tax\" }}\n\
             [components.tax]\nsource = {:?}\n\
             [[routes]]\npath = \"/bench\"\ncomponent = \"caller\"\n",
            options.guest("link_bench").display().to_string(),
            options.guest("test_tax").display().to_string(),
        ),
    )?;
    let runtime = Arc::new(in_process(&manifest, |_| ())?);

    let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let times = threads.block_on(async {
        let mut times: [Vec<Duration>; 4] = Default::default();
        for (_, path) in PATHS {
            for _ in 0..CHUNK {
                request(&runtime, path).await?;
            }
        }
        for _ in 0..REQUESTS / CHUNK {
            for ((_, path), times) in PATHS.iter().zip(&mut times) {
                for _ in 0..CHUNK {
                    let started = Instant::now();
                    request(&runtime, path).await?;
                    times.push(started.elapsed());
                }
            }
        }
        anyhow::Ok(times)
    })?;

    let [local_one, local_many, linked_one, linked_many] = times.map(Summary::of);
    println!("## A linked call: per hop, next to the same call inside one component ({REQUESTS} requests each)\n");
    println!("| request | mean | p50 | p99 |");
    println!("| --- | ---: | ---: | ---: |");
    for ((name, _), s) in PATHS.iter().zip([&local_one, &local_many, &linked_one, &linked_many]) {
        println!("| {name} | {:.1} µs | {:.1} µs | {:.1} µs |", s.mean, s.p50, s.p99);
    }
    let hops = f64::from(MANY - 1);
    let warm = |pick: fn(&Summary) -> f64| {
        ((pick(&linked_many) - pick(&linked_one)) - (pick(&local_many) - pick(&local_one))) / hops
    };
    let cold = |pick: fn(&Summary) -> f64| pick(&linked_one) - pick(&local_one);
    println!();
    println!("| added per hop | p50 | p99 |");
    println!("| --- | ---: | ---: |");
    println!("| warm (callee instantiated) | {:.2} µs | {:.2} µs |", warm(|s| s.p50), warm(|s| s.p99));
    println!("| cold (first call of a request) | {:.1} µs | {:.1} µs |", cold(|s| s.p50), cold(|s| s.p99));
    println!("\nwarm hop p50 = {:.2} µs (goal < 10 µs)\n", warm(|s| s.p50));
    Ok(())
}

async fn request(runtime: &Arc<Runtime>, path: &str) -> anyhow::Result<()> {
    let request: http::Request<BoxBody<Bytes, wasmtime_wasi_http::Error>> = http::Request::builder()
        .uri(format!("http://bench.localhost{path}"))
        .header(http::header::HOST, "bench.localhost")
        .body(Full::new(Bytes::new()).map_err(|never| match never {}).boxed())?;
    let response = runtime.handle(request).await;
    anyhow::ensure!(response.status() == 200, "{path} answered {}", response.status());
    let _ = response.into_body().collect().await;
    Ok(())
}
