//! The cluster's desired component versions, in the database every host shares: each version of
//! each city's component (numbered per component, the cluster's numbers), its bytes stored once
//! per sha256 however many slots have them, and the one each should serve. What the hosts
//! serve of them is [`super::hosts`].
//!
//! A change — manifests' new sources (adopted 5,000 slots at a time, those new to the cluster
//! copied in), a swap, a rollback — is one transaction. Changes are serialised by one advisory
//! lock, taken before a change is numbered: so the change numbers (`civic_changes`) commit in order, and a host that read every
//! change up to N has missed none below it. Each change `NOTIFY`s [`CHANNEL`] when it commits;
//! every host `LISTEN`s and reads the desired versions changed since the last it saw.

use super::{CallError, Database, Listener};
use crate::manifest::{Digest, SlotKey};
use crate::state::StoreError;
use std::sync::Arc;
use std::time::SystemTime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row, Transaction};

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
    /// The number of the change that made it so: later changes have larger ones.
    pub change: i64,
    pub number: u64,
    pub sha256: Digest,
    /// What a rollback brings back.
    pub previous: Option<u64>,
    pub changed_at: SystemTime,
    pub changed_by: String,
}

/// A manifest's source for one slot, to adopt.
pub(crate) struct Adoption<'a> {
    pub key: SlotKey,
    pub sha256: Digest,
    pub wasm: &'a [u8],
}

pub(crate) struct VersionStore {
    pub(super) db: Arc<Database>,
}

/// What [`desired_row`] reads, and from where.
pub(super) const DESIRED_COLUMNS: &str =
    "SELECT d.city, d.component, d.change, d.number, d.sha256, d.previous, d.changed_at, d.changed_by";
pub(super) const DESIRED_FROM: &str = "FROM civic_desired d";

/// Taken by every change, so that changes are numbered in the order they commit.
const CHANGE_LOCK: i64 = 0x6369_7669_6300_0002;

