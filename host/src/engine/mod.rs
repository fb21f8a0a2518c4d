//! The wasmtime [`Engine`](wasmtime::Engine) of a host: its configuration (async, pooling
//! allocator, epoch interruption with one ticker thread) and compilation, once per content hash,
//! with an on-disk cache of compiled components. With `--experimental-wasip3` a second engine,
//! with the component model's async features, compiles and runs the components that need them.
//! The pool is sized from the components' [`shape`]s; [`Engine::instances`] hands out its
//! instances, so a request can wait for one instead of failing.

pub mod shape;

use crate::limits::{MEMORY_GUARD, MEMORY_RESERVATION, PoolSize};
use crate::manifest::WasmFile;
use anyhow::{Context as _, anyhow};
use shape::Shapes;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmparser::{Validator, WasmFeatures};
use wasmtime::component::Component;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};
use wit_component::DecodedWasm;

/// How often the epoch advances: the granularity of deadlines and the longest slice a guest runs
/// before it yields.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Bytes of each table kept resident between requests: a component's tables are a few KiB.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// What the engine is set up with.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Where compiled components are kept between runs; `None` compiles in memory only.
    pub cache_dir: Option<PathBuf>,
    /// How many instances the pooling allocator holds, and how large.
    pub pool: PoolSize,
    /// Whether the memory limit and epoch deadlines are enforced. Always on in `civic`; the
    /// benchmark turns it off to measure what the budgets cost.
    pub budgets: bool,
    /// Whether components of WASI 0.3 (the component model's async features) load: the
    /// experimental part of wasmtime that `--experimental-wasip3` opts into.
    pub wasip3: bool,
    /// The shapes already read (when the pool was sized), for [`Engine::shape`] to reuse.
    pub shapes: Shapes,
}

/// The engines and the compile cache; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// Without the async model: its stores carry none of that model's state, which would cost
    /// every WASI 0.2 request about a third more CPU (BENCHMARKS.md §1).
    engine: wasmtime::Engine,
    /// With it, for the components of WASI 0.3, when `--experimental-wasip3` asks for them.
    async_engine: Option<wasmtime::Engine>,
    cache_dir: Option<Arc<Path>>,
    budgets: bool,
    pool: PoolSize,
    /// One permit per component instance the pool holds.
    instances: Arc<Semaphore>,
    shapes: Shapes,
}

impl Engine {
    /// Configures wasmtime and starts the epoch tickers.
    pub fn new(options: EngineOptions) -> anyhow::Result<Self> {
        options.pool.check().map_err(anyhow::Error::msg)?;
        let engine = configure(&options, false)?;
        let async_engine = options.wasip3.then(|| configure(&options, true)).transpose()?;
        if let Some(dir) = &options.cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the compile cache `{}`", dir.display()))?;
        }
        Ok(Self {
            engine,
            async_engine,
            cache_dir: options.cache_dir.map(Arc::from),
            budgets: options.budgets,
            pool: options.pool,
            instances: Arc::new(Semaphore::new(options.pool.instances as usize)),
            shapes: options.shapes,
        })
    }

    /// What the pool was built for.
    pub fn pool(&self) -> &PoolSize {
        &self.pool
    }

    /// The pool's component instances: a request holds a permit while its instance lives.
    pub(crate) fn instances(&self) -> &Arc<Semaphore> {
        &self.instances
    }

    /// What one instance of `wasm` takes from the pool.
    pub(crate) fn shape(&self, wasm: &WasmFile) -> crate::limits::Shape {
        self.shapes.of(wasm)
    }

    /// The engine of the components without the async model; each component knows its own.
    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// The engine of the components of WASI 0.3, with `--experimental-wasip3`.
    pub(crate) fn async_wasmtime(&self) -> Option<&wasmtime::Engine> {
        self.async_engine.as_ref()
    }

    /// Whether stores enforce the memory limit and epoch deadlines.
    pub(crate) fn budgets(&self) -> bool {
        self.budgets
    }

    /// Compiles `wasm`, or takes it from the cache.
    pub(crate) fn compile(&self, wasm: &WasmFile) -> Result<Component, CompileError> {
        if !wasmparser::Parser::is_component(&wasm.bytes) {
            return Err(CompileError::Other(anyhow!(
                "`{}` is not a WebAssembly component{}",
                wasm.path.display(),
                if wasmparser::Parser::is_core_wasm(&wasm.bytes) {
                    " but a core module: build it for the `wasm32-wasip2` target"
                } else {
                    ""
                }
            )));
        }
        let engine = match &self.async_engine {
            Some(async_engine) if needs_async_model(&wasm.bytes) => async_engine,
            _ => &self.engine,
        };
        let Some(cache_dir) = &self.cache_dir else {
            return self.compile_now(engine, wasm);
        };
        let cached = cache_dir.join(format!("{}-{:016x}.cwasm", wasm.digest, compatibility_hash(engine)));
        if cached.is_file() {
            match deserialize(engine, &cached) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), "ignoring unusable compile cache entry: {e:#}")
                }
            }
        }
        let component = self.compile_now(engine, wasm)?;
        let written = component
            .serialize()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| crate::atomic::write(&cached, &bytes).map_err(anyhow::Error::from));
        if let Err(e) = written {
            tracing::warn!(path = %cached.display(), "cannot write the compile cache: {e:#}");
        }
        Ok(component)
    }

    fn compile_now(&self, engine: &wasmtime::Engine, wasm: &WasmFile) -> Result<Component, CompileError> {
        Component::new(engine, &wasm.bytes).map_err(|error| {
            let path = wasm.path.display().to_string();
            if self.async_engine.is_none() && uses_async_model(&wasm.bytes) {
                let what = wasip3_exports(&wasm.bytes)
                    .map(|name| format!("exports `{name}`"))
                    .unwrap_or_else(|| "uses the component model's async features".into());
                return CompileError::NeedsWasip3 { path, what };
            }
            CompileError::Other(anyhow::Error::from(error).context(format!("failed to compile `{path}`")))
        })
    }
}

