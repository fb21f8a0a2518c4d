//! The hosts of a cluster: each says every few seconds that it is alive and up to which change
//! it has applied the cluster's versions, and stores a row for a component only where it serves
//! another version than the desired one (or refused it). From that, what `GET /v1/cluster`
//! shows: which hosts agree on which versions.

use super::CallError;
use super::versions::{DESIRED_COLUMNS, DESIRED_FROM, Desired, VersionStore, desired_row, digest, slot_key};
use crate::manifest::{Digest, SlotKey};
use crate::state::StoreError;
use std::time::{Duration, SystemTime};
use tokio_postgres::types::{ToSql, Type};

/// A host of the cluster, as it last reported itself.
#[derive(Clone)]
pub(crate) struct HostRow {
    pub id: String,
    pub address: String,
    pub admin: Option<String>,
    pub started_at: SystemTime,
    pub seen_at: SystemTime,
    /// The last change the host has applied: it serves every desired version changed up to
    /// it, except those it has a row in `civic_served` for.
    pub seen_change: i64,
}

/// What one host serves of one component. Stored only where that is not the desired version
/// (or it refused it): a host that serves what the cluster wants writes nothing per component.
pub(crate) struct Served {
    pub host: String,
    pub key: SlotKey,
    pub number: u64,
    pub sha256: Digest,
    pub since: SystemTime,
    /// Why the host does not serve the desired version, when it cannot.
    pub refused: Option<String>,
}

/// Which desired versions a page of `GET /v1/cluster` shows: in `city/component` order after
/// `after`, at most `limit`.
pub(crate) struct ClusterFilter<'a> {
    pub city: Option<&'a str>,
    pub component: Option<&'a str>,
    /// Only those some live host does not serve.
    pub disagreeing: bool,
    pub after: Option<&'a SlotKey>,
    pub limit: usize,
}

/// What `GET /v1/cluster` shows, read at the database's `now`: every live host, one page of
/// desired versions and what those hosts serve of them.
pub(crate) struct ClusterRows {
    pub now: SystemTime,
    pub hosts: Vec<HostRow>,
    pub desired: Vec<Desired>,
    pub served: Vec<Served>,
    /// Whether there is a page after this one.
    pub more: bool,
    /// Desired versions that match the filter, on every page.
    pub total: usize,
    /// Desired versions some live host does not serve, in the whole cluster.
    pub disagreeing: usize,
}

/// The slots whose desired version some live host (`$1`, their ids) does not serve: changed
/// after the last change the host has applied (and not reported served since), or served
/// otherwise or refused. Both halves read only what is recent or wrong, by index.
const DISAGREEING: &str = "SELECT d.city, d.component FROM civic_desired d \
     JOIN civic_hosts h ON h.id = ANY($1) AND d.change > h.seen_change \
     WHERE d.change > (SELECT min(seen_change) FROM civic_hosts WHERE id = ANY($1)) AND NOT EXISTS ( \
         SELECT 1 FROM civic_served s WHERE s.host = h.id AND s.city = d.city AND s.component = d.component \
         AND s.number = d.number AND s.refused IS NULL) \
     UNION SELECT s.city, s.component FROM civic_served s JOIN civic_desired d USING (city, component) \
     WHERE s.host = ANY($1) AND (s.number <> d.number OR s.refused IS NOT NULL)";

