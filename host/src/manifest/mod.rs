//! City manifests: parsing, validation and resolution into [`CitySpec`]s.
//!
//! Loading goes in three steps, each of which reports every error it finds with its
//! `file:line:column`:
//! 1. [`parse`] reads each file: `manifest_version` first, then the strict schema of that version.
//! 2. Checks inside one manifest (routes name known components, no duplicate route) and across
//!    manifests (city ids and hosts are unique).
//! 3. [`resolve`] reads every component file once, checks `sha256` pins, and produces the specs
//!    the runtime loads.
//!
//! A command line may name directories: [`discover`] turns them into the manifests inside.
//! `civic up` runs [`parse`], builds the plugin crates the manifests name, then [`resolve`].

mod diagnostic;
mod discover;
mod id;
mod reference;
mod schema;
mod source;

pub use diagnostic::Diagnostics;
pub(crate) use diagnostic::{Diagnostic, Location, SourceFile};
pub use discover::{Stamp, discover, discover_stamped};
pub(crate) use id::{BucketName, CityId, ComponentName, Contract, HostName, Origin, RoutePath, SlotKey};
pub(crate) use reference::{OciReference, is_loopback};
pub(crate) use source::Source;
pub use source::{Digest, Fetch, Sources, WasmFile};

use crate::limits::LimitOverrides;
use schema::{Checked, ComponentV1, ManifestV1, Versioned};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, LazyLock};
use toml::Spanned;

/// The only manifest version this Civic reads.
pub const MANIFEST_VERSION: i64 = 1;

/// The paths under which the host answers for itself (probes); no route may claim them.
pub(crate) const HOST_PATHS: &str = "/.well-known/civic";

/// [`HOST_PATHS`] as the prefix that matches them.
pub(crate) static HOST_ROUTE: LazyLock<RoutePath> = LazyLock::new(|| {
    RoutePath::try_from(HOST_PATHS.to_owned()).expect("the constant `/.well-known/civic` is a valid route path")
});

/// A city, resolved: everything the runtime needs to serve it.
#[derive(Clone, Debug)]
pub struct CitySpec {
    pub(crate) id: CityId,
    pub(crate) name: String,
    pub(crate) hosts: Vec<HostName>,
    /// In name order.
    pub(crate) components: Vec<ComponentSpec>,
    /// In manifest order.
    pub(crate) routes: Vec<RouteSpec>,
}

/// A component of a city, resolved.
#[derive(Clone, Debug)]
pub(crate) struct ComponentSpec {
    pub name: ComponentName,
    /// Its bytes, shared with every other city that uses the same file.
    pub wasm: Arc<WasmFile>,
    pub config: BTreeMap<String, String>,
    pub keyvalue: Vec<BucketName>,
    pub limits: LimitOverrides,
    pub files: Vec<DirectoryGrant>,
    pub env: BTreeMap<String, String>,
    pub outbound: Vec<Origin>,
    pub health: Option<RoutePath>,
    pub links: BTreeMap<Contract, Link>,
    /// Its `source` in the manifest, for errors found when it is compiled or linked.
    pub at: Location,
}

/// A `links` entry: the component that serves a contract, and where the manifest says so.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub component: ComponentName,
    pub at: Location,
}

/// A host directory a component sees, resolved and known to exist at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirectoryGrant {
    /// The absolute path the guest opens it by.
    pub guest: String,
    pub host: PathBuf,
    pub writable: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct RouteSpec {
    pub path: RoutePath,
    pub component: ComponentName,
}

/// What a manifest claims that no other may: its city's id and hosts. Small beside the parsed
/// manifest, so a host keeps it for every manifest and checks a changed one against the rest.
#[derive(Clone, Debug)]
pub struct Claims {
    file: Arc<SourceFile>,
    id: CityId,
    id_span: Range<usize>,
    /// The valid ones; `no_hosts` when the manifest lists none at all.
    hosts: Vec<(HostName, Range<usize>)>,
    no_hosts: bool,
}

impl Claims {
    /// The text of the manifest they were taken from.
    pub fn text(&self) -> &str {
        &self.file.text
    }

    fn at(&self, span: &Range<usize>) -> Location {
        Location { file: self.file.clone(), span: span.clone() }
    }
}

