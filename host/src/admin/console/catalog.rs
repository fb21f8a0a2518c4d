//! The catalogue as the console shows it: the services in the registries the host was given
//! (`--catalog`), one per repository with the metadata of its newest tag, each tag a version a
//! city can adopt, and which of this host's cities serve each version now (by the component's
//! sha256, however it got there: a file, an upload or the registry).

use crate::http::Routes;
use crate::manifest::Digest;
use crate::registry::{CatalogScope, DESCRIPTION, Entry, LICENSES, Registry, SOURCE, TITLE, VENDOR, VERSION};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long one registry may take to list its services before the page shows it as unreachable.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Catalog {
    pub services: Vec<Service>,
    /// Registries that could not be listed, and why.
    pub problems: Vec<String>,
}

pub struct Service {
    /// `HOST[:PORT]/REPOSITORY`.
    pub repository: String,
    pub title: String,
    pub description: Option<String>,
    pub licenses: Option<String>,
    pub vendor: Option<String>,
    pub source: Option<String>,
    /// The `civic:*` contracts it serves other components, and those it needs.
    pub serves: Vec<String>,
    pub needs: Vec<String>,
    /// Whether it answers HTTP requests (can be routed).
    pub http: bool,
    /// Its tags, newest version first.
    pub offers: Vec<Offer>,
}

pub struct Offer {
    pub tag: String,
    /// Pinned to its digest: what a manifest or a swap names.
    pub reference: String,
    pub version: Option<String>,
    pub sha256: String,
    pub exports: Vec<String>,
    /// `(city, component)` pairs serving exactly this version now, in order.
    pub used_by: Vec<(String, String)>,
}

impl Offer {
    /// How many cities serve it.
    pub fn cities(&self) -> usize {
        self.used_by.iter().map(|(city, _)| city).collect::<BTreeSet<_>>().len()
    }
}

impl Service {
    /// How many cities serve one of its versions.
    pub fn cities(&self) -> usize {
        self.offers.iter().flat_map(|o| o.used_by.iter().map(|(city, _)| city)).collect::<BTreeSet<_>>().len()
    }
}

/// Lists every scope, and what `routes` serve of it.
pub async fn load(registry: &Registry, scopes: &[CatalogScope], routes: &Routes) -> Catalog {
    let mut services: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut problems = Vec::new();
    for scope in scopes {
        match tokio::time::timeout(TIMEOUT, registry.catalog(scope)).await {
            Ok(Ok(found)) => {
                for entry in found.entries {
                    let repository = format!("{}/{}", entry.reference.registry(), entry.reference.repository());
                    services.entry(repository).or_default().push(entry);
                }
                problems.extend(found.problems);
            }
            Ok(Err(e)) => problems.push(e.to_string()),
            Err(_) => problems.push(format!("`{scope}` did not answer within {} s", TIMEOUT.as_secs())),
        }
    }
    let serving: Vec<(Digest, String, String)> = routes
        .cities()
        .iter()
        .flat_map(|city| {
            city.slots.values().map(|slot| (slot.current().prepared.digest, city.name.clone(), slot.name().to_string()))
        })
        .collect();
    let services = services
        .into_iter()
        .map(|(repository, mut entries)| {
            let version = |e: &Entry| e.annotations.get(VERSION).and_then(|v| semver::Version::parse(v).ok());
            entries.sort_by(|a, b| version(b).cmp(&version(a)).then_with(|| b.reference.tag().cmp(&a.reference.tag())));
            let newest = &entries[0];
            let annotation = |key: &str| newest.annotations.get(key).cloned();
            let contracts = |interfaces: &[String]| {
                interfaces.iter().filter(|i| !i.starts_with("wasi:")).cloned().collect::<Vec<_>>()
            };
            Service {
                title: annotation(TITLE).unwrap_or_else(|| newest.reference.repository().to_owned()),
                description: annotation(DESCRIPTION),
                licenses: annotation(LICENSES),
                vendor: annotation(VENDOR),
                source: annotation(SOURCE),
                serves: contracts(&newest.exports),
                needs: contracts(&newest.imports),
                http: newest.exports.iter().any(|e| e.starts_with("wasi:http/incoming-handler")),
                repository,
                offers: entries
                    .iter()
                    .map(|entry| Offer {
                        tag: entry.reference.tag().unwrap_or_default().to_owned(),
                        reference: entry.reference.to_string(),
                        version: entry.annotations.get(VERSION).cloned(),
                        sha256: entry.sha256.to_string(),
                        exports: entry.exports.clone(),
                        used_by: serving
                            .iter()
                            .filter(|(sha256, ..)| *sha256 == entry.sha256)
                            .map(|(_, city, component)| (city.clone(), component.clone()))
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    Catalog { services, problems }
}

/// The offers that could stand in for a component exporting `exports`: each of its interfaces
/// is among theirs, at any version (the swap's own checks judge the version).
pub fn fitting<'a>(catalog: &'a Catalog, exports: &[String]) -> Vec<&'a Offer> {
    let unversioned = |name: &str| name.split('@').next().unwrap_or(name).to_owned();
    catalog
        .services
        .iter()
        .flat_map(|service| &service.offers)
        .filter(|offer| {
            let offered: Vec<_> = offer.exports.iter().map(|e| unversioned(e)).collect();
            exports.iter().all(|export| offered.contains(&unversioned(export)))
        })
        .collect()
}