impl VersionStore {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// The manifests give each slot of `slots` its source: the first host to say so records it
    /// as version 1; a host whose manifest changed the source records it as a new version,
    /// which every host then serves; otherwise nothing changes (a version swapped in since
    /// stays). One read when nothing changed, else one transaction; the bytes are sent only
    /// where the cluster lacks them. The desired versions after, in the order of `slots`.
    /// `read`, when given, is what the cluster held of them a moment ago (else read now).
    pub async fn adopt(
        &self,
        slots: &[Adoption<'_>],
        host: &str,
        read: Option<&Known>,
    ) -> Result<Vec<Desired>, StoreError> {
        let cities: Vec<&str> = slots.iter().map(|s| s.key.city.as_str()).collect();
        let components: Vec<&str> = slots.iter().map(|s| s.key.component.as_str()).collect();
        let changed = |known: &Known| -> Vec<usize> {
            (0..slots.len())
                .filter(|&i| known.get(&slots[i].key).is_none_or(|(_, manifest)| *manifest != slots[i].sha256))
                .collect()
        };
        let in_order = |known: &Known| -> Result<Vec<Desired>, CallError> {
            let desired = slots.iter().map(|slot| {
                known.get(&slot.key).map(|(desired, _)| desired.clone()).ok_or_else(|| recorded_none(&slot.key))
            });
            desired.collect()
        };
        let unchanged = |known: &Known| match changed(known).is_empty() {
            true => in_order(known).map(Some),
            false => Ok(None),
        };
        let unchanged = match read {
            Some(known) => self.db.run(async { unchanged(known) }).await?,
            None => {
                self.db
                    .run(async {
                        let client = self.db.client().await?;
                        unchanged(&known_sources(&**client, &cities, &components).await?)
                    })
                    .await?
            }
        };
        if let Some(desired) = unchanged {
            return Ok(desired);
        }
        self.change(async |tx| {
            // Read again under the lock: another host may have adopted them meanwhile.
            let mut known = known_sources(tx, &cities, &components).await?;
            let changed = changed(&known);
            if !changed.is_empty() {
                let blobs = changed.iter().map(|&i| (slots[i].sha256, slots[i].wasm));
                store_blobs(tx, blobs).await?;
                let digests: Vec<String> = slots.iter().map(|s| s.sha256.to_string()).collect();
                let digests: Vec<&str> = digests.iter().map(String::as_str).collect();
                // Slots new to the cluster become version 1, copied in: a first host has
                // thousands. A source that moved becomes the next version.
                let (new, moved): (Vec<usize>, Vec<usize>) =
                    changed.iter().partition(|&&i| !known.contains_key(&slots[i].key));
                if !new.is_empty() {
                    let (cities, components) = (pick(&cities, &new), pick(&components, &new));
                    copy_new(tx, &cities, &components, &pick(&digests, &new), host).await?;
                    known.extend(known_sources(tx, &cities, &components).await?);
                }
                if !moved.is_empty() {
                    let (cities, components, digests) =
                        (pick(&cities, &moved), pick(&components, &moved), pick(&digests, &moved));
                    // The new desired rows come back as `desired_row` reads them: the version's
                    // sha256 is the manifest's.
                    let rows = tx
                        .query(
                            "WITH new AS (
                                SELECT c AS city, n AS component, s AS sha256,
                                    (SELECT max(number) FROM civic_versions v WHERE v.city = c AND v.component = n) + 1 AS number
                                FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, n, s)
                            ), versions AS (
                                INSERT INTO civic_versions (city, component, number, sha256, origin, created_by)
                                SELECT city, component, number, sha256, 'manifest', $4 FROM new
                            )
                            UPDATE civic_desired AS d SET previous = d.number, number = new.number,
                                sha256 = new.sha256, manifest_sha256 = new.sha256, changed_at = now(),
                                changed_by = $4, change = nextval('civic_changes')
                            FROM new WHERE d.city = new.city AND d.component = new.component
                            RETURNING d.city, d.component, d.change, d.number, d.sha256, d.previous,
                                d.changed_at, d.changed_by",
                            &[&cities, &components, &digests, &host],
                        )
                        .await?;
                    for row in &rows {
                        let row = desired_row(row)?;
                        let manifest = row.sha256;
                        known.insert(row.key.clone(), (row, manifest));
                    }
                }
            }
            Ok((!changed.is_empty(), in_order(&known)?))
        })
        .await
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
        let (city, component, digest) = (key.city.as_str(), key.component.as_str(), sha256.to_string());
        self.change(async |tx| {
            store_blobs(tx, [(sha256, wasm)]).await?;
            tx.execute(
                "WITH new AS (
                    INSERT INTO civic_versions (city, component, number, sha256, origin, created_by)
                    SELECT $1, $2, COALESCE(max(number), 0) + 1, $3, $4, $5 FROM civic_versions
                    WHERE city = $1 AND component = $2 RETURNING number
                )
                INSERT INTO civic_desired AS d (city, component, number, sha256, previous, manifest_sha256, changed_by)
                SELECT $1, $2, number, $3, NULL, $3, $5 FROM new
                ON CONFLICT (city, component) DO UPDATE SET previous = d.number, number = EXCLUDED.number,
                    sha256 = EXCLUDED.sha256, changed_at = now(), changed_by = EXCLUDED.changed_by,
                    change = nextval('civic_changes')",
                &[&city, &component, &digest, &origin, &host],
            )
            .await?;
            Ok((true, desired_in(tx, key).await?))
        })
        .await
    }

    /// Makes the version before the desired one desired again (and the desired one the one a
    /// further rollback brings back); `None` when there is none.
    pub async fn roll_back(&self, key: &SlotKey, host: &str) -> Result<Option<Desired>, StoreError> {
        let (city, component) = (key.city.as_str(), key.component.as_str());
        self.change(async |tx| {
            let updated = tx
                .execute(
                    "UPDATE civic_desired d SET number = previous, previous = number, changed_at = now(), \
                     changed_by = $3, change = nextval('civic_changes'), sha256 = (SELECT v.sha256 \
                         FROM civic_versions v WHERE v.city = $1 AND v.component = $2 AND v.number = d.previous) \
                     WHERE city = $1 AND component = $2 AND previous IS NOT NULL",
                    &[&city, &component, &host],
                )
                .await?;
            match updated {
                1 => Ok((true, Some(desired_in(tx, key).await?))),
                _ => Ok((false, None)),
            }
        })
        .await
    }

    /// The number of the latest change.
    pub async fn last_change(&self) -> Result<i64, StoreError> {
        self.db
            .run(async {
                let client = self.db.client().await?;
                Ok(client.query_one("SELECT COALESCE(max(change), 0) FROM civic_desired", &[]).await?.get(0))
            })
            .await
    }

    /// The last change committed, and the desired versions changed after change `since` up to
    /// it by a host other than `host` (which applies its own changes as it makes them). Changes
    /// commit in the order of their numbers, so every change up to the last one is read.
    pub async fn desired_since(&self, since: i64, host: &str) -> Result<(i64, Vec<Desired>), StoreError> {
        self.db
            .run(async {
                let client = self.db.client().await?;
                // Prepared once per connection: an idle host's every read is one round trip.
                let last = client.prepare_cached("SELECT COALESCE(max(change), 0) FROM civic_desired").await?;
                let last: i64 = client.query_one(&last, &[]).await?.get(0);
                if last <= since {
                    return Ok((last, Vec::new()));
                }
                let query = format!(
                    "{DESIRED_COLUMNS} {DESIRED_FROM} WHERE d.change > $1 AND d.change <= $2 AND d.changed_by <> $3 \
                     ORDER BY d.change"
                );
                let statement = client.prepare_cached(&query).await?;
                let changed = client.query(&statement, &[&since, &last, &host]).await?;
                Ok((last, changed.iter().map(desired_row).collect::<Result<_, _>>()?))
            })
            .await
    }

    /// At most `limit` desired versions after `after`, in key order, each with the source its
    /// manifest last gave: the whole cluster read a page at a time, by its primary key.
    pub async fn desired_page(
        &self,
        after: Option<&SlotKey>,
        limit: usize,
    ) -> Result<Vec<(Desired, Digest)>, StoreError> {
        let (city, component) = after.map_or(("", ""), |key| (key.city.as_str(), key.component.as_str()));
        let limit = limit as i64;
        self.db
            .run(async {
                let client = self.db.client().await?;
                let query = format!(
                    "{DESIRED_COLUMNS}, d.manifest_sha256 {DESIRED_FROM} WHERE (d.city, d.component) > ($1, $2) \
                     ORDER BY d.city, d.component LIMIT $3"
                );
                let page = client.query(&query, &[&city, &component, &limit]).await?;
                page.iter().map(|row| Ok((desired_row(row)?, digest(row.get(8))?))).collect()
            })
            .await
    }

    /// The desired version of `city`'s `component`, if one is recorded.
    pub async fn desired_of(&self, key: &SlotKey) -> Result<Option<Desired>, StoreError> {
        let (city, component) = (key.city.as_str(), key.component.as_str());
        self.db
            .run(async {
                let client = self.db.client().await?;
                let query = format!("{DESIRED_COLUMNS} {DESIRED_FROM} WHERE d.city = $1 AND d.component = $2");
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
                let query = "SELECT b.wasm FROM civic_versions v JOIN civic_blobs b USING (sha256) \
                     WHERE v.city = $1 AND v.component = $2 AND v.number = $3";
                let row = client.query_opt(query, &[&city, &component, &number]).await?;
                let wasm: Option<Vec<u8>> = row.map(|row| row.get(0));
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

    /// A connection that hears every change.
    pub async fn listen(&self) -> Result<Listener, StoreError> {
        self.db.listen(CHANNEL).await
    }

    /// Runs `change` in one transaction holding the change lock and, when it says it changed
    /// something, announces it; answers what `change` gave.
    async fn change<T>(
        &self,
        change: impl AsyncFnOnce(&Transaction<'_>) -> Result<(bool, T), CallError>,
    ) -> Result<T, StoreError> {
        self.db
            .run(async {
                let mut client = self.db.client().await?;
                let tx = client.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGE_LOCK]).await?;
                let (changed, answer) = change(&tx).await?;
                if changed {
                    tx.execute("SELECT pg_notify($1, 'changed')", &[&CHANNEL]).await?;
                }
                tx.commit().await?;
                Ok(answer)
            })
            .await
    }
}

/// Slots' desired versions, each with the source its manifest last gave.
pub(crate) type Known = std::collections::HashMap<SlotKey, (Desired, Digest)>;

/// The desired version of each slot of `cities` and `components` (pairwise) that has one, and
/// the sha256 its manifest last gave, in one read.
async fn known_sources(client: &impl GenericClient, cities: &[&str], components: &[&str]) -> Result<Known, CallError> {
    let known = client
        .query(
            &format!(
                "{DESIRED_COLUMNS}, d.manifest_sha256 {DESIRED_FROM} \
                 WHERE (d.city, d.component) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
            ),
            &[&cities, &components],
        )
        .await?;
    let mut desired = Known::with_capacity(known.len());
    for row in &known {
        let manifest = digest(row.get(8))?;
        desired.insert(slot_key(row.get(0), row.get(1))?, (desired_row(row)?, manifest));
    }
    Ok(desired)
}

/// Records the slots of `cities` and `components` (pairwise), new to the cluster, as version 1
/// from the manifest with the sha256 of `digests`, desired: by `COPY`, many times faster than
/// inserting rows.
async fn copy_new(
    tx: &Transaction<'_>,
    cities: &[&str],
    components: &[&str],
    digests: &[&str],
    host: &str,
) -> Result<(), CallError> {
    let slots = || cities.iter().zip(components).zip(digests);
    let columns = [Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT];
    let versions = slots().map(|((city, component), digest)| -> [&(dyn ToSql + Sync); 6] {
        [city, component, &1i64, digest, &"manifest", &host]
    });
    copy_in(tx, "civic_versions (city, component, number, sha256, origin, created_by)", &columns, versions).await?;
    let desired = slots().map(|((city, component), digest)| -> [&(dyn ToSql + Sync); 6] {
        [city, component, &1i64, digest, digest, &host]
    });
    let table = "civic_desired (city, component, number, sha256, manifest_sha256, changed_by)";
    copy_in(tx, table, &columns, desired).await
}

/// Copies `rows` into `table` (with its columns named), whose columns are of `types`.
async fn copy_in<'a, const N: usize>(
    tx: &Transaction<'_>,
    table: &str,
    types: &[Type],
    rows: impl Iterator<Item = [&'a (dyn ToSql + Sync); N]>,
) -> Result<(), CallError> {
    let sink = tx.copy_in(&format!("COPY {table} FROM STDIN BINARY")).await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, types));
    for row in rows {
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The elements of `values` at `indexes`.
fn pick<'a>(values: &[&'a str], indexes: &[usize]) -> Vec<&'a str> {
    indexes.iter().map(|&i| values[i]).collect()
}

