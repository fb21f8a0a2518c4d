//! Scenario 1: the same hello component served by `civic run` and by `wasmtime serve` (pooling
//! allocator on), and the same work done by a native hyper server; beside them, a hello of WASI
//! 0.3 on `civic run --experimental-wasip3`, and the 0.2 hello on that host.

use crate::load::{Load, Server, measure};
use crate::{Options, bench_city, start_civic, start_civic_binary, start_civic_with};
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
    let (wasip3_load, wasip3_hello_load) = wasip3(options, &hello, &shape)?;
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
    row("civic run --experimental-wasip3", &wasip3_load);
    row("civic run --experimental-wasip3, the hello of WASI 0.3", &wasip3_hello_load);
    for (name, load) in [("wasmtime serve", wasmtime_load), ("native hyper", native_load)] {
        row(name, &load);
    }
    println!(
        "\ncivic / wasmtime serve = {:.2}; civic / native = {:.2}\n",
        civic_load.rps / wasmtime_load.rps,
        civic_load.rps / native_load.rps
    );
    println!(
        "WASI 0.3 hello / 0.2 hello, on the host with the switch = {:.2}; 0.2 hello with the switch / without = {:.2}\n",
        wasip3_hello_load.rps / wasip3_load.rps,
        wasip3_load.rps / civic_load.rps
    );
    Ok(())
}

/// With `--experimental-wasip3`: the 0.2 hello, and `http-p3`'s `/hello` (its `civic:tax` import
/// linked to `test-tax`, which the hello does not call), in one city.
fn wasip3(options: &Options, hello: &std::path::Path, shape: &crate::load::LoadShape) -> anyhow::Result<(Load, Load)> {
    let dir = tempfile::tempdir()?;
    let [hello, p3, tax] = [hello.to_path_buf(), options.guest("http_p3"), options.guest("test_tax")]
        .map(|wasm| wasm.display().to_string());
    let manifest = dir.path().join("wasip3.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"manifest_version = 1
[city]
id = "bench"
name = "Bench"

[components.hello]
source = {hello:?}
{HELLO_CONFIG}

[components.p3]
source = {p3:?}
links = {{ "civic:tax/assessment@1" = "tax" }}

[components.tax]
source = {tax:?}

[[routes]]
path = "/hello"
component = "hello"

[[routes]]
path = "/p3"
component = "p3"
"#
        ),
    )?;
    let civic = start_civic_with(options, dir.path(), &[manifest], &["--experimental-wasip3"], &[])?;
    let zero_two = measure(&format!("http://{}/hello", civic.addr), shape)?;
    let zero_three = measure(&format!("http://{}/p3/hello", civic.addr), shape)?;
    Ok((zero_two, zero_three))
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
