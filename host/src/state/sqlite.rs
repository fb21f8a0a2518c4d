//! The default store: SQLite (bundled, nothing to install) in WAL mode with `synchronous=FULL`,
//! so a write acknowledged to a guest survives a crash of the host and of the machine.
//!
//! Writes go to one writer thread that commits whatever has queued up in one transaction ("group
//! commit"): one fsync serves many concurrent writes. Each queued job runs in its own savepoint,
//! so one failing job (an `increment` on a non-number, say) does not fail its neighbours. Reads use
//! their own connections and never wait for the writer: WAL readers see the last commit.

use super::{Backend, Namespace, StoreError, Write, add_to_counter, parse_counter, schema};
use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The statements of each schema version (`PRAGMA user_version`), in order. Append; never
/// change one that shipped.
const MIGRATIONS: [&str; 1] = [
    // 1: the citizens' data.
    "CREATE TABLE kv (
        city TEXT NOT NULL,
        component TEXT NOT NULL,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (city, component, bucket, key)
    ) WITHOUT ROWID;",
];

/// The most jobs committed in one transaction, to bound the latency of the first one.
const MAX_BATCH: usize = 512;

/// A durable key-value store in one SQLite file.
pub struct SqliteBackend {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    /// Idle read connections, reused so a read does not open the file again.
    readers: Mutex<Vec<Connection>>,
}

enum Job {
    Write { ns: Namespace, writes: Vec<Write>, done: oneshot::Sender<Result<(), StoreError>> },
    Increment { ns: Namespace, key: String, delta: u64, done: oneshot::Sender<Result<u64, StoreError>> },
}

impl SqliteBackend {
    /// Opens (or creates) the database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut writer = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
            .with_context(|| format!("cannot open the state database `{}`", path.display()))?;
        migrate(&mut writer).with_context(|| format!("cannot use the state database `{}`", path.display()))?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("civic-state-writer".into())
            .spawn(move || write_loop(writer, queue))
            .context("cannot start the state writer thread")?;
        Ok(Self { path: path.to_path_buf(), jobs, readers: Mutex::new(Vec::new()) })
    }

    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (done, result) = oneshot::channel();
        self.jobs.send(job(done)).map_err(|_| writer_gone())?;
        result.await.map_err(|_| writer_gone())?
    }

    /// Runs `read` on an idle read connection (opening one if none is idle).
    fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let idle = self.readers.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match idle {
            Some(connection) => connection,
            None => connect(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(store_error)?,
        };
        let result = read(&connection).map_err(store_error);
        if let Ok(mut idle) = self.readers.lock() {
            idle.push(connection);
        }
        result
    }
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    async fn get_many(&self, ns: &Namespace, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.read(|db| {
            let mut select = db.prepare_cached(
                "SELECT value FROM kv WHERE city = ?1 AND component = ?2 AND bucket = ?3 AND key = ?4",
            )?;
            keys.iter()
                .map(|key| {
                    select
                        .query_row(params![ns.city.as_str(), ns.component.as_str(), ns.bucket, key], |row| row.get(0))
                        .optional()
                })
                .collect()
        })
    }

    async fn write(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        let ns = ns.clone();
        self.submit(|done| Job::Write { ns, writes, done }).await
    }

    async fn increment(&self, ns: &Namespace, key: &str, delta: u64) -> Result<u64, StoreError> {
        let (ns, key) = (ns.clone(), key.to_owned());
        self.submit(|done| Job::Increment { ns, key, delta, done }).await
    }

    async fn list_keys(&self, ns: &Namespace, offset: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|db| {
            let mut select = db.prepare_cached(
                "SELECT key FROM kv WHERE city = ?1 AND component = ?2 AND bucket = ?3 \
                 ORDER BY key LIMIT ?4 OFFSET ?5",
            )?;
            let rows = select
                .query_map(params![ns.city.as_str(), ns.component.as_str(), ns.bucket, limit, offset], |row| {
                    row.get(0)
                })?;
            rows.collect()
        })
    }
}

fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

/// Switches to WAL and creates or checks the schema. Reading the schema is also what detects a
/// file that is not a database.
fn migrate(db: &mut Connection) -> anyhow::Result<()> {
    let mode: String = db.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("the database refused write-ahead logging (journal mode `{mode}`)");
    }
    let tx = db.transaction()?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (to, migration) in schema::pending(&MIGRATIONS, version).map_err(anyhow::Error::msg)? {
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", to)?;
    }
    tx.commit()?;
    Ok(())
}

