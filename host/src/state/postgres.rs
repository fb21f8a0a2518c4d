//! The networked store: PostgreSQL, for a cluster of hosts that serve the same cities. Every
//! host reaches the same rows, so a key written through one is read through another, and
//! `increment` is atomic across all of them (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, under
//! the row lock PostgreSQL takes). A write is acknowledged after its `COMMIT`, which is durable as
//! the server's `synchronous_commit` says; a batch is one transaction.
//!
//! Keys are `bytea`, so they sort in byte order and hold any string SQLite holds. The schema is
//! created and migrated at start under an advisory lock, so hosts starting together do it once;
//! a schema newer than this host knows is refused.
//!
//! Every call is bounded by the store's timeout: a server that is down or unreachable costs a
//! guest an error value after at most that long, never a hang. The log says once that the store
//! is unreachable and once that it is back; the pool replaces broken connections by itself.

use super::{Backend, Namespace, StoreError, Write, add_to_counter, parse_counter};
use anyhow::bail;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::Statement;
use tokio_postgres::config::Host;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema this host reads and writes; each entry of [`MIGRATIONS`] brings it one version up.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The statements of each schema version, in order. Append; never change one that shipped.
const MIGRATIONS: [&str; 1] = ["CREATE TABLE civic_kv (
        city text NOT NULL,
        component text NOT NULL,
        bucket text NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (city, component, bucket, key)
    )"];

/// Taken by the migration's transaction, so that hosts starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6369_7669_6300_0001;

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

/// The key-value store in a PostgreSQL database.
pub struct PostgresBackend {
    pool: Pool,
    url: PostgresUrl,
    /// How long any one call may take, connecting included.
    timeout: Duration,
    /// Whether the last call reached the server, so that a change is logged once.
    reachable: AtomicBool,
}