/// Stores the bytes of each of `blobs` the cluster does not hold yet (each once).
async fn store_blobs<'a>(
    tx: &Transaction<'_>,
    blobs: impl IntoIterator<Item = (Digest, &'a [u8])>,
) -> Result<(), CallError> {
    let mut distinct: std::collections::HashMap<Digest, &[u8]> = blobs.into_iter().collect();
    let digests: Vec<String> = distinct.keys().map(ToString::to_string).collect();
    let held = tx.query("SELECT sha256 FROM civic_blobs WHERE sha256 = ANY($1)", &[&digests]).await?;
    for row in held {
        distinct.remove(&digest(row.get(0))?);
    }
    for (sha256, wasm) in distinct {
        tx.execute(
            "INSERT INTO civic_blobs (sha256, wasm) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            &[&sha256.to_string(), &wasm],
        )
        .await?;
    }
    Ok(())
}

/// The desired version of `key` as `tx` leaves it.
async fn desired_in(tx: &impl GenericClient, key: &SlotKey) -> Result<Desired, CallError> {
    let (city, component) = (key.city.as_str(), key.component.as_str());
    let row = tx
        .query_opt(
            &format!("{DESIRED_COLUMNS} {DESIRED_FROM} WHERE d.city = $1 AND d.component = $2"),
            &[&city, &component],
        )
        .await?;
    row.as_ref().map(desired_row).transpose()?.ok_or_else(|| recorded_none(key))
}

fn recorded_none(key: &SlotKey) -> CallError {
    CallError::Refused(StoreError::Failed(format!("no version of `{}` in `{}` is recorded", key.component, key.city)))
}

pub(super) fn desired_row(row: &Row) -> Result<Desired, CallError> {
    Ok(Desired {
        key: slot_key(row.get(0), row.get(1))?,
        change: row.get(2),
        number: row.get::<_, i64>(3) as u64,
        sha256: digest(row.get(4))?,
        previous: row.get::<_, Option<i64>>(5).map(|n| n as u64),
        changed_at: row.get(6),
        changed_by: row.get(7),
    })
}

/// The key in a row's city and component columns; a row no host could have written is an error
/// of the call, never a panic.
pub(super) fn slot_key(city: String, component: String) -> Result<SlotKey, CallError> {
    SlotKey::of(city, component).map_err(|e| CallError::Refused(StoreError::Failed(format!("state store: {e}"))))
}

/// The digest in a row's sha256 column.
pub(super) fn digest(hex: String) -> Result<Digest, CallError> {
    Digest::try_from(hex).map_err(|e| CallError::Refused(StoreError::Failed(format!("state store: {e}"))))
}