/// A parsed and checked manifest whose sources are not read yet.
pub struct Parsed {
    file: Arc<SourceFile>,
    /// The file's stamp from just before it was read: a later change has another.
    stamp: Option<Stamp>,
    manifest: ManifestV1,
}

impl Parsed {
    /// The manifest's path, as given.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The file's stamp when it was read.
    pub fn stamp(&self) -> Option<Stamp> {
        self.stamp
    }

    /// The manifest's text.
    pub fn text(&self) -> &str {
        &self.file.text
    }

    /// Where a span of this manifest is.
    fn at<T>(&self, value: &Spanned<T>) -> Location {
        Location { file: self.file.clone(), span: value.span() }
    }

    /// What it claims that no other manifest may.
    pub fn claims(&self) -> Claims {
        let city = &self.manifest.city;
        Claims {
            file: self.file.clone(),
            id: city.id.get_ref().clone(),
            id_span: city.id.span(),
            hosts: self.valid(&city.hosts).map(|(host, at)| (host.clone(), at.span)).collect(),
            no_hosts: city.hosts.is_empty(),
        }
    }

    /// The valid elements of an array with their locations; `check_manifest` reported the others.
    fn valid<'a, T>(&'a self, elements: &'a [Spanned<Checked<T>>]) -> impl Iterator<Item = (&'a T, Location)> + 'a {
        elements.iter().filter_map(|element| element.get_ref().0.as_ref().ok().map(|value| (value, self.at(element))))
    }

    /// The `source` of every component, resolved against the manifest's directory (those that
    /// do not resolve were reported when it was parsed).
    pub(crate) fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        self.manifest.components.values().filter_map(|c| Source::resolve(&self.file.path, c.source.get_ref()).ok())
    }

    /// The registry references among the sources, for the caller to fetch before [`resolve`].
    pub fn registry_sources(&self) -> impl Iterator<Item = OciReference> + '_ {
        self.sources().filter_map(|source| match source {
            Source::Registry(reference) => Some(reference),
            _ => None,
        })
    }
}

/// Reads and checks the manifests `args` name (files, or directories of them); every error in
/// every file is reported, not just the first.
pub fn parse(args: &[PathBuf]) -> Result<Vec<Parsed>, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut parsed = Vec::new();
    for (path, stamp) in discover_stamped(args)? {
        match read(&path).map_err(Diagnostics::from).and_then(|text| parse_one(&path, stamp, text)) {
            Ok(manifest) => parsed.push(manifest),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    let claims: Vec<Claims> = parsed.iter().map(Parsed::claims).collect();
    if let Err(errors) = check_cities(&claims.iter().collect::<Vec<_>>()) {
        diagnostics.extend(errors);
    }
    diagnostics.into_result(parsed)
}

/// The text of the manifest at `path`.
pub(crate) fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| Diagnostic::file(path, format!("cannot read manifest: {e}")))
}

/// Checks one manifest, `text` read from `path` whose stamp was `stamp` just before (see
/// [`discover_stamped`]); what needs the others is [`check_cities`].
pub fn parse_one(path: &Path, stamp: Option<Stamp>, text: String) -> Result<Parsed, Diagnostics> {
    let parsed = parse_text(path, stamp, text)?;
    let mut diagnostics = Diagnostics::default();
    check_manifest(&parsed, &mut diagnostics);
    diagnostics.into_result(parsed)
}

