//! `civic-bench`: measures Civic on this machine, side by side with its baselines in one run, and
//! prints Markdown tables for BENCHMARKS.md. `bench/run` installs the tools, builds everything in
//! release mode and runs `civic-bench all`.

mod cities;
mod cluster;
mod http;
mod instantiate;
mod isolation;
mod link;
mod load;
mod state;
mod swap;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
struct Options {
    #[command(subcommand)]
    scenario: Scenario,

    /// The `civic` binary under test (a release build).
    #[arg(long, default_value = "target/release/civic", global = true)]
    civic: PathBuf,

    /// Another `civic` to serve hello over HTTP beside the one under test: the "before" of a change.
    #[arg(long, global = true)]
    civic_before: Option<PathBuf>,

    /// The native baseline server.
    #[arg(long, default_value = "target/release/native-hello", global = true)]
    native: PathBuf,

    /// `wasmtime` 48.x, for `wasmtime serve`.
    #[arg(long, default_value = "bench/.tools/bin/wasmtime", global = true)]
    wasmtime: PathBuf,

    /// The release builds of plugins/.
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release", global = true)]
    plugins: PathBuf,

    /// `hello_city.wasm` built with Rust's default 1 MiB stack, for the before of the small stack.
    #[arg(long, default_value = "target/bench-1mib-stack/wasm32-wasip2/release/hello_city.wasm", global = true)]
    big_stack_hello: PathBuf,

    /// The release builds of tests/guests/.
    #[arg(long, default_value = "tests/guests/target/wasm32-wasip2/release", global = true)]
    guests: PathBuf,

    /// Seconds per measured load run.
    #[arg(long, default_value_t = 10, global = true)]
    seconds: u64,

    /// Measured runs per figure; the median is reported.
    #[arg(long, default_value_t = 3, global = true)]
    runs: usize,

    /// For `cities`: measure every operation at this many cities (start alone and in a cluster,
    /// reloads, a scrape, the admin API), instead of start-up at 1, 100 and 1000.
    #[arg(long, global = true)]
    count: Option<usize>,
}

#[derive(Subcommand, Clone, Copy, PartialEq)]
enum Scenario {
    /// Every scenario below.
    All,
    /// Hello over HTTP: civic vs wasmtime serve vs native hyper.
    Http,
    /// Store + instantiation + one call, in process: civic's path vs wasmtime's own.
    Instantiate,
    /// Start-up time and memory for 1, 100 and 1000 cities sharing components; with `--count N`,
    /// every operation at N cities.
    Cities,
    /// Durable key-value sets and gets, through a component and on the backend directly.
    State,
    /// A healthy component's throughput while a neighbour loops.
    Isolation,
    /// Latency while a component is swapped again and again, and how fast a swap goes live.
    Swap,
    /// One linked call between two components next to the same call inside one component.
    Link,
    /// How fast a swap or rollback through one host of a cluster reaches the others.
    Cluster,
}

impl Options {
    fn shape(&self, connections: u32) -> load::LoadShape {
        load::LoadShape { connections, duration: Duration::from_secs(self.seconds), runs: self.runs, script: None }
    }

    fn plugin(&self, name: &str) -> PathBuf {
        absolute(&self.plugins.join(format!("{name}.wasm")))
    }

    fn guest(&self, name: &str) -> PathBuf {
        absolute(&self.guests.join(format!("{name}.wasm")))
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    println!("{}", machine());
    let all = options.scenario == Scenario::All;
    if all || options.scenario == Scenario::Http {
        http::run(&options)?;
    }
    if all || options.scenario == Scenario::Instantiate {
        instantiate::run(&options)?;
    }
    if all || options.scenario == Scenario::Cities {
        cities::run(&options)?;
    }
    if all || options.scenario == Scenario::State {
        state::run(&options)?;
    }
    if all || options.scenario == Scenario::Isolation {
        isolation::run(&options)?;
    }
    if all || options.scenario == Scenario::Swap {
        swap::run(&options)?;
    }
    if all || options.scenario == Scenario::Link {
        link::run(&options)?;
    }
    if all || options.scenario == Scenario::Cluster {
        cluster::run(&options)?;
    }
    Ok(())
}

/// Writes a one-city manifest to `dir` whose component `service` serves `path` from `wasm`, with
/// `more` lines of TOML for the component.
fn bench_city(dir: &std::path::Path, wasm: &std::path::Path, path: &str, more: &str) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("bench.toml");
    std::fs::write(
        &manifest,
        format!(
            "manifest_version = 1\n[city]\nid = \"bench\"\nname = \"Bench\"\n\
             [components.service]\nsource = {:?}\n{more}\n[[routes]]\npath = \"{path}\"\ncomponent = \"service\"\n",
            wasm.display().to_string()
        ),
    )?;
    Ok(manifest)
}

/// `civic run` on `manifests` with its data in `dir/data`, listening on a free port. Per-request
/// access logging is off, as `wasmtime serve` logs nothing per request either.
fn start_civic(options: &Options, dir: &std::path::Path, manifests: &[PathBuf]) -> anyhow::Result<load::Server> {
    start_civic_with(options, dir, manifests, &[], &[])
}

/// [`start_civic`] of another binary.
fn start_civic_binary(
    binary: &std::path::Path,
    dir: &std::path::Path,
    manifests: &[PathBuf],
) -> anyhow::Result<load::Server> {
    start_binary(binary, dir, manifests, &[], &[])
}

/// [`start_civic`] with more options and environment variables.
fn start_civic_with(
    options: &Options,
    dir: &std::path::Path,
    manifests: &[PathBuf],
    more: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<load::Server> {
    start_binary(&options.civic, dir, manifests, more, env)
}

fn start_binary(
    civic: &std::path::Path,
    dir: &std::path::Path,
    manifests: &[PathBuf],
    more: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<load::Server> {
    let mut args = vec!["run".into(), "--listen".into(), "127.0.0.1:0".into(), "--data-dir".into()];
    args.push(dir.join("data").display().to_string());
    args.extend(more.iter().map(|m| (*m).to_owned()));
    args.extend(manifests.iter().map(|m| m.display().to_string()));
    let env: Vec<_> = [("RUST_LOG", "warn")].into_iter().chain(env.iter().copied()).collect();
    load::Server::start(civic, &args, &env, Duration::from_secs(300))
}

/// Manifests are written to temporary directories, so the files they name must be absolute.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One line about the machine the numbers come from.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("Machine: {cpu}, {cores} cores; server pinned to core 0, load generator to core 1.\n")
}

/// `1234.5` → `1,235`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
