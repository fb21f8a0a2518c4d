//! The cluster as operators read it (`GET /v1/cluster` and the console's cluster page): every
//! host, when each was last seen, and per city and component (a page of them, as every list of
//! the API) the version the cluster wants and the one each host serves — whether they agree,
//! and since when not. And a component's history of versions.

use super::components::version_view;
use super::page::Query;
use crate::manifest::SlotKey;
use crate::runtime::Runtime;
use crate::state::StoreError;
use crate::state::postgres::ClusterFilter;
use serde::Serialize;
use std::time::SystemTime;

#[derive(Serialize)]
pub struct ClusterView {
    pub clustered: bool,
    /// This host's id in the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Whether the hosts agree on every version, in the whole cluster.
    pub agree: bool,
    /// Components some host does not serve as the cluster wants, in the whole cluster.
    pub disagreeing: usize,
    pub hosts: Vec<HostView>,
    /// One page of components, in `city/component` order.
    pub items: Vec<Agreement>,
    pub next: Option<String>,
    pub total: usize,
}

/// Why the cluster cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{0}")]
    Query(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
pub struct HostView {
    pub id: String,
    pub address: String,
    pub admin: Option<String>,
    pub started: String,
    pub last_seen: String,
    pub seen_seconds_ago: f64,
}

/// One component: the version the cluster wants, and what each host serves.
#[derive(Serialize)]
pub struct Agreement {
    pub city: String,
    pub component: String,
    pub version: u64,
    pub sha256: String,
    pub since: String,
    pub by: String,
    pub agree: bool,
    pub disagreeing_seconds: Option<f64>,
    pub hosts: Vec<Serving>,
    /// Live hosts that have not applied this version's change yet.
    pub pending: Vec<String>,
}

#[derive(Serialize)]
pub struct Serving {
    pub host: String,
    pub version: u64,
    pub sha256: String,
    pub since: String,
    /// Why the host does not serve the version the cluster wants, when it refused it.
    pub refused: Option<String>,
}

pub async fn view(runtime: &Runtime, query: &Query) -> Result<ClusterView, ViewError> {
    let Some(cluster) = runtime.cluster() else {
        let empty = ClusterView {
            clustered: false,
            host: None,
            agree: true,
            disagreeing: 0,
            hosts: vec![],
            items: vec![],
            next: None,
            total: 0,
        };
        return Ok(empty);
    };
    let after = match &query.cursor {
        Some(cursor) => {
            Some(cursor.parse::<SlotKey>().map_err(|_| ViewError::Query("`cursor` is not one this host gave".into()))?)
        }
        None => None,
    };
    let filter = ClusterFilter {
        city: query.city.as_ref().map(|c| c.as_str()),
        component: query.component.as_ref().map(|c| c.as_str()),
        disagreeing: query.troubled,
        after: after.as_ref(),
        limit: query.limit,
    };
    let rows = cluster.rows(&filter).await?;
    let seconds = |earlier: SystemTime| rows.now.duration_since(earlier).unwrap_or_default().as_secs_f64();
    let hosts = rows
        .hosts
        .iter()
        .map(|host| HostView {
            id: host.id.clone(),
            address: host.address.clone(),
            admin: host.admin.clone(),
            started: rfc3339(host.started_at),
            last_seen: rfc3339(host.seen_at),
            seen_seconds_ago: seconds(host.seen_at),
        })
        .collect();
    let items: Vec<Agreement> = rows
        .desired
        .iter()
        .map(|desired| {
            let served: Vec<_> = rows.served.iter().filter(|s| s.key == desired.key).collect();
            let agree = rows.hosts.iter().all(|host| {
                served.iter().any(|s| s.host == host.id && s.number == desired.number && s.refused.is_none())
            });
            Agreement {
                city: desired.key.city.to_string(),
                component: desired.key.component.to_string(),
                version: desired.number,
                sha256: desired.sha256.to_string(),
                since: rfc3339(desired.changed_at),
                by: desired.changed_by.clone(),
                agree,
                disagreeing_seconds: (!agree).then(|| seconds(desired.changed_at)),
                pending: rows
                    .hosts
                    .iter()
                    .filter(|host| !served.iter().any(|s| s.host == host.id))
                    .map(|host| host.id.clone())
                    .collect(),
                hosts: served
                    .iter()
                    .map(|s| Serving {
                        host: s.host.clone(),
                        version: s.number,
                        sha256: s.sha256.to_string(),
                        since: rfc3339(s.since),
                        refused: s.refused.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let next = rows.more.then(|| items.last().map(|last| format!("{}/{}", last.city, last.component))).flatten();
    Ok(ClusterView {
        clustered: true,
        host: Some(cluster.id().to_owned()),
        agree: rows.disagreeing == 0,
        disagreeing: rows.disagreeing,
        hosts,
        items,
        next,
        total: rows.total,
    })
}

pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// One version in a component's history.
#[derive(Serialize)]
pub struct HistoryEntry {
    pub version: u64,
    pub sha256: String,
    /// Where it came from: the manifest's source, `upload`, or a registry reference.
    pub origin: String,
    pub created: String,
    /// The host that recorded it (in a cluster).
    pub by: Option<String>,
    pub serving: bool,
}

#[derive(Serialize)]
pub struct History {
    pub city: String,
    pub component: String,
    /// Newest first.
    pub versions: Vec<HistoryEntry>,
}

/// The versions a component has had, newest first, with who recorded each and when (in a
/// cluster, from its store; on one host, the current and the previous one). `None` for an
/// unknown component.
pub async fn versions(runtime: &Runtime, city: &str, name: &str) -> Result<Option<History>, StoreError> {
    let Some(slot) = runtime.slot(city, name) else { return Ok(None) };
    let serving = slot.current().number;
    let versions = match runtime.cluster() {
        None => [Some(slot.current()), slot.previous()]
            .into_iter()
            .flatten()
            .map(|version| {
                let view = version_view(&version);
                HistoryEntry {
                    version: view.version,
                    sha256: view.sha256,
                    origin: view.source,
                    created: view.loaded_at,
                    by: None,
                    serving: view.version == serving,
                }
            })
            .collect(),
        Some(cluster) => cluster
            .store()
            .history(&slot.key())
            .await?
            .into_iter()
            .map(|v| HistoryEntry {
                version: v.number,
                sha256: v.sha256.to_string(),
                origin: v.origin,
                created: rfc3339(v.created_at),
                by: Some(v.created_by),
                serving: v.number == serving,
            })
            .collect(),
    };
    Ok(Some(History { city: city.to_owned(), component: name.to_owned(), versions }))
}
