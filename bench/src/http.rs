//! Scenario 1: the same hello component served by `civic run` and by `wasmtime serve` (pooling
//! allocator on), and the same work done by a native hyper server.

use crate::load::{Load, Server, measure};
use crate::{Options, bench_city, start_civic, start_civic_binary};
use std::time::Duration;

const START: Duration = Duration::from_secs(120);
const CONNECTIONS: u32 = 32;

/// The config every server greets with.
pub const HELLO_CONFIG: &str = "config = { city_name = \"Bench\", greeting = \"Moin\" }";

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hello = options.plugin("hello_city");
    let manifest = bench_city(dir.path(), &hello, "/hello", HELLO_CONFIG)?;
    let shape = options.shape(CONNECTIONS);

    let civic = start_civic(options, dir.path(), std::slice::from_ref(&manifest))?;
    let civic_load = measure(&format!("http://{}/hello", civic.addr), &shape)?;
    drop(civic);
    let before = match &options.civic_before {
        Some(binary) => {
            let civic = start_civic_binary(binary, dir.path(), &[manifest])?;
            Some((binary, measure(&format!("http://{}/hello", civic.addr), &shape)?))
        }
        None => None,
    };

    let wasmtime = Server::start(
        &options.wasmtime,
        &[
            "serve".into(),
            "-O".into(),
            "pooling-allocator=y".into(),
            "-S".into(),
            "cli=y".into(),
            "-S".into(),
            "config=y".into(),
            "-S".into(),
            "config-var=city_name=Bench".into(),
            "-S".into(),
            "config-var=greeting=Moin".into(),
            "--addr".into(),
            "127.0.0.1:0".into(),
            hello.display().to_string(),
        ],
        &[],
        START,
    )?;
    let wasmtime_load = measure(&format!("http://{}/hello", wasmtime.addr), &shape)?;
    drop(wasmtime);

    let native = Server::start(&options.native, &["127.0.0.1:0".into()], &[], START)?;
    let native_load = measure(&format!("http://{}/hello", native.addr), &shape)?;
    drop(native);

    println!("## Hello over HTTP ({CONNECTIONS} connections, median of {} × {} s)\n", options.runs, options.seconds);
    println!("| server | requests/s | p50 | p99 | errors |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    row("civic run", &civic_load);
    if let Some((binary, load)) = &before {
        row(&format!("civic run, before (`{}`)", binary.display()), load);
    }
    for (name, load) in [("wasmtime serve", wasmtime_load), ("native hyper", native_load)] {
        row(name, &load);
    }
    println!(
        "\ncivic / wasmtime serve = {:.2}; civic / native = {:.2}\n",
        civic_load.rps / wasmtime_load.rps,
        civic_load.rps / native_load.rps
    );
    Ok(())
}

pub fn row(name: &str, load: &Load) {
    println!(
        "| {name} | {} | {:.0} µs | {:.0} µs | {} |",
        crate::thousands(load.rps),
        load.p50_us,
        load.p99_us,
        load.errors
    );
}