/// Reads every component's bytes, checks pins, and yields the specs the runtime loads.
pub fn resolve(parsed: &[Parsed], sources: &mut Sources) -> Result<Vec<CitySpec>, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut cities = Vec::new();
    for manifest in parsed {
        match resolve_one(manifest, sources) {
            Ok(city) => cities.push(city),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    diagnostics.into_result(cities)
}

/// [`resolve`] for one manifest.
pub fn resolve_one(manifest: &Parsed, sources: &mut Sources) -> Result<CitySpec, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    {
        let m = &manifest.manifest;
        let mut components = Vec::new();
        for (name, component) in &m.components {
            let files = resolve_files(manifest, component, &mut diagnostics);
            match resolve_component(manifest, component, sources) {
                Ok(wasm) => components.push(ComponentSpec {
                    name: name.get_ref().clone(),
                    wasm,
                    config: component.config.iter().map(|(k, v)| (k.clone(), v.get_ref().0.clone())).collect(),
                    keyvalue: manifest.valid(&component.keyvalue).map(|(b, _)| b.clone()).collect(),
                    limits: LimitOverrides {
                        memory: component.limits.memory,
                        timeout: component.limits.timeout,
                        max_concurrency: component.limits.max_concurrency.as_ref().map(|n| *n.get_ref()),
                        max_body: component.limits.max_body,
                        queue: component.limits.queue,
                        queue_length: component.limits.queue_length,
                    },
                    files,
                    env: component.env.clone(),
                    outbound: manifest.valid(&component.outbound).map(|(o, _)| o.clone()).collect(),
                    health: component.health.clone(),
                    links: component
                        .links
                        .iter()
                        .filter_map(|(key, target)| {
                            let contract = Contract::try_from(key.get_ref().clone()).ok()?;
                            Some((contract, Link { component: target.get_ref().clone(), at: manifest.at(target) }))
                        })
                        .collect(),
                    at: manifest.at(&component.source),
                }),
                Err(diagnostic) => diagnostics.push(diagnostic),
            }
        }
        let city = CitySpec {
            id: m.city.id.get_ref().clone(),
            name: m.city.name.clone(),
            hosts: manifest.valid(&m.city.hosts).map(|(h, _)| h.clone()).collect(),
            components,
            routes: m
                .routes
                .iter()
                .map(|r| RouteSpec { path: r.path.get_ref().clone(), component: r.component.get_ref().clone() })
                .collect(),
        };
        diagnostics.into_result(city)
    }
}

/// [`parse`] then [`resolve`], for callers that build nothing in between.
pub fn load(args: &[PathBuf], sources: &mut Sources) -> Result<Vec<CitySpec>, Diagnostics> {
    resolve(&parse(args)?, sources)
}

fn parse_text(path: &Path, stamp: Option<Stamp>, text: String) -> Result<Parsed, Diagnostic> {
    let file = Arc::new(SourceFile { path: path.to_path_buf(), text });
    let toml_error = |e: toml::de::Error| {
        let span = e.span().unwrap_or(0..0);
        Diagnostic::at(Location { file: file.clone(), span }, e.message().trim_end().to_owned())
    };

    let versioned: Versioned = toml::from_str(&file.text).map_err(toml_error)?;
    match versioned.manifest_version {
        None => {
            return Err(Diagnostic::at(Location { file: file.clone(), span: 0..0 }, "missing `manifest_version`")
                .note(format!("add `manifest_version = {MANIFEST_VERSION}` at the top of the manifest")));
        }
        Some(version) if version.get_ref().as_integer() != Some(MANIFEST_VERSION) => {
            let span = version.span();
            return Err(Diagnostic::at(
                Location { file: file.clone(), span },
                format!("unsupported manifest_version `{}`", version.get_ref()),
            )
            .note(format!("this civic reads manifest_version = {MANIFEST_VERSION}")));
        }
        Some(_) => {}
    }
    let manifest = toml::from_str(&file.text).map_err(toml_error)?;
    Ok(Parsed { file, stamp, manifest })
}

