use super::admin_client::read_token;
use crate::admin::Admin;
use crate::data_dir::DataDir;
use crate::engine::{Engine, EngineOptions};
use crate::limits::{LimitArgs, Size, Timeout};
use crate::manifest::{self, CitySpec};
use crate::runtime::Runtime;
use crate::state::State;
use crate::state::keyvalue::KvLimits;
use crate::state::sqlite::SqliteBackend;
use anyhow::Context as _;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Serve the cities described by the manifests.
#[derive(clap::Args)]
pub struct RunCommand {
    /// Address of the public HTTP listener; a port of 0 picks a free one.
    #[arg(long, env = "CIVIC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Directory for the cities' state and the compiled-component cache; one host at a time.
    #[arg(long, env = "CIVIC_DATA_DIR", default_value = "civic-data")]
    data_dir: PathBuf,

    /// How long a client may take to send a request head; slower ones get 408 (slowloris).
    #[arg(long, env = "CIVIC_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION")]
    header_timeout: Timeout,

    /// Address of the admin API (swap, rollback, status, metrics); off unless given, and it
    /// needs a token from `CIVIC_ADMIN_TOKEN` or `--admin-token-file`.
    #[arg(long, env = "CIVIC_ADMIN", value_name = "ADDR")]
    admin: Option<SocketAddr>,

    /// File holding the admin API's bearer token.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,

    /// Reload a manifest when its file changes (an invalid one is rejected and logged).
    #[arg(long)]
    watch: bool,

    #[command(flatten)]
    kv: KvArgs,

    #[command(flatten)]
    limits: LimitArgs,

    /// City manifests; with several, the `Host` header picks the city.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// Limits on what components store in their key-value buckets.
#[derive(clap::Args)]
struct KvArgs {
    /// Longest key a component may use.
    #[arg(long, env = "CIVIC_KV_MAX_KEY", default_value = "1KiB", value_name = "SIZE")]
    kv_max_key: Size,

    /// Largest value a component may store.
    #[arg(long, env = "CIVIC_KV_MAX_VALUE", default_value = "1MiB", value_name = "SIZE")]
    kv_max_value: Size,

    /// Most keys in one `list-keys` page or one batch call.
    #[arg(long, env = "CIVIC_KV_MAX_KEYS", default_value_t = 1000, value_name = "N")]
    kv_max_keys: usize,
}

impl KvArgs {
    fn limits(&self) -> KvLimits {
        let bytes = |size: Size| usize::try_from(size.0).unwrap_or(usize::MAX);
        KvLimits {
            max_key_bytes: bytes(self.kv_max_key),
            max_value_bytes: bytes(self.kv_max_value),
            max_keys_per_call: self.kv_max_keys,
        }
    }
}

impl RunCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let cities = manifest::load(&self.manifests)?;
        self.serve(&cities)
    }

    /// Loads `cities` and serves them until Ctrl-C or SIGTERM.
    pub fn serve(&self, cities: &[CitySpec]) -> anyhow::Result<()> {
        // A missing token stops the start before anything is loaded.
        let admin_token = match self.admin {
            Some(_) => Some(read_token(self.admin_token_file.as_deref())?),
            None => None,
        };
        let manifests: Arc<[PathBuf]> = self.manifests.clone().into();
        let data_dir = DataDir::open(&self.data_dir)?;
        let state =
            State { backend: Arc::new(SqliteBackend::open(&data_dir.state_db())?), limits: Arc::new(self.kv.limits()) };
        let limits = self.limits.limits();
        let pool = self.limits.pool_size(cities);
        let engine = Engine::new(EngineOptions { cache_dir: Some(data_dir.compile_cache()), pool, budgets: true })?;
        let runtime = Arc::new(Runtime::new(engine, state, &limits, cities)?);
        let threads = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        threads.block_on(async {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", self.listen))?;
            // Tests and scripts read the real port from this line: keep it first and exact.
            eprintln!("listening on http://{}", listener.local_addr()?);
            if let (Some(addr), Some(token)) = (self.admin, admin_token) {
                let admin = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on `{addr}` for the admin API"))?;
                eprintln!("admin on http://{}", admin.local_addr()?);
                let api = Admin { runtime: runtime.clone(), token, manifests: manifests.clone() };
                tokio::spawn(crate::admin::serve(admin, api));
            }
            if self.watch {
                tokio::spawn(crate::reload::watch(runtime.clone(), manifests));
            }
            let routes = runtime.routes();
            let slots = || routes.cities().iter().flat_map(|c| c.slots.values());
            let distinct: HashSet<_> = slots().map(|s| s.current().loaded.digest).collect();
            tracing::info!(
                cities = routes.cities().len(),
                components = slots().count(),
                distinct = distinct.len(),
                instances = pool.instances,
                data_dir = %self.data_dir.display(),
                "serving"
            );
            drop(routes);
            crate::http::serve(listener, runtime, self.header_timeout.0, shutdown_signal()).await;
            Ok(())
        })
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("cannot install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
