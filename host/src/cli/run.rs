use crate::engine::{Engine, EngineOptions};
use crate::manifest::{self, CitySpec};
use crate::runtime::Runtime;
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

    /// Directory for the cities' state and the compiled-component cache.
    #[arg(long, env = "CIVIC_DATA_DIR", default_value = "civic-data")]
    data_dir: PathBuf,

    /// City manifests; with several, the `Host` header picks the city.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

impl RunCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let cities = manifest::load(&self.manifests)?;
        self.serve(&cities)
    }

    /// Loads `cities` and serves them until Ctrl-C or SIGTERM.
    pub fn serve(&self, cities: &[CitySpec]) -> anyhow::Result<()> {
        let engine = Engine::new(EngineOptions { cache_dir: Some(self.data_dir.join("cache")) })?;
        let runtime = Arc::new(Runtime::new(engine, cities)?);
        let threads = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        threads.block_on(async {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", self.listen))?;
            // Tests and scripts read the real port from this line: keep it first and exact.
            eprintln!("listening on http://{}", listener.local_addr()?);
            let routes = runtime.routes();
            let slots = || routes.cities().iter().flat_map(|c| c.slots.values());
            let distinct: HashSet<_> = slots().map(|s| s.loaded().digest).collect();
            tracing::info!(
                cities = routes.cities().len(),
                components = slots().count(),
                distinct = distinct.len(),
                "serving"
            );
            drop(routes);
            crate::http::serve(listener, runtime, shutdown_signal()).await;
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
