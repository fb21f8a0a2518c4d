//! Scenario 2: what one request costs without the network — a fresh store, instantiation from the
//! pooling allocator, one call of the handler, the response body read — along Civic's whole path
//! (`Runtime::handle`: routing, sandbox set-up, epoch deadline, logging span) and along
//! the minimal embedding wasmtime documents for `wasi:http`, on the same component; and Civic's
//! path once more with each lever off (pages kept resident, the small guest stack, the budgets),
//! with the page faults each path takes per request.

use crate::Options;
use bytes::Bytes;
use civic_host::engine::shape::Shapes;
use civic_host::engine::{Engine, EngineOptions};
use civic_host::limits::{Limits, PoolSize};
use civic_host::runtime::Runtime;
use civic_host::state::State;
use civic_host::state::memory::MemoryBackend;
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Requests per side, measured in interleaved chunks so drift hits both alike.
const REQUESTS: usize = 20_000;
const CHUNK: usize = 1_000;

type Request = http::Request<BoxBody<Bytes, wasmtime_wasi_http::Error>>;

fn request() -> Request {
    http::Request::builder()
        .uri("http://bench.localhost/hello")
        .header(http::header::HOST, "bench.localhost")
        .body(Full::new(Bytes::new()).map_err(|never| match never {}).boxed())
        .expect("a valid request")
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hello = options.plugin("hello_city");
    let manifest = crate::bench_city(dir.path(), &hello, "/hello", crate::http::HELLO_CONFIG)?;
    let big_stack = dir.path().join("big-stack");
    std::fs::create_dir_all(&big_stack)?;
    let big_stack =
        crate::bench_city(&big_stack, &crate::absolute(&options.big_stack_hello), "/hello", crate::http::HELLO_CONFIG)?;
    let civic = |manifest, tune: fn(&mut EngineOptions)| anyhow::Ok(Path::Civic(Arc::new(in_process(manifest, tune)?)));
    let paths = [
        ("civic (`Runtime::handle`)", civic(&manifest, |_| ())?),
        ("civic, nothing kept resident (`--keep-resident 0`)", civic(&manifest, |o| o.pool.keep_resident = 0)?),
        ("civic, the component built with Rust's 1 MiB stack", civic(&big_stack, |_| ())?),
        ("civic, budgets off (no memory limiter, no epoch deadline)", civic(&manifest, |o| o.budgets = false)?),
        ("wasmtime's own (`ProxyPre`, pooling defaults)", Path::Raw(Raw::new(&std::fs::read(&hello)?)?)),
    ];

    let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let measured = threads.block_on(async {
        let mut measured: Vec<(Vec<Duration>, u64)> = paths.iter().map(|_| (Vec::new(), 0)).collect();
        // Warm every path up, then alternate chunks.
        for (_, path) in &paths {
            for _ in 0..CHUNK {
                path.request().await?;
            }
        }
        for _ in 0..REQUESTS / CHUNK {
            for ((_, path), (times, faults)) in paths.iter().zip(&mut measured) {
                let faults_before = minor_faults()?;
                for _ in 0..CHUNK {
                    let started = Instant::now();
                    path.request().await?;
                    times.push(started.elapsed());
                }
                *faults += minor_faults()? - faults_before;
            }
        }
        anyhow::Ok(measured)
    })?;

    println!("## One request in process: store + instantiation + call ({REQUESTS} requests each)\n");
    println!("| path | mean | p50 | p99 | page faults / request |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let summaries: Vec<Summary> = measured.iter().map(|(times, _)| Summary::of(times.clone())).collect();
    for (((name, _), summary), (_, faults)) in paths.iter().zip(&summaries).zip(&measured) {
        let per_request = *faults as f64 / REQUESTS as f64;
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:.1} µs | {per_request:.1} |",
            summary.mean, summary.p50, summary.p99
        );
    }
    let [on, cold, big, off, raw] = &summaries[..] else { unreachable!("five paths") };
    println!("\ncivic / wasmtime = {:.2} (mean), {:.2} (p50)", on.mean / raw.mean, on.p50 / raw.p50);
    println!(
        "kept resident / not = {:.2} (mean); small stack / 1 MiB stack = {:.2}",
        on.mean / cold.mean,
        on.mean / big.mean
    );
    println!("throughput with budgets on / off = {:.2} (goal ≥ 0.95)\n", off.mean / on.mean);
    Ok(())
}

/// Page faults this process has taken that did not need I/O (`minflt` in `/proc/self/stat`).
fn minor_faults() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name, which may hold spaces: state is the first,
    // minflt the eighth.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let minflt = after_name.split_whitespace().nth(7).ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    Ok(minflt.parse()?)
}

/// Civic's runtime for `manifest`, in this process, with an in-memory store and the engine
/// options `tune` leaves.
pub fn in_process(manifest: &std::path::Path, tune: fn(&mut EngineOptions)) -> anyhow::Result<Runtime> {
    let sources = &mut civic_host::manifest::Sources::default();
    let cities = civic_host::manifest::load(&[manifest.to_path_buf()], sources).map_err(|d| anyhow::anyhow!("{d}"))?;
    let cities: Vec<_> = cities.into_iter().map(Arc::new).collect();
    let state = State { backend: Arc::new(MemoryBackend::default()), limits: Default::default() };
    let limits = Limits::default();
    let shapes = Shapes::default();
    let pool = PoolSize::fitting(&limits, shapes.of_cities(&limits, &cities));
    let mut options = EngineOptions { cache_dir: None, pool, budgets: true, wasip3: false, shapes };
    tune(&mut options);
    let engine = Engine::new(options)?;
    Runtime::new(engine, state, &limits, &cities)
}

/// A way to serve the bench request.
enum Path {
    Civic(Arc<Runtime>),
    Raw(Raw),
}

impl Path {
    async fn request(&self) -> anyhow::Result<()> {
        match self {
            Self::Civic(runtime) => {
                let response = runtime.handle(request()).await;
                anyhow::ensure!(response.status() == 200, "civic answered {}", response.status());
                let _ = response.into_body().collect().await;
                Ok(())
            }
            Self::Raw(raw) => raw.request().await,
        }
    }
}

/// Mean, median and 99th percentile of a sample, in µs.
pub struct Summary {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

impl Summary {
    pub fn of(mut times: Vec<Duration>) -> Self {
        times.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mean = times.iter().copied().map(us).sum::<f64>() / times.len() as f64;
        Self { mean, p50: us(times[times.len() / 2]), p99: us(times[times.len() * 99 / 100]) }
    }
}

/// The embedding from `wasmtime_wasi_http::p2`'s documentation, with wasi:config added because
/// the component reads its greeting from it.
struct Raw {
    engine: wasmtime::Engine,
    pre: ProxyPre<RawState>,
    config: Arc<WasiConfigVariables>,
}

struct RawState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    config: Arc<WasiConfigVariables>,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RawState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: Default::default() }
    }
}

impl Raw {
    fn new(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(PoolingAllocationConfig::new()));
        let engine = wasmtime::Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut RawState| WasiConfig::from(&*s.config))?;
        let component = Component::new(&engine, bytes)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
        let config = Arc::new(WasiConfigVariables::from_iter([("city_name", "Bench"), ("greeting", "Moin")]));
        Ok(Self { engine, pre, config })
    }

    async fn request(&self) -> anyhow::Result<()> {
        let data = RawState {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            config: self.config.clone(),
        };
        let mut store = Store::new(&self.engine, data);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request())?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        });
        let response = receiver.await??;
        let _ = response.into_body().collect().await;
        task.await??;
        Ok(())
    }
}
