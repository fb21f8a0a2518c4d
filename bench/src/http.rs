//! Scenario 1: the same hello component served by `civic run` and by `wasmtime serve` (pooling
//! allocator on), and the same work done by a native hyper server.

use crate::Options;
use crate::load::{Load, Server, measure};
use std::time::Duration;

const START: Duration = Duration::from_secs(120);
const CONNECTIONS: u32 = 32;

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hello = options.plugin("hello_city");
    let manifest = dir.path().join("bench.toml");
    std::fs::write(
        &manifest,
        format!(
            "manifest_version = 1\n[city]\nid = \"bench\"\nname = \"Bench\"\n\
             [components.hello]\nsource = {:?}\nconfig = {{ city_name = \"Bench\", greeting = \"Moin\" }}\n\
             [[routes]]\npath = \"/hello\"\ncomponent = \"hello\"\n",
            hello.display().to_string()
        ),
    )?;
    let shape = options.shape(CONNECTIONS);

    // Per-request access logging is off for the measurement, as it is for wasmtime serve.
    let civic = Server::start(
        &options.civic,
        &[
            "run".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
            manifest.display().to_string(),
        ],
        &[("RUST_LOG", "warn")],
        START,
    )?;
    let civic_load = measure(&format!("http://{}/hello", civic.addr), &shape)?;
    drop(civic);

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
    for (name, load) in [("civic run", civic_load), ("wasmtime serve", wasmtime_load), ("native hyper", native_load)] {
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
