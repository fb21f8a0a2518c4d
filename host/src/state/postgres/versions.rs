//! The cluster's desired component versions, in the database every host shares: each version of
//! each city's component (numbered per component, the cluster's numbers, with its bytes), the one
//! each should serve, the hosts that heartbeat, and what each serves.
//!
//! A change — a manifest's new source, a swap, a rollback — is one transaction, serialised per
//! component by an advisory lock, and `NOTIFY`s [`CHANNEL`] with `city/component` when it
//! commits; every host `LISTEN`s and brings its slot to the desired version.

use super::{CallError, Database, Listener};
use crate::manifest::{Digest, SlotKey};
use crate::state::StoreError;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_postgres::{GenericClient, Row};

/// The channel changes are announced on.
pub(crate) const CHANNEL: &str = "civic_versions";

/// One recorded version of a component.
pub(crate) struct VersionRow {
    pub number: u64,
    pub sha256: Digest,
    /// `manifest` or `upload`.
    pub origin: String,
    pub created_at: SystemTime,
    /// The host that recorded it.
    pub created_by: String,
}

/// The version a component should serve in the whole cluster.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Desired {
    pub key: SlotKey,
    pub number: u64,
    pub sha256: Digest,
    /// What a rollback brings back.
    pub previous: Option<u64>,
    pub changed_at: SystemTime,
    pub changed_by: String,
}

/// A host of the cluster, as it last reported itself.
#[derive(Clone)]
pub(crate) struct HostRow {
    pub id: String,
    pub address: String,
    pub admin: Option<String>,
    pub started_at: SystemTime,
    pub seen_at: SystemTime,
}

/// What one host serves of one component.
pub(crate) struct Served {
    pub host: String,
    pub key: SlotKey,
    pub number: u64,
    pub sha256: Digest,
    pub since: SystemTime,
    /// Why the host does not serve the desired version, when it cannot.
    pub refused: Option<String>,
}

/// Everything `GET /v1/cluster` shows, read at the database's `now`.
pub(crate) struct ClusterRows {
    pub now: SystemTime,
    pub hosts: Vec<HostRow>,
    pub desired: Vec<Desired>,
    pub served: Vec<Served>,
}

pub(crate) struct VersionStore {
    db: Arc<Database>,
}

const DESIRED: &str = "SELECT d.city, d.component, d.number, v.sha256, d.previous, d.changed_at, d.changed_by \
     FROM civic_desired d JOIN civic_versions v USING (city, component, number)";

impl VersionStore {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// The manifest gives `city`'s `component` the source `sha256`: the first host to say so
    /// records it as version 1; a host whose manifest changed the source records it as a new
    /// version, which every host then serves; otherwise nothing changes (a version swapped in
    /// since stays). The desired version, after.
    pub async fn adopt(&self, key: &SlotKey, sha256: Digest, wasm: &[u8], host: &str) -> Result<Desired, StoreError> {
        let (city, component, sha256) = (key.city.as_str(), key.component.as_str(), sha256.to_string());
        let sha256 = sha256.as_str();
        let ((), desired) = self
            .change(key, async |tx| {
                let manifest = manifest_sha256(tx, city, component).await?;
                if manifest.as_deref() != Some(sha256) {
                    let number = insert_version(tx, city, component, sha256, wasm, "manifest", host).await?;
                    set_desired(tx, city, component, number, sha256, host).await?;
                }
                Ok(())
            })
            .await?;
        Ok(desired)
    }

    /// Records `wasm` (from `origin`: `upload`, a registry reference) as the next version of
    /// `city`'s `component` and makes it the desired one.
    pub async fn record(
        &self,
        key: &SlotKey,
        sha256: Digest,
        wasm: &[u8],
        origin: &str,
        host: &str,
    ) -> Result<Desired, StoreError> {
        let (city, component, sha256) = (key.city.as_str(), key.component.as_str(), sha256.to_string());
        let sha256 = sha256.as_str();
        let ((), desired) = self
            .change(key, async |tx| {
                let number = insert_version(tx, city, component, sha256, wasm, origin, host).await?;
                let manifest = manifest_sha256(tx, city, component).await?;
                set_desired(tx, city, component, number, manifest.as_deref().unwrap_or(sha256), host).await
            })
            .await?;
        Ok(desired)
    }

    /// Makes the version before the desired one desired again (and the desired one the one a
    /// further rollback brings back); `None` when there is none.
    pub async fn roll_back(&self, key: &SlotKey, host: &str) -> Result<Option<Desired>, StoreError> {
        let (city, component) = (key.city.as_str(), key.component.as_str());
        let (rolled, desired) = self
            .change(key, async |tx| {
                let updated = tx
                    .execute(
                        "UPDATE civic_desired SET number = previous, previous = number, changed_at = now(), \
                         changed_by = $3 WHERE city = $1 AND component = $2 AND previous IS NOT NULL",
                        &[&city, &component, &host],
                    )
                    .await?;
                Ok(updated == 1)
            })
            .await?;
        Ok(rolled.then_some(desired))
    }

