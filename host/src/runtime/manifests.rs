//! The manifests a host serves, and what it last loaded of them, so that loading them again
//! costs what changed: a file whose stamp is the same is not read, one whose bytes are the same
//! (a ConfigMap update relinks every file) is not parsed, and a city is resolved again only when
//! its manifest or one of its components changed. What crosses manifests (unique ids and hosts)
//! is checked over all of them, by hash lookups.

use crate::manifest::{
    self, CityId, CitySpec, Claims, Diagnostics, Fetch, OciReference, Parsed, Sources, Stamp, WasmFile,
};
use crate::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

/// The manifests a host serves, as its command line names them (files, or directories of
/// them), and what finds their sources when they are not plain files.
pub struct Manifests {
    pub(super) args: Vec<PathBuf>,
    registry: Option<Arc<Registry>>,
    /// What was last loaded. Held for the whole of a reload, so reloads happen one at a time.
    loaded: tokio::sync::Mutex<Loaded>,
}

/// The manifests as last loaded, and the component files read for them.
#[derive(Clone, Default)]
pub(super) struct Loaded {
    /// Shared with the loads after, which keep most of them.
    files: HashMap<PathBuf, Arc<Entry>>,
    sources: Sources,
}

#[derive(Clone)]
struct Entry {
    /// The file's stamp when its bytes were last compared.
    stamp: Option<Stamp>,
    /// Its text and what it claims. Not its parsed tree, which is many times larger: a city
    /// resolved again (a component it runs changed) is parsed again from this text.
    claims: Claims,
    /// Its registry sources, fetched again at each load (a tag may have moved).
    references: Vec<OciReference>,
    city: Arc<CitySpec>,
}

impl Entry {
    fn resolve(
        parsed: &Parsed,
        claims: Claims,
        stamp: Option<Stamp>,
        sources: &mut Sources,
    ) -> Result<Self, Diagnostics> {
        let city = Arc::new(manifest::resolve_one(parsed, sources)?);
        Ok(Entry { stamp, claims, references: parsed.registry_sources().collect(), city })
    }
}

/// The manifest files the command line names, each with its stamp from just before.
pub(super) type Scan = Vec<(PathBuf, Option<Stamp>)>;

/// A manifest found by a scan: the same as was loaded, or parsed again.
enum Scanned {
    Kept(Arc<Entry>),
    Parsed(Box<Parsed>, Claims),
}

impl Scanned {
    fn claims(&self) -> &Claims {
        match self {
            Scanned::Kept(entry) => &entry.claims,
            Scanned::Parsed(_, claims) => claims,
        }
    }
}

/// The manifests as they are now, against what was loaded: not in effect until
/// [`Manifests::commit`]ted, so a rejected reload leaves nothing half-remembered.
pub(crate) struct Update {
    loaded: Loaded,
    /// Every city, in manifest order.
    pub cities: Vec<Arc<CitySpec>>,
    /// The cities whose manifest or components changed: only these need planning.
    pub changed: HashSet<CityId>,
    /// Manifests parsed and checked again: those whose bytes changed.
    pub parsed: usize,
}

impl Manifests {
    pub fn new(args: Vec<PathBuf>, fetch: Option<Arc<dyn Fetch>>, registry: Option<Arc<Registry>>) -> Self {
        let sources = fetch.map(Sources::new).unwrap_or_default();
        let loaded = tokio::sync::Mutex::new(Loaded { files: HashMap::new(), sources });
        Self { args, registry, loaded }
    }

    /// Reads, checks and resolves them all, and remembers them.
    pub async fn load(&self) -> Result<Vec<Arc<CitySpec>>, Diagnostics> {
        self.load_given(Vec::new()).await
    }

    /// Resolves `parsed`, read from them already (`civic up` builds their crates in between),
    /// and remembers them.
    pub async fn resolve(&self, parsed: Vec<Parsed>) -> Result<Vec<Arc<CitySpec>>, Diagnostics> {
        self.load_given(parsed).await
    }

    async fn load_given(&self, given: Vec<Parsed>) -> Result<Vec<Arc<CitySpec>>, Diagnostics> {
        let mut loaded = self.loaded.lock().await;
        let nothing = Loaded { files: HashMap::new(), sources: loaded.sources.clone() };
        let update = self.update(&nothing, given, None).await?;
        let cities = update.cities.clone();
        Self::commit(&mut loaded, update);
        Ok(cities)
    }