/// Checks that need the whole manifest: routes point at components; no route, host or bucket
/// is listed twice.
fn check_manifest(parsed: &Parsed, diagnostics: &mut Diagnostics) {
    let m = &parsed.manifest;
    check_unique(m.routes.iter().map(|r| (r.path.get_ref(), parsed.at(&r.path))), "route", diagnostics);
    for route in m.routes.iter().filter(|r| HOST_ROUTE.matches(r.path.get_ref().as_str())) {
        let message =
            format!("route `{}` is under `{HOST_PATHS}`, where the host answers itself", route.path.get_ref());
        let note = "the host's probes live there: `/.well-known/civic/health` and `/.well-known/civic/ready`";
        diagnostics.push(Diagnostic::at(parsed.at(&route.path), message).note(note));
    }
    check_elements(parsed, &m.city.hosts, diagnostics);
    check_unique(parsed.valid(&m.city.hosts), "host", diagnostics);
    for component in m.components.values() {
        if let Err(message) = Source::resolve(&parsed.file.path, component.source.get_ref()) {
            diagnostics.push(Diagnostic::at(parsed.at(&component.source), message));
        }
        if let Some(zero) = component.limits.max_concurrency.as_ref().filter(|n| *n.get_ref() == 0) {
            diagnostics.push(Diagnostic::at(parsed.at(zero), "`max_concurrency` must be at least 1"));
        }
        check_elements(parsed, &component.keyvalue, diagnostics);
        check_unique(parsed.valid(&component.keyvalue), "bucket", diagnostics);
        check_elements(parsed, &component.outbound, diagnostics);
        check_unique(parsed.valid(&component.outbound), "outbound origin", diagnostics);
        for guest in component.files.keys() {
            let path = Path::new(guest.get_ref());
            let plain = path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
            if !path.is_absolute() || !plain {
                let message = format!("invalid guest path `{}` in `files`", guest.get_ref());
                let note = "a guest path is absolute, like `/templates`, without `.` or `..`";
                diagnostics.push(Diagnostic::at(parsed.at(guest), message).note(note));
            }
        }
    }
    check_links(parsed, diagnostics);
    for route in &m.routes {
        let component = route.component.get_ref();
        if !m.components.keys().any(|name| name.get_ref() == component) {
            let known = m.components.keys().map(|k| format!("`{}`", k.get_ref())).collect::<Vec<_>>();
            let note = if known.is_empty() {
                "this manifest defines no `[components.*]`".to_owned()
            } else {
                format!("the components are {}", known.join(", "))
            };
            diagnostics.push(
                Diagnostic::at(
                    parsed.at(&route.component),
                    format!("route `{}` names unknown component `{component}`", route.path.get_ref()),
                )
                .note(note),
            );
        }
    }
}

/// Every `links` key is a contract, every target a component of the city, and no chain of links
/// comes back to where it started.
fn check_links(parsed: &Parsed, diagnostics: &mut Diagnostics) {
    let components = &parsed.manifest.components;
    for (name, component) in components {
        for (key, target) in &component.links {
            if let Err(message) = Contract::try_from(key.get_ref().clone()) {
                diagnostics.push(Diagnostic::at(parsed.at(key), message));
            }
            if !components.keys().any(|n| n.get_ref() == target.get_ref()) {
                let known = components.keys().map(|k| format!("`{}`", k.get_ref())).collect::<Vec<_>>();
                diagnostics.push(
                    Diagnostic::at(
                        parsed.at(target),
                        format!(
                            "`{}` links `{}` to unknown component `{}`",
                            name.get_ref(),
                            key.get_ref(),
                            target.get_ref()
                        ),
                    )
                    .note(format!("the components are {}", known.join(", "))),
                );
            }
        }
    }
    // Depth-first from each component; a link back onto the current path closes a cycle, which
    // is reported once, at that link.
    let targets = |name: &ComponentName| {
        components.iter().find(|(n, _)| n.get_ref() == name).into_iter().flat_map(|(_, c)| c.links.values())
    };
    let mut reported: Vec<Vec<ComponentName>> = Vec::new();
    for start in components.keys() {
        let mut path = vec![start.get_ref().clone()];
        let mut stack = vec![targets(start.get_ref()).collect::<Vec<_>>()];
        while let Some(next) = stack.last_mut() {
            let Some(target) = next.pop() else {
                stack.pop();
                path.pop();
                continue;
            };
            let target_name = target.get_ref();
            if let Some(from) = path.iter().position(|n| n == target_name) {
                let mut cycle = path[from..].to_vec();
                cycle.sort();
                if !reported.contains(&cycle) {
                    reported.push(cycle);
                    let trail: Vec<_> = path[from..].iter().chain([target_name]).map(|n| format!("`{n}`")).collect();
                    diagnostics.push(
                        Diagnostic::at(parsed.at(target), format!("link cycle: {}", trail.join(" → ")))
                            .note("a component cannot reach itself through links"),
                    );
                }
            } else if path.len() <= components.len() {
                path.push(target_name.clone());
                stack.push(targets(target_name).collect());
            }
        }
    }
}