    /// Every component's desired version.
    pub async fn desired(&self) -> Result<Vec<Desired>, StoreError> {
        self.db
            .run(async {
                let client = self.db.client().await?;
                client.query(DESIRED, &[]).await?.iter().map(desired_row).collect()
            })
            .await
    }

    /// The desired version of `city`'s `component`, if one is recorded.
    pub async fn desired_of(&self, key: &SlotKey) -> Result<Option<Desired>, StoreError> {
        let (city, component) = (key.city.as_str(), key.component.as_str());
        self.db
            .run(async {
                let client = self.db.client().await?;
                let query = format!("{DESIRED} WHERE d.city = $1 AND d.component = $2");
                client.query_opt(&query, &[&city, &component]).await?.as_ref().map(desired_row).transpose()
            })
            .await
    }

    /// The bytes of version `number` of `city`'s `component`.
    pub async fn wasm(&self, key: &SlotKey, number: u64) -> Result<Vec<u8>, StoreError> {
        let (city, component, number) = (key.city.as_str(), key.component.as_str(), number as i64);
        self.db
            .run(async {
                let client = self.db.client().await?;
                let query = "SELECT wasm FROM civic_versions WHERE city = $1 AND component = $2 AND number = $3";
                let row = client.query_opt(query, &[&city, &component, &number]).await?;
                let wasm: Option<Vec<u8>> = row.and_then(|row| row.get(0));
                wasm.ok_or_else(|| CallError::Refused(StoreError::Failed(format!("version {number} has no bytes"))))
            })
            .await
    }

    /// Every version of `city`'s `component`, newest first.
    pub async fn history(&self, key: &SlotKey) -> Result<Vec<VersionRow>, StoreError> {
        let (city, component) = (key.city.as_str(), key.component.as_str());
        self.db
            .run(async {
                let client = self.db.client().await?;
                let rows = client
                    .query(
                        "SELECT number, sha256, origin, created_at, created_by FROM civic_versions \
                         WHERE city = $1 AND component = $2 ORDER BY number DESC",
                        &[&city, &component],
                    )
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(VersionRow {
                            number: row.get::<_, i64>(0) as u64,
                            sha256: digest(row.get(1))?,
                            origin: row.get(2),
                            created_at: row.get(3),
                            created_by: row.get(4),
                        })
                    })
                    .collect()
            })
            .await
    }

    /// This host is alive; hosts silent for longer than `forget_after` are forgotten, with what
    /// they served.
    pub async fn heartbeat(&self, host: &HostRow, forget_after: Duration) -> Result<(), StoreError> {
        self.db
            .run(async {
                let client = self.db.client().await?;
                client
                    .execute(
                        "INSERT INTO civic_hosts (id, address, admin, started_at, seen_at) VALUES ($1, $2, $3, $4, now()) \
                         ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, admin = EXCLUDED.admin, \
                         started_at = EXCLUDED.started_at, seen_at = now()",
                        &[&host.id, &host.address, &host.admin, &host.started_at],
                    )
                    .await?;
                let forget = forget_after.as_secs_f64();
                client
                    .execute("DELETE FROM civic_hosts WHERE seen_at < now() - make_interval(secs => $1)", &[&forget])
                    .await?;
                Ok(())
            })
            .await
    }

    /// Forgets `host` at once (it is leaving), with what it served.
    pub async fn forget(&self, host: &HostRow) -> Result<(), StoreError> {
        self.db
            .run(async {
                let client = self.db.client().await?;
                client.execute("DELETE FROM civic_hosts WHERE id = $1", &[&host.id]).await?;
                Ok(())
            })
            .await
    }

    /// What this host serves of one component now.
    pub async fn report(&self, served: &Served) -> Result<(), StoreError> {
        let (number, sha256) = (served.number as i64, served.sha256.to_string());
        let (city, component) = (served.key.city.as_str(), served.key.component.as_str());
        self.db
            .run(async {
                let client = self.db.client().await?;
                client
                    .execute(
                        "INSERT INTO civic_served (host, city, component, number, sha256, since, refused) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (host, city, component) DO UPDATE SET \
                         number = EXCLUDED.number, sha256 = EXCLUDED.sha256, since = EXCLUDED.since, \
                         refused = EXCLUDED.refused",
                        &[&served.host, &city, &component, &number, &sha256, &served.since, &served.refused],
                    )
                    .await?;
                Ok(())
            })
            .await
    }

    /// The hosts seen within `max_age`, every desired version, and what each of those hosts serves.
    pub async fn cluster(&self, max_age: Duration) -> Result<ClusterRows, StoreError> {
        let max_age = max_age.as_secs_f64();
        self.db
            .run(async {
                let client = self.db.client().await?;
                let now: SystemTime = client.query_one("SELECT now()", &[]).await?.get(0);
                let hosts = client
                    .query(
                        "SELECT id, address, admin, started_at, seen_at FROM civic_hosts \
                         WHERE seen_at >= now() - make_interval(secs => $1) ORDER BY id",
                        &[&max_age],
                    )
                    .await?;
                let hosts = hosts
                    .iter()
                    .map(|row| HostRow {
                        id: row.get(0),
                        address: row.get(1),
                        admin: row.get(2),
                        started_at: row.get(3),
                        seen_at: row.get(4),
                    })
                    .collect::<Vec<_>>();
                let desired = client.query(&format!("{DESIRED} ORDER BY city, component"), &[]).await?;
                let served = client
                    .query(
                        "SELECT host, city, component, number, sha256, since, refused FROM civic_served \
                         ORDER BY host, city, component",
                        &[],
                    )
                    .await?;
                let served = served
                    .iter()
                    .map(|row| {
                        Ok(Served {
                            host: row.get(0),
                            key: slot_key(row.get(1), row.get(2))?,
                            number: row.get::<_, i64>(3) as u64,
                            sha256: digest(row.get(4))?,
                            since: row.get(5),
                            refused: row.get(6),
                        })
                    })
                    .filter(|served| served.as_ref().map_or(true, |s| hosts.iter().any(|host| host.id == s.host)))
                    .collect::<Result<_, CallError>>()?;
                let desired = desired.iter().map(desired_row).collect::<Result<_, _>>()?;
                Ok(ClusterRows { now, hosts, desired, served })
            })
            .await
    }

    /// A connection that hears every change.
    pub async fn listen(&self) -> Result<Listener, StoreError> {
        self.db.listen(CHANNEL).await
    }

    /// Runs `change` in one transaction holding `city`'s `component`'s lock, announces the
    /// change, and answers what `change` said with the desired version as it leaves it.
    async fn change<T>(
        &self,
        key: &SlotKey,
        change: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, CallError>,
    ) -> Result<(T, Desired), StoreError> {
        self.db
            .run(async {
                let mut client = self.db.client().await?;
                let tx = client.transaction().await?;
                let (city, component, key) = (key.city.as_str(), key.component.as_str(), key.to_string());
                tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key]).await?;
                let changed = change(&tx).await?;
                let row = tx
                    .query_opt(&format!("{DESIRED} WHERE d.city = $1 AND d.component = $2"), &[&city, &component])
                    .await?;
                let desired = row.as_ref().map(desired_row).transpose()?.ok_or_else(|| {
                    CallError::Refused(StoreError::Failed(format!(
                        "no version of `{component}` in `{city}` is recorded"
                    )))
                })?;
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &key]).await?;
                tx.commit().await?;
                Ok((changed, desired))
            })
            .await
    }
}

