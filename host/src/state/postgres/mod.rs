//! The networked store: PostgreSQL, for a cluster of hosts that serve the same cities. It holds
//! the citizens' data ([`PostgresBackend`], the key-value store) and the cluster's desired
//! component versions ([`VersionStore`]); no host holds anything another host needs.
//!
//! [`Database`] is the connection: a pool, the schema created and migrated at start ([`schema`]),
//! and a bound on every call — a server that is down or does not answer costs an error after at
//! most the store's timeout, never a hang. The log says once that the store is unreachable and
//! once that it is back; the pool replaces broken connections by itself.

mod hosts;
mod kv;
mod schema;
mod versions;

pub(crate) use hosts::{ClusterFilter, ClusterRows, HostRow, Served};
pub use kv::PostgresBackend;
pub(crate) use versions::{Adoption, Desired, Known, VersionStore};

use super::StoreError;
use anyhow::bail;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use futures_util::StreamExt as _;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::AsyncMessage;
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The most connections one host keeps to the server.
const MAX_CONNECTIONS: usize = 16;

/// Where the store is: a `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]` URL, parsed.
#[derive(Clone)]
pub struct PostgresUrl {
    config: tokio_postgres::Config,
}

impl FromStr for PostgresUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| format!("invalid PostgreSQL URL `{}`: {e}", redact(url)))?;
        if config.get_hosts().is_empty() || config.get_user().is_none() || config.get_dbname().is_none() {
            return Err(format!(
                "invalid PostgreSQL URL `{}`: expected `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`",
                redact(url)
            ));
        }
        Ok(Self { config })
    }
}

/// The URL as it may be printed: without its password.
impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let (user, db) = (config.get_user().unwrap_or_default(), config.get_dbname().unwrap_or_default());
        write!(f, "postgres://{user}@{host}:{port}/{db}")
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// `url` with the password between `user:` and `@` replaced, for errors about a URL that does
/// not parse.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// A connection to the store's database, shared by what lives in it.
pub struct Database {
    pool: Pool,
    url: PostgresUrl,
    /// How long any one call may take, connecting included.
    timeout: Duration,
    /// Whether the last call reached the server, so that a change is logged once.
    reachable: AtomicBool,
    /// What connecting migrated, for the host to tell once it has said where it listens.
    migrated: Option<schema::Migrated>,
}

impl Database {
    /// Connects, logs in and creates or migrates the schema. Fails, naming the URL without its
    /// password, when the server cannot be reached in `timeout`, refuses the login, or has a
    /// schema this host does not know.
    pub async fn connect(url: &PostgresUrl, timeout: Duration) -> anyhow::Result<Arc<Self>> {
        let tls = MakeRustlsConnect::new(tls_config()?);
        let manager = Manager::from_config(
            url.connect_config(timeout),
            tls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()?;
        let mut database = Self { pool, url: url.clone(), timeout, reachable: AtomicBool::new(true), migrated: None };
        match tokio::time::timeout(timeout * 2, schema::migrate(&database)).await {
            Ok(Ok(migrated)) => {
                database.migrated = migrated;
                Ok(Arc::new(database))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => bail!("the state store {url} did not answer within {timeout:?}"),
        }
    }

    /// Runs `call` within the timeout, telling the log when the server stops or starts answering.
    async fn run<T>(&self, call: impl Future<Output = Result<T, CallError>>) -> Result<T, StoreError> {
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(CallError::Unreachable(format!("it did not answer within {:?}", self.timeout))),
        };
        let reached = !matches!(outcome, Err(CallError::Unreachable(_)));
        if self.reachable.swap(reached, Ordering::Relaxed) != reached {
            match &outcome {
                Err(CallError::Unreachable(cause)) => {
                    tracing::error!(store = %self.url, "the state store is unreachable: {cause}")
                }
                _ => tracing::info!(store = %self.url, "the state store is reachable again"),
            }
        }
        outcome.map_err(|failure| match failure {
            CallError::Unreachable(cause) => {
                StoreError::Unavailable(format!("the state store is unreachable: {cause}"))
            }
            CallError::Refused(error) => error,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, CallError> {
        self.pool.get().await.map_err(|e| {
            CallError::Unreachable(match e {
                PoolError::Timeout(_) => format!("no connection within {:?}", self.timeout),
                PoolError::Backend(e) => describe(&e),
                other => other.to_string(),
            })
        })
    }

    /// A connection of its own that `LISTEN`s on `channel`.
    async fn listen(&self, channel: &str) -> Result<Listener, StoreError> {
        let (client, mut connection) = self
            .run(async {
                let tls = MakeRustlsConnect::new(tls_config().map_err(|e| CallError::Unreachable(e.to_string()))?);
                Ok(self.url.connect_config(self.timeout).connect(tls).await?)
            })
            .await?;
        // The connection must be driven for the client's calls to go anywhere; it hands each
        // notification on, and ends when the connection breaks.
        let (notify, notifications) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(notification) = message
                    && notify.send(notification.payload().to_owned()).is_err()
                {
                    break;
                }
            }
        });
        self.run(async { Ok(client.batch_execute(&format!("LISTEN {channel}")).await?) }).await?;
        Ok(Listener { _client: client, notifications })
    }
}

/// A `LISTEN`ing connection's notifications.
pub(crate) struct Listener {
    /// Dropping the client would close the connection.
    _client: tokio_postgres::Client,
    notifications: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Listener {
    /// The next notification's payload; `None` once the connection broke.
    pub async fn next(&mut self) -> Option<String> {
        self.notifications.recv().await
    }

    /// Drops the notifications already received: one read of what changed covers them all.
    pub fn drain(&mut self) {
        while self.notifications.try_recv().is_ok() {}
    }
}

impl PostgresUrl {
    /// The connection settings, with `timeout` to connect and keepalives to notice a dead peer.
    fn connect_config(&self, timeout: Duration) -> tokio_postgres::Config {
        let mut config = self.config.clone();
        config.connect_timeout(timeout).keepalives_idle(Duration::from_secs(30));
        config
    }
}

/// Why a call failed: the server could not be reached, or it refused the call.
enum CallError {
    Unreachable(String),
    Refused(StoreError),
}

impl From<tokio_postgres::Error> for CallError {
    fn from(e: tokio_postgres::Error) -> Self {
        // A closed connection or an I/O error is about reaching the server; the rest (an error
        // the server sent, a value that does not convert) is about the call.
        let io = std::error::Error::source(&e).is_some_and(|source| source.is::<std::io::Error>());
        match e.is_closed() || io {
            true => Self::Unreachable(describe(&e)),
            false => Self::Refused(StoreError::Failed(format!("state store: {}", describe(&e)))),
        }
    }
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> Self {
        Self::Refused(e)
    }
}

/// The error with its cause: tokio-postgres' own message is only its kind.
fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.message().to_owned(),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    }
}

/// TLS for `sslmode=prefer` or `require`, trusting the system's certificate authorities (and
/// `SSL_CERT_FILE`, for a private one).
fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