/// The writer thread: takes every job queued so far, commits them together, then answers them.
fn write_loop(mut db: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        let outcomes = match commit(&mut db, &batch) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!("state commit failed: {e}");
                batch.iter().map(|_| Err(store_error(&e))).collect()
            }
        };
        // A dropped receiver means the guest's request went away; the write stands regardless.
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            match job {
                Job::Write { done, .. } => drop(done.send(outcome.map(|_| ()))),
                Job::Increment { done, .. } => drop(done.send(outcome)),
            }
        }
    }
}

/// Applies each job in its own savepoint of one transaction; `Ok` holds each job's own outcome.
fn commit(db: &mut Connection, batch: &[Job]) -> rusqlite::Result<Vec<Result<u64, StoreError>>> {
    let mut tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let savepoint = tx.savepoint()?;
        let outcome = apply(&savepoint, job);
        if outcome.is_ok() {
            savepoint.commit()?;
        }
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(outcomes)
}

fn apply(db: &Connection, job: &Job) -> Result<u64, StoreError> {
    match job {
        Job::Write { ns, writes, .. } => {
            let mut set = db
                .prepare_cached(
                    "INSERT OR REPLACE INTO kv (city, component, bucket, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(store_error)?;
            let mut delete = db
                .prepare_cached("DELETE FROM kv WHERE city = ?1 AND component = ?2 AND bucket = ?3 AND key = ?4")
                .map_err(store_error)?;
            let (city, component) = (ns.city.as_str(), ns.component.as_str());
            for write in writes {
                match write {
                    Write::Set(key, value) => set.execute(params![city, component, ns.bucket, key, value]),
                    Write::Delete(key) => delete.execute(params![city, component, ns.bucket, key]),
                }
                .map_err(store_error)?;
            }
            Ok(0)
        }
        Job::Increment { ns, key, delta, .. } => {
            let (city, component) = (ns.city.as_str(), ns.component.as_str());
            let current: Option<Vec<u8>> = db
                .prepare_cached("SELECT value FROM kv WHERE city = ?1 AND component = ?2 AND bucket = ?3 AND key = ?4")
                .and_then(|mut select| {
                    select.query_row(params![city, component, ns.bucket, key], |row| row.get(0)).optional()
                })
                .map_err(store_error)?;
            let sum = add_to_counter(current.as_deref().map(parse_counter).transpose()?.unwrap_or(0), *delta)?;
            db.prepare_cached(
                "INSERT OR REPLACE INTO kv (city, component, bucket, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut set| set.execute(params![city, component, ns.bucket, key, sum.to_string().into_bytes()]))
            .map_err(store_error)?;
            Ok(sum)
        }
    }
}

fn store_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(format!("state store: {e}"))
}

fn writer_gone() -> StoreError {
    StoreError::Failed("state store: the writer thread has stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let ns = Namespace {
            city: "lecce".to_owned().try_into().unwrap(),
            component: "kita".to_owned().try_into().unwrap(),
            bucket: "b".into(),
        };
        SqliteBackend::open(&path).unwrap().write(&ns, vec![Write::Set("k".into(), b"v".to_vec())]).await.unwrap();
        let reopened = SqliteBackend::open(&path).unwrap();
        assert_eq!(reopened.get_many(&ns, &["k".into()]).await.unwrap(), vec![Some(b"v".to_vec())]);
    }

    #[test]
    fn a_schema_no_civic_wrote_is_refused_and_not_changed() {
        for version in [-1, i64::from(i32::MAX)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            Connection::open(&path).unwrap().pragma_update(None, "user_version", version).unwrap();
            let error = format!("{:#}", SqliteBackend::open(&path).err().unwrap());
            assert!(error.contains(&format!("schema version {version}")), "{error}");
            let kept: i64 =
                Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(kept, version);
        }
    }

    #[test]
    fn a_database_of_every_earlier_version_migrates() {
        for version in 0..MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            let db = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..version] {
                db.execute_batch(migration).unwrap();
            }
            db.pragma_update(None, "user_version", version as i64).unwrap();
            drop(db);
            SqliteBackend::open(&path).unwrap();
            let now: i64 =
                Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(now, MIGRATIONS.len() as i64);
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let error = format!("{:#}", SqliteBackend::open(&path).err().unwrap());
        assert!(error.contains("state.db"), "{error}");
        assert!(error.contains("not a database"), "{error}");
    }
}
