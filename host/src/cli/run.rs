use super::admin_client::read_token;
use super::cargo::Cargo;
use super::data_dir::DataDir;
use super::options::{KvArgs, LimitArgs};
use crate::admin::Admin;
use crate::engine::{Engine, EngineOptions};
use crate::http::Host as _;
use crate::limits::{Limits, Timeout};
use crate::manifest::CitySpec;
use crate::runtime::Runtime;
use crate::runtime::watch::Manifests;
use crate::state::State;
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

    /// Reload the manifests when they change (an invalid one is rejected and logged); a
    /// directory is watched for manifests added and removed.
    #[arg(long)]
    watch: bool,

    #[command(flatten)]
    kv: KvArgs,

    #[command(flatten)]
    limits: LimitArgs,

    /// City manifests, or directories of them (every `*.toml` inside); with several cities, the
    /// `Host` header picks the city.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// The options, checked before anything is loaded.
pub struct Checked {
    defaults: Limits,
    state: crate::state::KvLimits,
    admin_token: Option<String>,
}

impl RunCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let checked = self.check()?;
        let manifests = Manifests::new(self.manifests.clone(), Some(Arc::new(Cargo::default())));
        let cities = manifests.load()?;
        self.serve(checked, manifests, &cities)
    }

    /// Refuses options with which the host could not serve, before any work is done.
    pub fn check(&self) -> anyhow::Result<Checked> {
        let defaults = self.limits.limits()?;
        let state = self.kv.limits()?;
        // A missing token stops the start before anything is loaded.
        let admin_token = self.admin.map(|_| read_token(self.admin_token_file.as_deref())).transpose()?;
        Ok(Checked { defaults, state, admin_token })
    }

    /// Loads `cities` (read from `manifests`) and serves them until Ctrl-C or SIGTERM.
    pub fn serve(&self, checked: Checked, manifests: Manifests, cities: &[CitySpec]) -> anyhow::Result<()> {
        let Checked { defaults, state, admin_token } = checked;
        let data_dir = DataDir::open(&self.data_dir)?;
        let state = State { backend: Arc::new(SqliteBackend::open(&data_dir.state_db())?), limits: Arc::new(state) };
        let limits: Vec<_> = cities.iter().flat_map(|city| city.limits(&defaults)).collect();
        let pool = self.limits.pool_size(&defaults, &limits);
        let engine = Engine::new(EngineOptions { cache_dir: Some(data_dir.compile_cache()), pool, budgets: true })?;
        let runtime = Arc::new(Runtime::new(engine, state, &defaults, cities)?);
        let manifests = Arc::new(manifests);
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
                tokio::spawn(crate::runtime::watch::watch(runtime.clone(), manifests));
            }
            let routes = runtime.routes();
            let slots = || routes.cities().iter().flat_map(|c| c.slots.values());
            let distinct: HashSet<_> = slots().map(|s| s.current().prepared.digest).collect();
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
