//! `GET /v1/cluster`: every host of the cluster, when each was last seen, and per city and
//! component the version the cluster wants and the one each host serves — whether they agree, and
//! since when not.

use crate::runtime::Runtime;
use crate::state::StoreError;
use serde_json::{Value, json};
use std::time::SystemTime;

pub async fn view(runtime: &Runtime) -> Result<Value, StoreError> {
    let Some(cluster) = runtime.cluster() else {
        return Ok(json!({ "clustered": false, "agree": true, "hosts": [], "components": [] }));
    };
    let rows = cluster.rows().await?;
    let seconds = |earlier: SystemTime| rows.now.duration_since(earlier).unwrap_or_default().as_secs_f64();
    let hosts: Vec<Value> = rows
        .hosts
        .iter()
        .map(|host| {
            json!({
                "id": host.id,
                "address": host.address,
                "admin": host.admin,
                "started": rfc3339(host.started_at),
                "last_seen": rfc3339(host.seen_at),
                "seen_seconds_ago": seconds(host.seen_at),
            })
        })
        .collect();
    let components: Vec<Value> = rows
        .desired
        .iter()
        .map(|desired| {
            let served: Vec<_> =
                rows.served.iter().filter(|s| s.city == desired.city && s.component == desired.component).collect();
            let agree = rows.hosts.iter().all(|host| {
                served.iter().any(|s| s.host == host.id && s.number == desired.number && s.refused.is_none())
            });
            let hosts: Vec<Value> = served
                .iter()
                .map(|s| {
                    json!({
                        "host": s.host,
                        "version": s.number,
                        "sha256": s.sha256,
                        "since": rfc3339(s.since),
                        "refused": s.refused,
                    })
                })
                .collect();
            json!({
                "city": desired.city,
                "component": desired.component,
                "version": desired.number,
                "sha256": desired.sha256,
                "since": rfc3339(desired.changed_at),
                "by": desired.changed_by,
                "agree": agree,
                "disagreeing_seconds": (!agree).then(|| seconds(desired.changed_at)),
                "hosts": hosts,
            })
        })
        .collect();
    let agree = components.iter().all(|c| c["agree"] == true);
    Ok(json!({ "clustered": true, "host": cluster.id(), "agree": agree, "hosts": hosts, "components": components }))
}

pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `GET /v1/cities/{city}/components/{name}/versions`: the versions a component has had, newest
/// first, with who recorded each and when (in a cluster, from its store; on one host, the
/// current and the previous one). `None` for an unknown component.
pub async fn versions(runtime: &Runtime, city: &str, name: &str) -> Result<Option<Value>, StoreError> {
    let Some(slot) = runtime.slot(city, name) else { return Ok(None) };
    let serving = slot.current().number;
    let Some(cluster) = runtime.cluster() else {
        let local = [Some(slot.current()), slot.previous()];
        let versions: Vec<Value> = local
            .into_iter()
            .flatten()
            .map(|v| {
                json!({
                    "version": v.number,
                    "sha256": v.prepared.digest.to_string(),
                    "origin": v.prepared.source.display().to_string(),
                    "created": rfc3339(v.since),
                    "by": null,
                    "serving": v.number == serving,
                })
            })
            .collect();
        return Ok(Some(json!({ "city": city, "component": name, "versions": versions })));
    };
    let history = cluster.store().history(city, name).await?;
    let versions: Vec<Value> = history
        .iter()
        .map(|v| {
            json!({
                "version": v.number,
                "sha256": v.sha256,
                "origin": v.origin,
                "created": rfc3339(v.created_at),
                "by": v.created_by,
                "serving": v.number == serving,
            })
        })
        .collect();
    Ok(Some(json!({ "city": city, "component": name, "versions": versions })))
}
