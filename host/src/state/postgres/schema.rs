//! The store's tables, created and migrated by the host at start. `civic_schema` holds the
//! version; each entry of [`MIGRATIONS`] brings the schema one version up. The migration runs in
//! one transaction under an advisory lock, so hosts starting together do it once; a schema newer
//! than this host knows is refused.

use super::{Database, describe};
use deadpool_postgres::PoolError;

/// The schema this host reads and writes.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The statements of each schema version, in order. Append; never change one that shipped.
const MIGRATIONS: [&str; 4] = [
    // 1: the citizens' data. Keys are `bytea`, so they sort in byte order and hold any string.
    "CREATE TABLE civic_kv (
        city text NOT NULL,
        component text NOT NULL,
        bucket text NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (city, component, bucket, key)
    )",
    // 2: the cluster: every version of every component (numbered per component, with its bytes
    // or its registry reference), the one each should serve, the hosts, and what each serves.
    "CREATE TABLE civic_versions (
        city text NOT NULL,
        component text NOT NULL,
        number bigint NOT NULL,
        sha256 text NOT NULL,
        wasm bytea,
        reference text,
        origin text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        PRIMARY KEY (city, component, number),
        CHECK (wasm IS NOT NULL OR reference IS NOT NULL)
    );
    CREATE TABLE civic_desired (
        city text NOT NULL,
        component text NOT NULL,
        number bigint NOT NULL,
        previous bigint,
        manifest_sha256 text NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT now(),
        changed_by text NOT NULL,
        PRIMARY KEY (city, component)
    );
    CREATE TABLE civic_hosts (
        id text PRIMARY KEY,
        address text NOT NULL,
        admin text,
        started_at timestamptz NOT NULL,
        seen_at timestamptz NOT NULL
    );
    CREATE TABLE civic_served (
        host text NOT NULL REFERENCES civic_hosts (id) ON DELETE CASCADE,
        city text NOT NULL,
        component text NOT NULL,
        number bigint NOT NULL,
        sha256 text NOT NULL,
        since timestamptz NOT NULL,
        refused text,
        PRIMARY KEY (host, city, component)
    )",
    // 3: for 100,000 cities. A component's bytes are stored once per sha256, however many
    // versions of however many cities have them; every change of a desired version takes the
    // next number of `civic_changes`, so a host reads only what changed since it last looked.
    "CREATE TABLE civic_blobs (
        sha256 text PRIMARY KEY,
        wasm bytea NOT NULL
    );
    INSERT INTO civic_blobs (sha256, wasm)
        SELECT DISTINCT ON (sha256) sha256, wasm FROM civic_versions WHERE wasm IS NOT NULL ORDER BY sha256;
    ALTER TABLE civic_versions DROP COLUMN wasm, DROP COLUMN reference;
    ALTER TABLE civic_versions ADD FOREIGN KEY (sha256) REFERENCES civic_blobs (sha256);
    CREATE SEQUENCE civic_changes;
    ALTER TABLE civic_desired ADD COLUMN change bigint NOT NULL DEFAULT nextval('civic_changes');
    CREATE INDEX civic_desired_by_change ON civic_desired (change)",
    // 4: a host says which change it has applied up to, and stores a row in `civic_served`
    // only where it does not serve the desired version: nothing per component when all agree.
    // Rows that agree, from hosts of before, still count as agreeing until those hosts rejoin.
    // A desired version carries its sha256, so a host reads its slots' without a join.
    "ALTER TABLE civic_hosts ADD COLUMN seen_change bigint NOT NULL DEFAULT 0;
    ALTER TABLE civic_desired ADD COLUMN sha256 text;
    UPDATE civic_desired d SET sha256 = v.sha256 FROM civic_versions v
        WHERE v.city = d.city AND v.component = d.component AND v.number = d.number;
    ALTER TABLE civic_desired ALTER COLUMN sha256 SET NOT NULL",
];

/// Taken by the migration's transaction, so that hosts starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6369_7669_6300_0001;

/// A schema brought up from one version to another.
#[derive(Clone, Copy, Debug)]
pub struct Migrated {
    pub from: i32,
    pub to: i32,
}

/// Creates or migrates the schema; what it migrated, when it did.
pub(super) async fn migrate(database: &Database) -> anyhow::Result<Option<Migrated>> {
    let url = &database.url;
    let mut client = database.pool.get().await.map_err(|e| match e {
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
    let steps = crate::state::schema::pending(&MIGRATIONS, i64::from(version))
        .map_err(|why| anyhow::anyhow!("cannot use the state store {url}: {why}"))?;
    for (to, migration) in steps {
        tx.batch_execute(migration).await.map_err(fail)?;
        let to = i32::try_from(to).unwrap_or(i32::MAX);
        tx.execute("UPDATE civic_schema SET version = $1", &[&to]).await.map_err(fail)?;
    }
    tx.commit().await.map_err(fail)?;
    Ok((version < SCHEMA_VERSION).then_some(Migrated { from: version, to: SCHEMA_VERSION }))
}
