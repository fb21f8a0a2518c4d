use super::admin_client::read_token;
use super::cargo::Cargo;
use super::data_dir::DataDir;
use super::options::{ExperimentalArgs, KvArgs, LimitArgs, RegistryArgs};
use crate::admin::Admin;
use crate::engine::shape::Shapes;
use crate::engine::{Engine, EngineOptions};
use crate::http::Host as _;
use crate::limits::{Limits, Size, Timeout};
use crate::manifest::Parsed;
use crate::registry::CatalogScope;
use crate::runtime::manifests::Manifests;
use crate::runtime::{Cluster, Runtime};
use crate::state::postgres::{PostgresBackend, VersionStore};
use crate::state::sqlite::SqliteBackend;
use crate::state::{KvLimits, SharedBackend, State, StateUrl};
use anyhow::Context as _;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serve the cities described by the manifests.
#[derive(clap::Args)]
pub struct RunCommand {
    /// Address of the public HTTP listener; a port of 0 picks a free one.
    #[arg(long, env = "CIVIC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Directory for the compiled-component cache (and the cities' state with `--state sqlite`);
    /// one host at a time.
    #[arg(long, env = "CIVIC_DATA_DIR", default_value = "civic-data")]
    data_dir: PathBuf,

    /// Where the cities' state lives: `sqlite` (in the data dir) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`, shared by every host of a cluster.
    #[arg(long, env = "CIVIC_STATE", default_value = "sqlite", value_name = "URL", hide_env_values = true)]
    state: String,

    /// How long one call to the state store may take, connecting included; a store that does not
    /// answer in time is an error value to the component (which the SDK answers 503).
    #[arg(long, env = "CIVIC_STATE_TIMEOUT", default_value = "3s", value_name = "DURATION")]
    state_timeout: Timeout,

    /// On SIGTERM, how long to keep serving while reporting not ready, so a load balancer stops
    /// sending first; then the host stops accepting and finishes the requests in flight.
    #[arg(long, env = "CIVIC_DRAIN_DELAY", default_value = "0s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    drain_delay: Duration,

    /// Threads that serve requests, each a runtime of its own to which connections are dealt in
    /// turn. [default: one per core]
    #[arg(long, env = "CIVIC_THREADS", value_name = "N")]
    threads: Option<NonZeroUsize>,

    /// How long a client may take to send a request head; slower ones get 408 (slowloris).
    #[arg(long, env = "CIVIC_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION")]
    header_timeout: Timeout,

    /// Address of the admin API (swap, rollback, status, metrics) and the console (a web page
    /// at `/`); off unless given, and it needs a token from `CIVIC_ADMIN_TOKEN` or
    /// `--admin-token-file`.
    #[arg(long, env = "CIVIC_ADMIN", value_name = "ADDR")]
    admin: Option<SocketAddr>,

    /// File holding the admin API's bearer token: at least 32 characters (`openssl rand -hex 32`
    /// makes one).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,

    /// The largest component uploaded to the admin API or the console; a larger one is
    /// answered 413.
    #[arg(long, env = "CIVIC_MAX_UPLOAD", default_value = "64MiB", value_name = "SIZE")]
    max_upload: Size,

    /// Reload the manifests when they change (an invalid one is rejected and logged); a
    /// directory is watched for manifests added and removed.
    #[arg(long)]
    watch: bool,

    /// This host's name in its cluster (with a PostgreSQL `--state`) [default: HOSTNAME:PORT].
    #[arg(long, env = "CIVIC_HOST_ID", value_name = "ID")]
    host_id: Option<String>,

    /// How long a host of the cluster may miss its heartbeats before the others forget it.
    #[arg(long, env = "CIVIC_HOST_TIMEOUT", default_value = "10s", value_name = "DURATION")]
    host_timeout: Timeout,

    /// A registry whose services the console's catalogue lists (`HOST[:PORT]`, or
    /// `HOST[:PORT]/PREFIX` for the repositories under a prefix); repeat for several.
    #[arg(long, env = "CIVIC_CATALOG", value_delimiter = ',', value_name = "REGISTRY")]
    catalog: Vec<CatalogScope>,

    #[command(flatten)]
    kv: KvArgs,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    limits: LimitArgs,

    #[command(flatten)]
    experimental: ExperimentalArgs,

