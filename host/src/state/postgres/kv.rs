//! The key-value store in the database: the same semantics as SQLite's, checked by the same
//! conformance suite. A write is acknowledged after its `COMMIT`, which is as durable as the
//! server's `synchronous_commit` says; a batch is one transaction; `increment` is atomic across
//! every host (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, under PostgreSQL's row lock).

use super::{Database, PostgresUrl, VersionStore};
use crate::state::{Backend, Namespace, StoreError, Write, add_to_counter, parse_counter};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

/// The key-value store in a PostgreSQL database.
pub struct PostgresBackend {
    db: Arc<Database>,
}

impl PostgresBackend {
    /// Connects to the database (see [`Database::connect`]).
    pub async fn connect(url: &PostgresUrl, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { db: Database::connect(url, timeout).await? })
    }

    /// Tells the log what connecting migrated, if anything.
    pub fn log_migration(&self) {
        if let Some(migrated) = self.db.migrated {
            let (from, to) = (migrated.from, migrated.to);
            tracing::info!(store = %self.db.url, from, to, "migrated the state store's schema");
        }
    }

    /// The cluster's versions, in the same database.
    pub(crate) fn versions(&self) -> VersionStore {
        VersionStore::new(self.db.clone())
    }
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
        self.db
            .run(async {
                let client = self.db.client().await?;
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
        self.db
            .run(async {
                let mut client = self.db.client().await?;
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
        self.db
            .run(async {
                let client = self.db.client().await?;
                let (city, component) = (ns.city.as_str(), ns.component.as_str());
                let params: [&(dyn ToSql + Sync); 5] =
                    [&city, &component, &ns.bucket, &key.as_bytes(), &delta.to_string()];
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
        self.db
            .run(async {
                let client = self.db.client().await?;
                let (city, component) = (ns.city.as_str(), ns.component.as_str());
                let (limit, offset) =
                    (i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX));
                let list = client.prepare_cached(LIST).await?;
                let rows = client.query(&list, &[&city, &component, &ns.bucket, &limit, &offset]).await?;
                Ok(rows.into_iter().map(|row| String::from_utf8_lossy(row.get::<_, &[u8]>(0)).into_owned()).collect())
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run(async {
                self.db.client().await?.simple_query("SELECT 1").await?;
                Ok(())
            })
            .await
    }
}