/// Reports each invalid element of an array at its own place.
fn check_elements<T>(parsed: &Parsed, elements: &[Spanned<Checked<T>>], diagnostics: &mut Diagnostics) {
    for element in elements {
        if let Err(message) = &element.get_ref().0 {
            diagnostics.push(Diagnostic::at(parsed.at(element), message.clone()));
        }
    }
}

/// Reports each value listed again, pointing at its first listing.
fn check_unique<'a, T: Eq + Hash + fmt::Display + 'a>(
    values: impl IntoIterator<Item = (&'a T, Location)>,
    what: &str,
    diagnostics: &mut Diagnostics,
) {
    let mut seen: HashMap<&T, Location> = HashMap::new();
    for (value, at) in values {
        match seen.entry(value) {
            Entry::Occupied(first) => diagnostics.push(
                Diagnostic::at(at, format!("duplicate {what} `{value}`"))
                    .note(format!("first listed at {}", first.get())),
            ),
            Entry::Vacant(slot) => {
                slot.insert(at);
            }
        }
    }
}

/// Checks across manifests: each city once, each host claimed by one city, and every city
/// reachable when several share the listener. Hash lookups only: cheap for 100,000 manifests.
pub fn check_cities(claims: &[&Claims]) -> Result<(), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut ids: HashMap<&CityId, Location> = HashMap::new();
    let mut hosts: HashMap<&HostName, (Location, &CityId)> = HashMap::new();
    for claim in claims {
        let id = &claim.id;
        if let Some(first) = ids.get(id) {
            diagnostics.push(
                Diagnostic::at(claim.at(&claim.id_span), format!("city `{id}` is loaded twice"))
                    .note(format!("first loaded from {first}")),
            );
            continue;
        }
        ids.insert(id, claim.at(&claim.id_span));
        for (host, span) in &claim.hosts {
            match hosts.get(host) {
                Some((first, owner)) if *owner != id => diagnostics.push(
                    Diagnostic::at(claim.at(span), format!("host `{host}` is already claimed by city `{owner}`"))
                        .note(format!("claimed at {first}")),
                ),
                Some(_) => {}
                None => {
                    hosts.insert(host, (claim.at(span), id));
                }
            }
        }
        if claims.len() > 1 && claim.no_hosts {
            diagnostics.push(
                Diagnostic::at(
                    claim.at(&claim.id_span),
                    format!("city `{id}` has no `hosts`, but {} cities share this host", claims.len()),
                )
                .note("the `Host` header picks the city: add `hosts = [\"…\"]` to `[city]`"),
            );
        }
    }
    diagnostics.into_result(())
}

/// The `files` of a component, each an existing directory; the others are reported.
fn resolve_files(parsed: &Parsed, component: &ComponentV1, diagnostics: &mut Diagnostics) -> Vec<DirectoryGrant> {
    let base = parsed.file.path.parent().unwrap_or(Path::new("."));
    let mut grants = Vec::new();
    for (guest, directory) in &component.files {
        let (path, writable) = directory.get_ref().parts();
        let host = base.join(path);
        if host.is_dir() {
            grants.push(DirectoryGrant { guest: guest.get_ref().clone(), host, writable });
        } else {
            diagnostics.push(
                Diagnostic::at(parsed.at(directory), format!("`{path}` in `files` is not a directory"))
                    .note(format!("looked for `{}`", host.display())),
            );
        }
    }
    grants
}

fn resolve_component(
    parsed: &Parsed,
    component: &ComponentV1,
    sources: &mut Sources,
) -> Result<Arc<WasmFile>, Diagnostic> {
    let at = parsed.at(&component.source);
    let source =
        Source::resolve(&parsed.file.path, component.source.get_ref()).map_err(|e| Diagnostic::at(at.clone(), e))?;
    let wasm = sources.wasm(&source).map_err(|e| Diagnostic::at(at, format!("{e:#}")))?;
    if let Some(pin) = &component.sha256 {
        let expected = pin.get_ref();
        if *expected != wasm.digest {
            return Err(Diagnostic::at(
                parsed.at(pin),
                format!("sha256 mismatch for `{}`", component.source.get_ref()),
            )
            .note(format!("the manifest pins {expected}"))
            .note(format!("the file hashes to {}", wasm.digest)));
        }
    }
    Ok(wasm)
}