    /// What was last loaded, locked until the guard drops: hold it from [`Manifests::update`]
    /// to [`Manifests::commit`].
    pub(super) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().await
    }

    /// Makes `update` what was last loaded.
    pub(super) fn commit(loaded: &mut Loaded, update: Update) {
        *loaded = update.loaded;
    }

    /// The manifest files as they are now, if anything `before` was loaded from looks changed:
    /// a manifest's stamp, the list of manifests, or a component file's stamp. Reads no file.
    /// An error (a directory gone) is a change, which the reload reports.
    pub(super) fn scan_if_changed(&self, before: &Loaded) -> Result<Option<Scan>, Diagnostics> {
        let now = manifest::discover_stamped(&self.args)?;
        let changed = now.len() != before.files.len()
            || now
                .iter()
                .any(|(path, stamp)| before.files.get(path).is_none_or(|e| e.stamp != *stamp || stamp.is_none()))
            || before.sources.any_stale();
        Ok(changed.then_some(now))
    }

    /// The manifests as they are now, against `before`: those `scan` found (or a scan now
    /// finds), or `given`, parsed already.
    pub(super) async fn update(
        &self,
        before: &Loaded,
        given: Vec<Parsed>,
        scan: Option<Scan>,
    ) -> Result<Update, Diagnostics> {
        let mut diagnostics = Diagnostics::default();
        let scan = match scan {
            _ if !given.is_empty() => given.iter().map(|p| (p.path().to_path_buf(), p.stamp())).collect(),
            Some(scan) => scan,
            None => manifest::discover_stamped(&self.args)?,
        };
        let mut given: HashMap<PathBuf, Parsed> = given.into_iter().map(|p| (p.path().to_path_buf(), p)).collect();

        // Each manifest: kept as it was, or parsed again because its bytes changed.
        let mut manifests: Vec<(PathBuf, Option<Stamp>, Scanned)> = Vec::new();
        let mut parsed_again = 0;
        for (path, stamp) in scan {
            let known = before.files.get(&path);
            if let Some(entry) = known.filter(|entry| stamp.is_some() && entry.stamp == stamp) {
                manifests.push((path, stamp, Scanned::Kept(entry.clone())));
                continue;
            }
            let parsed = match (given.remove(&path), known) {
                (Some(parsed), _) => Ok(parsed),
                (None, known) => match manifest::read(&path) {
                    // Relinked, rewritten with the same bytes: the same manifest.
                    Ok(text) if let Some(entry) = known.filter(|entry| entry.claims.text() == text) => {
                        manifests.push((path, stamp, Scanned::Kept(Arc::new(Entry { stamp, ..(**entry).clone() }))));
                        continue;
                    }
                    Ok(text) => manifest::parse_one(&path, stamp, text),
                    Err(diagnostic) => Err(diagnostic.into()),
                },
            };
            parsed_again += 1;
            match parsed {
                Ok(parsed) => {
                    let claims = parsed.claims();
                    manifests.push((path, stamp, Scanned::Parsed(Box::new(parsed), claims)));
                }
                Err(errors) => diagnostics.extend(errors),
            }
        }
        let all: Vec<&Claims> = manifests.iter().map(|(_, _, scanned)| scanned.claims()).collect();
        if let Err(errors) = manifest::check_cities(&all) {
            diagnostics.extend(errors);
        }
        diagnostics.into_result(())?;

        let mut sources = before.sources.clone();
        let mut stale = sources.stale();
        let references = manifests.iter().flat_map(|(_, _, scanned)| match scanned {
            Scanned::Kept(entry) => entry.references.clone(),
            Scanned::Parsed(parsed, _) => parsed.registry_sources().collect(),
        });
        stale.extend(self.fetch_registry(references.collect(), &mut sources).await);

        let mut diagnostics = Diagnostics::default();
        let mut files = HashMap::with_capacity(manifests.len());
        let mut cities = Vec::with_capacity(manifests.len());
        let mut changed = HashSet::new();
        for (path, stamp, scanned) in manifests {
            let entry = match scanned {
                Scanned::Kept(entry) if !uses_any(&entry.city, &stale) => entry,
                scanned => {
                    let (parsed, claims) = match scanned {
                        Scanned::Kept(entry) => {
                            parsed_again += 1;
                            let claims = entry.claims.clone();
                            (manifest::parse_one(&path, stamp, claims.text().to_owned()), claims)
                        }
                        Scanned::Parsed(parsed, claims) => (Ok(*parsed), claims),
                    };
                    match parsed.and_then(|parsed| Entry::resolve(&parsed, claims, stamp, &mut sources)) {
                        Ok(entry) => {
                            changed.insert(entry.city.id.clone());
                            Arc::new(entry)
                        }
                        Err(errors) => {
                            diagnostics.extend(errors);
                            continue;
                        }
                    }
                }
            };
            cities.push(entry.city.clone());
            files.insert(path, entry);
        }
        diagnostics.into_result(())?;
        Ok(Update { loaded: Loaded { files, sources }, cities, changed, parsed: parsed_again })
    }

    /// Fetches each of `references` once; the components they gave before, where they now
    /// give another (a moved tag) or nothing.
    async fn fetch_registry(&self, references: HashSet<OciReference>, sources: &mut Sources) -> Vec<Arc<WasmFile>> {
        let Some(registry) = &self.registry else { return Vec::new() };
        let mut replaced = Vec::new();
        for reference in references {
            let fetched = registry.fetch(&reference).await.map_err(|e| e.to_string());
            replaced.extend(sources.fetched(reference, fetched));
        }
        replaced
    }
}

/// Whether `city` runs any of `files`.
fn uses_any(city: &CitySpec, files: &[Arc<WasmFile>]) -> bool {
    !files.is_empty() && city.components.iter().any(|c| files.iter().any(|f| Arc::ptr_eq(&c.wasm, f)))
}