impl PostgresBackend {
    /// Connects, logs in and creates or migrates the schema. Fails, naming the URL without its
    /// password, when the server cannot be reached in `timeout`, refuses the login, or has a
    /// schema this host does not know.
    pub async fn connect(url: &PostgresUrl, timeout: Duration) -> anyhow::Result<Self> {
        let mut config = url.config.clone();
        config.connect_timeout(timeout).keepalives_idle(Duration::from_secs(30));
        let tls = MakeRustlsConnect::new(tls_config()?);
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()?;
        let backend = Self { pool, url: url.clone(), timeout, reachable: AtomicBool::new(true) };
        let migrated = tokio::time::timeout(timeout * 2, backend.migrate()).await;
        match migrated {
            Ok(Ok(())) => Ok(backend),
            Ok(Err(e)) => Err(e),
            Err(_) => bail!("the state store {url} did not answer within {timeout:?}"),
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let url = &self.url;
        let mut client = self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => anyhow::anyhow!("cannot connect to the state store {url}: {}", describe(&e)),
            other => anyhow::anyhow!("cannot connect to the state store {url}: {other}"),
        })?;
        let fail = |e: tokio_postgres::Error| anyhow::anyhow!("cannot set up the state store {url}: {}", describe(&e));
        let tx = client.transaction().await.map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(fail)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS civic_schema (version integer NOT NULL)").await.map_err(fail)?;
        let version: i32 = match tx.query_opt("SELECT version FROM civic_schema", &[]).await.map_err(fail)? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO civic_schema (version) VALUES (0)", &[]).await.map_err(fail)?;
                0
            }
        };
        if version > SCHEMA_VERSION {
            bail!(
                "the state store {url} has schema version {version}, written by a newer civic; this one knows \
                 version {SCHEMA_VERSION}: upgrade this host, or point it at another database"
            );
        }
        for migration in &MIGRATIONS[version as usize..] {
            tx.batch_execute(migration).await.map_err(fail)?;
        }
        tx.execute("UPDATE civic_schema SET version = $1", &[&SCHEMA_VERSION]).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        if version < SCHEMA_VERSION {
            tracing::info!(store = %url, from = version, to = SCHEMA_VERSION, "migrated the state store's schema");
        }
        Ok(())
    }

    /// Runs `call` within the timeout, telling the log when the server stops or starts answering.
    async fn run<T>(&self, call: impl Future<Output = Result<T, Failure>>) -> Result<T, StoreError> {
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Unreachable(format!("it did not answer within {:?}", self.timeout))),
        };
        let reached = !matches!(outcome, Err(Failure::Unreachable(_)));
        if self.reachable.swap(reached, Ordering::Relaxed) != reached {
            match &outcome {
                Err(Failure::Unreachable(cause)) => {
                    tracing::error!(store = %self.url, "the state store is unreachable: {cause}")
                }
                _ => tracing::info!(store = %self.url, "the state store is reachable again"),
            }
        }
        outcome.map_err(|failure| match failure {
            Failure::Unreachable(cause) => StoreError::Unavailable(format!("the state store is unreachable: {cause}")),
            Failure::Refused(error) => error,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Failure> {
        self.pool.get().await.map_err(|e| {
            Failure::Unreachable(match e {
                PoolError::Timeout(_) => format!("no connection within {:?}", self.timeout),
                PoolError::Backend(e) => describe(&e),
                other => other.to_string(),
            })
        })
    }
}

/// Why a call failed: the server could not be reached, or it answered with an error.
enum Failure {
    Unreachable(String),
    Refused(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
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

impl From<StoreError> for Failure {
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
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

const SET: &str = "INSERT INTO civic_kv (city, component, bucket, key, value) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (city, component, bucket, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE: &str = "DELETE FROM civic_kv WHERE city = $1 AND component = $2 AND bucket = $3 AND key = $4";
/// One key by equality: `key = ANY($4)` would be kept out of the index condition on a table
/// without statistics yet (a new cluster under load), and scan the whole bucket.
const GET: &str = "SELECT value FROM civic_kv WHERE city = $1 AND component = $2 AND bucket = $3 AND key = $4";
const LIST: &str = "SELECT key FROM civic_kv WHERE city = $1 AND component = $2 AND bucket = $3 \
                    ORDER BY key LIMIT $4 OFFSET $5";
/// Adds to a counter where it stands, in one statement: the row lock makes it atomic across
/// hosts. The `WHERE` leaves alone a value that is not a counter or would overflow; then nothing
/// is returned, and the caller reads the value to say which.
const INCREMENT: &str = "INSERT INTO civic_kv AS kv (city, component, bucket, key, value) \
     VALUES ($1, $2, $3, $4, convert_to($5::text, 'UTF8')) \
     ON CONFLICT (city, component, bucket, key) DO UPDATE \
     SET value = convert_to((encode(kv.value, 'escape')::numeric + $5::text::numeric)::text, 'UTF8') \
     WHERE CASE WHEN encode(kv.value, 'escape') ~ '^[0-9]{1,20}$' \
         THEN encode(kv.value, 'escape')::numeric + $5::text::numeric <= 18446744073709551615 ELSE false END \
     RETURNING encode(value, 'escape')";

#[async_trait::async_trait]
impl Backend for PostgresBackend {
    async fn get_many(&self, ns: &Namespace, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let get = client.prepare_cached(GET).await?;
            let (city, component) = (ns.city.as_str(), ns.component.as_str());
            let wanted: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
            let params: Vec<[&(dyn ToSql + Sync); 4]> =
                wanted.iter().map(|key| [&city as &(dyn ToSql + Sync), &component, &ns.bucket, key]).collect();
            // Sent one after another without waiting (tokio-postgres pipelines them).
            let rows = params.iter().map(|params| client.query_opt(&get, params));
            let rows = futures_util::future::try_join_all(rows).await?;
            Ok(rows.into_iter().map(|row| row.map(|row| row.get(0))).collect())
        })
        .await
    }

    async fn write(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let (set, delete) = (tx.prepare_cached(SET).await?, tx.prepare_cached(DELETE).await?);
            let (city, component) = (ns.city.as_str(), ns.component.as_str());
            let keys: Vec<&[u8]> = writes
                .iter()
                .map(|write| match write {
                    Write::Set(key, _) | Write::Delete(key) => key.as_bytes(),
                })
                .collect();
            let statements: Vec<(&Statement, Vec<&(dyn ToSql + Sync)>)> = writes
                .iter()
                .zip(&keys)
                .map(|(write, key)| match write {
                    Write::Set(_, value) => {
                        (&set, vec![&city as &(dyn ToSql + Sync), &component, &ns.bucket, key, value])
                    }
                    Write::Delete(_) => (&delete, vec![&city as &(dyn ToSql + Sync), &component, &ns.bucket, key]),
                })
                .collect();
            // Sent one after another without waiting (tokio-postgres pipelines them), applied in order.
            let sent = statements.iter().map(|(statement, params)| tx.execute(*statement, params));
            futures_util::future::try_join_all(sent).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn increment(&self, ns: &Namespace, key: &str, delta: u64) -> Result<u64, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let (city, component) = (ns.city.as_str(), ns.component.as_str());
            let params: [&(dyn ToSql + Sync); 5] = [&city, &component, &ns.bucket, &key.as_bytes(), &delta.to_string()];
            let increment = client.prepare_cached(INCREMENT).await?;
            if let Some(row) = client.query_opt(&increment, &params).await? {
                let sum: String = row.get(0);
                return Ok(parse_counter(sum.as_bytes())?);
            }
            // Refused: say why, as the other stores do.
            let changed = || StoreError::Failed("the counter changed while it was incremented; try again".into());
            let row = client.query_opt(GET, &[&city, &component, &ns.bucket, &key.as_bytes()]).await?;
            let current: Vec<u8> = row.ok_or_else(changed)?.get(0);
            add_to_counter(parse_counter(&current)?, delta)?;
            Err(changed().into())
        })
        .await
    }

    async fn list_keys(&self, ns: &Namespace, offset: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let (city, component) = (ns.city.as_str(), ns.component.as_str());
            let (limit, offset) = (i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX));
            let list = client.prepare_cached(LIST).await?;
            let rows = client.query(&list, &[&city, &component, &ns.bucket, &limit, &offset]).await?;
            Ok(rows.into_iter().map(|row| String::from_utf8_lossy(row.get::<_, &[u8]>(0)).into_owned()).collect())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(async {
            self.client().await?.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }
}