fn desired_row(row: &Row) -> Result<Desired, CallError> {
    Ok(Desired {
        key: slot_key(row.get(0), row.get(1))?,
        number: row.get::<_, i64>(2) as u64,
        sha256: digest(row.get(3))?,
        previous: row.get::<_, Option<i64>>(4).map(|n| n as u64),
        changed_at: row.get(5),
        changed_by: row.get(6),
    })
}

/// The sha256 of the component's source in the manifests, as last adopted; `None` before any.
async fn manifest_sha256(tx: &impl GenericClient, city: &str, component: &str) -> Result<Option<String>, CallError> {
    let row = tx
        .query_opt("SELECT manifest_sha256 FROM civic_desired WHERE city = $1 AND component = $2", &[&city, &component])
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Inserts the next version of a component; its number.
async fn insert_version(
    tx: &impl GenericClient,
    city: &str,
    component: &str,
    sha256: &str,
    wasm: &[u8],
    origin: &str,
    host: &str,
) -> Result<i64, CallError> {
    let row = tx
        .query_one(
            "INSERT INTO civic_versions (city, component, number, sha256, wasm, origin, created_by) \
             SELECT $1, $2, COALESCE(max(number), 0) + 1, $3, $4, $5, $6 FROM civic_versions \
             WHERE city = $1 AND component = $2 RETURNING number",
            &[&city, &component, &sha256, &wasm, &origin, &host],
        )
        .await?;
    Ok(row.get(0))
}

/// Makes version `number` the desired one; the one it replaces becomes the previous.
async fn set_desired(
    tx: &impl GenericClient,
    city: &str,
    component: &str,
    number: i64,
    manifest_sha256: &str,
    host: &str,
) -> Result<(), CallError> {
    tx.execute(
        "INSERT INTO civic_desired (city, component, number, previous, manifest_sha256, changed_by) \
         VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (city, component) DO UPDATE SET \
         previous = civic_desired.number, number = EXCLUDED.number, manifest_sha256 = EXCLUDED.manifest_sha256, \
         changed_at = now(), changed_by = EXCLUDED.changed_by",
        &[&city, &component, &number, &manifest_sha256, &host],
    )
    .await?;
    Ok(())
}

/// The key in a row's city and component columns; a row no host could have written is an error
/// of the call, never a panic.
fn slot_key(city: String, component: String) -> Result<SlotKey, CallError> {
    SlotKey::of(city, component).map_err(|e| CallError::Refused(StoreError::Failed(format!("state store: {e}"))))
}

/// The digest in a row's sha256 column.
fn digest(hex: String) -> Result<Digest, CallError> {
    Digest::try_from(hex).map_err(|e| CallError::Refused(StoreError::Failed(format!("state store: {e}"))))
}
