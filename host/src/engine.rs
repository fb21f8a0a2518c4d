//! The one wasmtime [`Engine`](wasmtime::Engine) of a host: its configuration (async, pooling
//! allocator, epoch interruption with one ticker thread) and compilation, once per content hash,
//! with an on-disk cache of compiled components.

use crate::limits::PoolSize;
use crate::manifest::WasmFile;
use anyhow::{Context as _, bail};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

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
}

/// The engine and the compile cache; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    engine: wasmtime::Engine,
    cache_dir: Option<Arc<Path>>,
    budgets: bool,
}

impl Engine {
    /// Configures wasmtime and starts the epoch ticker.
    pub fn new(options: EngineOptions) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        // A request holds one component instance; its core instances, memories and tables come
        // from the same pool, a few per component, and it runs on one pooled stack.
        let instances = options.pool.instances;
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(4))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(2))
            .total_stacks(instances)
            .max_memory_size(usize::try_from(options.pool.memory).unwrap_or(usize::MAX))
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
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            wasmtime::Engine::new(&config).map_err(anyhow::Error::from).context("failed to configure wasmtime")?;
        spawn_epoch_ticker(&engine);
        if let Some(dir) = &options.cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the compile cache `{}`", dir.display()))?;
        }
        Ok(Self { engine, cache_dir: options.cache_dir.map(Arc::from), budgets: options.budgets })
    }

    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Whether stores enforce the memory limit and epoch deadlines.
    pub(crate) fn budgets(&self) -> bool {
        self.budgets
    }

    /// Compiles `wasm`, or takes it from the cache.
    pub(crate) fn compile(&self, wasm: &WasmFile) -> anyhow::Result<Component> {
        if !wasmparser::Parser::is_component(&wasm.bytes) {
            bail!(
                "`{}` is not a WebAssembly component{}",
                wasm.path.display(),
                if wasmparser::Parser::is_core_wasm(&wasm.bytes) {
                    " but a core module: build it for the `wasm32-wasip2` target"
                } else {
                    ""
                }
            );
        }
        let Some(cache_dir) = &self.cache_dir else {
            return self.compile_now(wasm);
        };
        let cached = cache_dir.join(format!("{}-{:016x}.cwasm", wasm.digest, self.compatibility_hash()));
        if cached.is_file() {
            match deserialize(&self.engine, &cached) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), "ignoring unusable compile cache entry: {e:#}")
                }
            }
        }
        let component = self.compile_now(wasm)?;
        if let Err(e) = crate::atomic::write(&cached, &component.serialize()?) {
            tracing::warn!(path = %cached.display(), "cannot write the compile cache: {e:#}");
        }
        Ok(component)
    }

    fn compile_now(&self, wasm: &WasmFile) -> anyhow::Result<Component> {
        Component::new(&self.engine, &wasm.bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to compile `{}`", wasm.path.display()))
    }

    /// Distinguishes cache entries of engines configured differently or of other wasmtime versions.
    fn compatibility_hash(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.finish()
    }
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
        .expect("failed to spawn the epoch ticker thread");
}

#[expect(unsafe_code, reason = "the cache holds only what `Component::serialize` wrote, under our data dir")]
fn deserialize(engine: &wasmtime::Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `Component::serialize` of an engine with the same
    // compatibility hash (it is in the file name); wasmtime checks the header again.
    unsafe { Component::deserialize_file(engine, path) }
}