/// Distinguishes cache entries of engines configured differently or of other wasmtime versions.
fn compatibility_hash(engine: &wasmtime::Engine) -> u64 {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

/// A wasmtime engine for `options`, with the async model or without, its epoch ticking.
fn configure(options: &EngineOptions, async_model: bool) -> anyhow::Result<wasmtime::Engine> {
    let mut pool = PoolingAllocationConfig::new();
    // A request holds one component instance; its core instances, memories and tables come
    // from the same pool, as many as the largest component needs, and it runs on one pooled stack.
    let size = &options.pool;
    let per = size.per_instance;
    pool.total_component_instances(size.instances)
        .total_core_instances(size.total(per.core_instances))
        .total_memories(size.total(per.memories))
        .total_tables(size.total(per.tables))
        .table_elements(usize::try_from(per.table_elements).unwrap_or(usize::MAX))
        .total_stacks(size.instances)
        .max_memory_size(usize::try_from(size.memory).unwrap_or(usize::MAX))
        // The pages a request touches stay mapped and are reset by copy (memset and the
        // image), so the next request does not fault them in again. Never `pagemap_scan`:
        // on wasmtime 48 it skips pages not present, which may still hold the last
        // request's data (wasmtime#14357).
        .linear_memory_keep_resident(usize::try_from(options.pool.keep_resident).unwrap_or(usize::MAX))
        .table_keep_resident(TABLE_KEEP_RESIDENT);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(options.budgets)
        // Without it such components do not even parse.
        .concurrency_support(async_model)
        // wasmtime's defaults, stated so that `PoolSize::reservation` is what the pool reserves.
        .memory_reservation(MEMORY_RESERVATION)
        .memory_guard_size(MEMORY_GUARD)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from).context("failed to configure wasmtime")?;
    spawn_epoch_ticker(&engine);
    Ok(engine)
}

/// Why a component does not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(
        "`{path}` is a component of WASI 0.3: it {what}. This host serves those only when started with \
         `--experimental-wasip3` (or CIVIC_EXPERIMENTAL_WASIP3=true), as they rest on a part of wasmtime \
         its authors call experimental"
    )]
    /// A component of WASI 0.3 without `--experimental-wasip3`.
    NeedsWasip3 {
        /// Where the component came from.
        path: String,
        /// What makes it one: the WASI 0.3 interface it exports, or its use of the async model.
        what: String,
    },
    /// Any other reason: not a component, invalid, or imports of the wrong shape.
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// The component model's async features, which WASI 0.3 components are built on.
const ASYNC_MODEL: WasmFeatures = WasmFeatures::CM_ASYNC
    .union(WasmFeatures::CM_ASYNC_STACKFUL)
    .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
    .union(WasmFeatures::CM_THREADING)
    .union(WasmFeatures::CM_ERROR_CONTEXT);

fn valid(bytes: &[u8], features: WasmFeatures) -> bool {
    Validator::new_with_features(features).validate_all(bytes).is_ok()
}

/// Whether `bytes` is not valid without the async model: the engine with it compiles them, and
/// reports any other fault. One validation, at load, with `--experimental-wasip3` only.
fn needs_async_model(bytes: &[u8]) -> bool {
    !valid(bytes, WasmFeatures::all().difference(ASYNC_MODEL))
}

/// Whether `bytes` is a valid component only with the async model: one of WASI 0.3. For the
/// words of a refusal and `civic inspect`.
pub(crate) fn uses_async_model(bytes: &[u8]) -> bool {
    needs_async_model(bytes) && valid(bytes, WasmFeatures::all())
}

/// The `wasi:*@0.3` interface a component exports, such as `wasi:http/handler@0.3.0`.
fn wasip3_exports(bytes: &[u8]) -> Option<String> {
    let Ok(DecodedWasm::Component(resolve, world)) = wit_component::decode(bytes) else { return None };
    resolve.worlds[world]
        .exports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .find(|name| name.starts_with("wasi:") && name.contains("@0.3"))
}

/// Keeps the engine's epoch moving until the engine is dropped.
fn spawn_epoch_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("civic-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("the epoch ticker thread starts (spawning fails only when the process is out of threads)");
}

#[expect(unsafe_code, reason = "the cache holds only what `Component::serialize` wrote, under our data dir")]
fn deserialize(engine: &wasmtime::Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `Component::serialize` of an engine with the same
    // compatibility hash (it is in the file name); wasmtime checks the header again.
    unsafe { Component::deserialize_file(engine, path) }
}