    /// City manifests, or directories of them (every `*.toml` inside); with several cities, the
    /// `Host` header picks the city.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// The shortest admin token accepted.
const MIN_TOKEN_CHARS: usize = 32;

/// The options, checked before anything is loaded.
pub struct Checked {
    defaults: Limits,
    state: StateUrl,
    kv: KvLimits,
    admin_token: Option<String>,
}

impl RunCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let checked = self.check()?;
        self.start(checked, Arc::new(Cargo::default()), None)
    }

    /// Refuses options with which the host could not serve, before any work is done.
    pub fn check(&self) -> anyhow::Result<Checked> {
        let defaults = self.limits.limits()?;
        let kv = self.kv.limits()?;
        let state = self.state.parse().map_err(anyhow::Error::msg)?;
        // A missing token stops the start before anything is loaded.
        let admin_token = self.admin.map(|_| read_token(self.admin_token_file.as_deref())).transpose()?;
        // The console never refuses the right token, however many wrong ones an address sent
        // (or its proxy's other users): safe only when guessing it is hopeless.
        if let Some(token) = &admin_token
            && token.chars().count() < MIN_TOKEN_CHARS
        {
            anyhow::bail!(
                "the admin token has {} characters; it needs at least {MIN_TOKEN_CHARS} (make one with `openssl rand \
                 -hex 32`)",
                token.chars().count()
            );
        }
        Ok(Checked { defaults, state, kv, admin_token })
    }

    /// Loads the manifests (`parsed` already, when given), their plugin crates found by `cargo`,
    /// and serves their cities until Ctrl-C or SIGTERM.
    pub fn start(&self, checked: Checked, cargo: Arc<Cargo>, parsed: Option<Vec<Parsed>>) -> anyhow::Result<()> {
        let Checked { defaults, state: state_url, kv, admin_token } = checked;
        let data_dir = DataDir::open(&self.data_dir)?;
        let registry = Arc::new(self.registry.registry(None, Some(&data_dir.registry_cache())));
        let manifests = Manifests::new(self.manifests.clone(), Some(cargo), Some(registry.clone()));
        let threads = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        threads.block_on(async {
            let cities = match parsed {
                Some(parsed) => manifests.resolve(parsed).await?,
                None => manifests.load().await?,
            };
            let cities = &cities;
            let (backend, postgres): (SharedBackend, _) = match &state_url {
                StateUrl::Sqlite => (Arc::new(SqliteBackend::open(&data_dir.state_db())?), None),
                StateUrl::Postgres(url) => {
                    let postgres = Arc::new(PostgresBackend::connect(url, self.state_timeout.0).await?);
                    (postgres.clone(), Some(postgres))
                }
            };
            let versions = postgres.as_ref().map(|postgres| postgres.versions());
            // Bound now, accepting once the cities are loaded and the cluster's versions serve.
            let listener = bind(self.listen, "").await?;
            let admin = match (self.admin, admin_token) {
                (Some(addr), Some(token)) => Some((bind(addr, " for the admin API").await?, token)),
                _ => None,
            };
            let cluster = versions.map(|store| self.cluster(store, &listener, admin.as_ref().map(|(api, _)| api)));
            let state = State { backend, limits: Arc::new(kv) };
            let shapes = Shapes::default();
            let pool = self.limits.pool_size(&defaults, shapes.of_cities(&defaults, cities));
            let cache_dir = Some(data_dir.compile_cache());
            let wasip3 = self.experimental.wasip3;
            let engine = Engine::new(EngineOptions { cache_dir, pool, budgets: true, wasip3, shapes })?;
            let runtime = Arc::new(Runtime::clustered(engine, state, &defaults, cities, cluster)?);
            let joining = runtime.join().await?;
            // Tests and scripts read the real ports from these lines: keep them first and exact.
            eprintln!("listening on http://{}", listener.local_addr()?);
            if let Some((admin, _)) = &admin {
                eprintln!("admin on http://{}", admin.local_addr()?);
            }
            if let Some(postgres) = &postgres {
                postgres.log_migration();
            }
            runtime.follow_cluster(joining);
            let manifests = Arc::new(manifests);
            let (stop_admin, admin_stops) = tokio::sync::watch::channel(false);
            let admin = admin.map(|(admin, token)| {
                let api = Admin {
                    runtime: runtime.clone(),
                    token,
                    manifests: manifests.clone(),
                    registry,
                    catalog: self.catalog.clone(),
                    max_upload: self.max_upload.0,
                };
                tokio::spawn(crate::admin::serve(admin, api, self.header_timeout.0, admin_stops))
            });
            if self.watch {
                let (runtime, manifests) = (runtime.clone(), manifests.clone());
                crate::task::supervise("watch", move || {
                    crate::runtime::watch::watch(runtime.clone(), manifests.clone())
                });
            }
            let routes = runtime.routes();
            let slots = || routes.cities().iter().flat_map(|c| c.slots.values());
            let distinct: HashSet<_> = slots().map(|s| s.current().prepared.digest).collect();
            tracing::info!(
                cities = routes.cities().len(),
                components = slots().count(),
                distinct = distinct.len(),
                instances = pool.instances,
                core_instances = pool.total(pool.per_instance.core_instances),
                memories = pool.total(pool.per_instance.memories),
                reserved = %bytesize::ByteSize(pool.reservation()),
                data_dir = %self.data_dir.display(),
                state = %state_url,
                "serving"
            );
            drop(routes);
            let (draining, drain_delay) = (runtime.clone(), self.drain_delay);
            let shutdown = async move {
                shutdown_signal().await;
                draining.drain();
                if !drain_delay.is_zero() {
                    tracing::info!(?drain_delay, "shutting down: not ready any more, serving on for the drain delay");
                    tokio::time::sleep(drain_delay).await;
                }
                let _ = stop_admin.send(true);
            };
            let threads =
                self.threads.unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
            crate::http::serve(listener, runtime.clone(), self.header_timeout.0, threads, shutdown)
                .await
                .context("cannot start the serving threads")?;
            if let Some(admin) = admin {
                // It drains its own connections, for a bounded time.
                let _ = admin.await;
            }
            runtime.leave().await;
            Ok(())
        })
    }

    /// This host's place in the cluster whose versions are in `store`.
    fn cluster(&self, store: VersionStore, listener: &TcpListener, admin: Option<&TcpListener>) -> Cluster {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "civic".into());
        let hostname = hostname.trim();
        // An unspecified address (0.0.0.0 in a container) is reached by the host's name.
        let reachable = |listener: &TcpListener| {
            let addr = listener.local_addr().ok()?;
            Some(if addr.ip().is_unspecified() { format!("{hostname}:{}", addr.port()) } else { addr.to_string() })
        };
        let address = reachable(listener).unwrap_or_default();
        let id =
            self.host_id.clone().unwrap_or_else(|| format!("{hostname}:{}", address.rsplit(':').next().unwrap_or("")));
        Cluster::new(store, id, address, admin.and_then(reachable), self.host_timeout.0)
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on `{addr}`{what}"))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs (it fails only without a signal driver, which `enable_all` gives)");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