impl VersionStore {
    /// This host is alive; hosts silent for longer than `forget_after` are forgotten, with what
    /// they served. One statement: an idle host's only regular query besides reading changes.
    pub async fn heartbeat(&self, host: &HostRow, forget_after: Duration) -> Result<(), StoreError> {
        let forget = forget_after.as_secs_f64();
        self.db
            .run(async {
                let client = self.db.client().await?;
                let statement = client
                    .prepare_cached(
                        "WITH alive AS (
                            INSERT INTO civic_hosts (id, address, admin, started_at, seen_at, seen_change)
                            VALUES ($1, $2, $3, $4, now(), $6)
                            ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, admin = EXCLUDED.admin,
                                started_at = EXCLUDED.started_at, seen_at = now(), seen_change = EXCLUDED.seen_change
                        )
                        DELETE FROM civic_hosts WHERE seen_at < now() - make_interval(secs => $5) AND id <> $1",
                    )
                    .await?;
                client
                    .execute(
                        &statement,
                        &[&host.id, &host.address, &host.admin, &host.started_at, &forget, &host.seen_change],
                    )
                    .await?;
                Ok(())
            })
            .await
    }

    /// Forgets `host` at once (it is leaving), with what it served.
    pub async fn forget(&self, host: &HostRow) -> Result<(), StoreError> {
        self.execute("DELETE FROM civic_hosts WHERE id = $1", &[&host.id]).await
    }

    /// What `host` serves of some components where that is not the desired version, and the
    /// components where it now serves the desired one again after all: one statement each.
    pub async fn report(&self, host: &str, otherwise: &[Served], agreeing: &[&SlotKey]) -> Result<(), StoreError> {
        let column = |f: fn(&Served) -> &str| otherwise.iter().map(f).collect::<Vec<&str>>();
        let (cities, components) = (column(|s| s.key.city.as_str()), column(|s| s.key.component.as_str()));
        let numbers: Vec<i64> = otherwise.iter().map(|s| s.number as i64).collect();
        let digests: Vec<String> = otherwise.iter().map(|s| s.sha256.to_string()).collect();
        let since: Vec<SystemTime> = otherwise.iter().map(|s| s.since).collect();
        let refused: Vec<Option<&str>> = otherwise.iter().map(|s| s.refused.as_deref()).collect();
        let agreeing_cities: Vec<&str> = agreeing.iter().map(|k| k.city.as_str()).collect();
        let agreeing_components: Vec<&str> = agreeing.iter().map(|k| k.component.as_str()).collect();
        self.db
            .run(async {
                let client = self.db.client().await?;
                if !otherwise.is_empty() {
                    client
                        .execute(
                            "INSERT INTO civic_served (host, city, component, number, sha256, since, refused) \
                             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], \
                                 $6::timestamptz[], $7::text[]) \
                             ON CONFLICT (host, city, component) DO UPDATE SET number = EXCLUDED.number, \
                             sha256 = EXCLUDED.sha256, since = EXCLUDED.since, refused = EXCLUDED.refused",
                            &[&host, &cities, &components, &numbers, &digests, &since, &refused],
                        )
                        .await?;
                }
                if !agreeing.is_empty() {
                    client
                        .execute(
                            "DELETE FROM civic_served WHERE host = $1 \
                             AND (city, component) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
                            &[&host, &agreeing_cities, &agreeing_components],
                        )
                        .await?;
                }
                Ok(())
            })
            .await
    }

    /// Forgets what `host` reported serving: it starts again.
    pub async fn forget_served(&self, host: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM civic_served WHERE host = $1", &[&host]).await
    }

    /// Runs one statement that answers nothing.
    async fn execute(&self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<(), StoreError> {
        self.db
            .run(async {
                self.db.client().await?.execute(statement, params).await?;
                Ok(())
            })
            .await
    }

    /// The hosts seen within `max_age`, the page of desired versions `filter` asks for, and
    /// what each of those hosts serves of them.
    pub async fn cluster(&self, max_age: Duration, filter: &ClusterFilter<'_>) -> Result<ClusterRows, StoreError> {
        let max_age = max_age.as_secs_f64();
        let (after_city, after_component) = match filter.after {
            Some(key) => (Some(key.city.as_str()), Some(key.component.as_str())),
            None => (None, None),
        };
        let limit = filter.limit as i64 + 1;
        self.db
            .run(async {
                let client = self.db.client().await?;
                let now: SystemTime = client.query_one("SELECT now()", &[]).await?.get(0);
                let hosts = client
                    .query(
                        "SELECT id, address, admin, started_at, seen_at, seen_change FROM civic_hosts \
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
                        seen_change: row.get(5),
                    })
                    .collect::<Vec<_>>();
                let ids: Vec<&str> = hosts.iter().map(|h| h.id.as_str()).collect();
                let only = match filter.disagreeing {
                    true => format!("WHERE (d.city, d.component) IN ({DISAGREEING}) AND"),
                    false => "WHERE".to_owned(),
                };
                let matching = "($2::text IS NULL OR d.city = $2) AND ($3::text IS NULL OR d.component = $3)";
                // Typed, as `$1` is not used when the filter does not ask for agreement.
                let types = [Type::TEXT_ARRAY, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];
                let total = client
                    .prepare_typed_cached(
                        &format!("SELECT count(*) FROM civic_desired d {only} {matching}"),
                        &types[..3],
                    )
                    .await?;
                let total: i64 = client.query_one(&total, &[&ids, &filter.city, &filter.component]).await?.get(0);
                let disagreeing: i64 = client
                    .query_one(&format!("SELECT count(*) FROM ({DISAGREEING}) disagreeing"), &[&ids])
                    .await?
                    .get(0);
                let page = client
                    .prepare_typed_cached(
                        &format!(
                            "{DESIRED_COLUMNS} {DESIRED_FROM} {only} {matching} \
                             AND ($4::text IS NULL OR (d.city, d.component) > ($4, $5)) \
                             ORDER BY d.city, d.component LIMIT $6"
                        ),
                        &types,
                    )
                    .await?;
                let page = client
                    .query(&page, &[&ids, &filter.city, &filter.component, &after_city, &after_component, &limit])
                    .await?;
                let mut desired = page.iter().map(desired_row).collect::<Result<Vec<_>, _>>()?;
                let more = desired.len() > filter.limit;
                desired.truncate(filter.limit);
                let cities: Vec<&str> = desired.iter().map(|d| d.key.city.as_str()).collect();
                let components: Vec<&str> = desired.iter().map(|d| d.key.component.as_str()).collect();
                let served = client
                    .query(
                        "SELECT host, city, component, number, sha256, since, refused FROM civic_served \
                         WHERE host = ANY($1) AND (city, component) IN (SELECT * FROM unnest($2::text[], $3::text[])) \
                         ORDER BY host, city, component",
                        &[&ids, &cities, &components],
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
                    .collect::<Result<Vec<_>, CallError>>()?;
                let served = with_implied(served, &hosts, &desired);
                let (total, disagreeing) = (total as usize, disagreeing as usize);
                Ok(ClusterRows { now, hosts, desired, served, more, total, disagreeing })
            })
            .await
    }
}

/// `stored` and what it implies: a host with no row for a desired version it has seen the
/// change of serves it, since that change or since the host started, whichever is later.
fn with_implied(mut stored: Vec<Served>, hosts: &[HostRow], desired: &[Desired]) -> Vec<Served> {
    let explicit: std::collections::HashSet<(&str, &SlotKey)> =
        stored.iter().map(|s| (s.host.as_str(), &s.key)).collect();
    let mut implied = Vec::new();
    for d in desired {
        for host in hosts.iter().filter(|h| h.seen_change >= d.change && !explicit.contains(&(h.id.as_str(), &d.key))) {
            implied.push(Served {
                host: host.id.clone(),
                key: d.key.clone(),
                number: d.number,
                sha256: d.sha256,
                since: d.changed_at.max(host.started_at),
                refused: None,
            });
        }
    }
    stored.extend(implied);
    stored.sort_by(|a, b| (&a.host, &a.key).cmp(&(&b.host, &b.key)));
    stored
}
