//! Components distributed through OCI registries: pulling a component (digest-verified, from the
//! data dir's cache when it is there), publishing one in the Wasm artifact layout ([`artifact`]),
//! and listing a registry's services with their metadata without downloading them (the
//! catalogue).
//!
//! A registry is hostile input like any other: every body is read up to a bound
//! ([`distribution`]), a pull has one deadline, a catalogue has a bounded number of pages, and
//! every name a registry answers is parsed into a reference before it is used. Registries are
//! reached over HTTPS; plain HTTP only for one on this machine (loopback) or one named with
//! `--insecure-registry`. Who the host is to each: [`auth`].

mod artifact;
mod auth;
mod cache;
mod distribution;

pub(crate) use artifact::{DESCRIPTION, LICENSES, SOURCE, TITLE, VENDOR, VERSION};
pub use auth::Credentials;

use crate::manifest::{Digest, OciReference, WasmFile};
use artifact::{CONFIG, Config, LAYER, MANIFEST, OLDER_LAYERS};
use base64::Engine as _;
use bytesize::ByteSize;
use cache::Cache;
use distribution::{Distribution, MAX_DOCUMENT, ReadError};
use http::{HeaderValue, StatusCode};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long a registry may take to accept a connection, and to send the next bytes.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Repositories asked for per catalogue page, and the most pages read.
const PAGE: usize = 100;
const MAX_PAGES: usize = 100;

/// What bounds manifests, configs, tag lists and catalogue pages, in errors.
const DOCUMENTS: &str = "registry documents";

/// The most services one catalogue lists.
const MAX_ENTRIES: usize = 10_000;

/// What one registry may make the host do.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest component pulled, as declared and as sent.
    pub max_component: u64,
    /// How long one pull may take, from the first request to the last byte.
    pub timeout: Duration,
}

/// Why a component could not be had from a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry for `{0}`: {1}")]
    Unreachable(Box<OciReference>, String),
    #[error("`{reference}`: {}", reference.missing())]
    NotFound { reference: Box<OciReference> },
    #[error("`{reference}`: the registry has no repository `{}`", reference.repository())]
    NoRepository { reference: Box<OciReference> },
    #[error(
        "the registry refused `{0}`: {1} (credentials: the Docker config file, or CIVIC_REGISTRY_USERNAME and CIVIC_REGISTRY_PASSWORD)"
    )]
    Unauthorized(Box<OciReference>, String),
    #[error("`{reference}` has the digest {}, not the {} it names", actual.oci(), expected.oci())]
    DigestMismatch { reference: Box<OciReference>, expected: Digest, actual: Digest },
    #[error("`{0}` is not a Wasm component: {1}")]
    NotWasm(Box<OciReference>, String),
    #[error("`{0}` has {1} layers; a Wasm component artifact has one")]
    Layers(Box<OciReference>, usize),
    #[error("`{reference}`: its {what} is larger than {}, the limit of {bound}", ByteSize(*limit))]
    TooLarge { reference: Box<OciReference>, what: &'static str, limit: u64, bound: &'static str },
    #[error("`{reference}`: the registry did not finish within {} s (--registry-timeout)", after.as_secs())]
    TimedOut { reference: Box<OciReference>, after: Duration },
    #[error("the registry failed for `{0}`: {1}")]
    Other(Box<OciReference>, String),
}

/// What a catalogue lists: a registry's repositories, or those under a prefix
/// (`HOST[:PORT][/PREFIX]`, with or without `oci://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogScope {
    /// Stands for the registry in errors and is what it authenticates for.
    any: OciReference,
    prefix: String,
}

impl CatalogScope {
    pub fn registry(&self) -> &str {
        self.any.registry()
    }
}

impl std::str::FromStr for CatalogScope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.strip_prefix("oci://").unwrap_or(text).trim_end_matches('/');
        let (registry, prefix) = text.split_once('/').unwrap_or((text, ""));
        let registry = registry.to_ascii_lowercase();
        let any = OciReference::of_parts(&registry, "catalog", "any").map_err(|_| {
            format!(
                "`{text}` is not a registry: expected `HOST[:PORT]` or `HOST[:PORT]/PREFIX`, the host with a dot or \
                 a port, or `localhost`"
            )
        })?;
        if !prefix.is_empty() && OciReference::of_parts(&registry, prefix, "any").is_err() {
            return Err(format!("`{prefix}` is not a repository prefix: lower-case names joined by `/`"));
        }
        Ok(Self { any, prefix: prefix.to_owned() })
    }
}

impl std::fmt::Display for CatalogScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => f.write_str(self.registry()),
            prefix => write!(f, "{}/{prefix}", self.registry()),
        }
    }
}

/// What a catalogue found: its services, and what it left out and why.
pub struct Catalog {
    pub entries: Vec<Entry>,
    /// Names that are not references, repositories that could not be listed, paging cut short;
    /// in the registry's words, which may hold anything (escape them before a terminal).
    pub problems: Vec<String>,
}

/// One service of a catalogue: a tag of a repository, with what its artifact says of it.
pub struct Entry {
    /// Pinned to its manifest's digest.
    pub reference: OciReference,
    /// The digest of its component (its layer), as the host names a version.
    pub sha256: Digest,
    /// `org.opencontainers.image.*` annotations.
    pub annotations: BTreeMap<String, String>,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

/// The registries a host reaches.
pub struct Registry {
    credentials: Credentials,
    /// Registries reached over plain HTTP although they are not this machine.
    insecure: Vec<String>,
    cache: Option<Cache>,
    limits: Limits,
    /// Reads with bounded bodies, for every registry.
    distribution: Distribution,
    /// The OCI client per registry, for its token challenge and for pushes.
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Registry {
    /// Reaches registries as `credentials` say, `insecure` ones over plain HTTP, within
    /// `limits`, keeping what it pulls under `cache_dir` when there is one.
    pub fn new(credentials: Credentials, insecure: Vec<String>, cache_dir: Option<&Path>, limits: Limits) -> Self {
        // The TLS of the registry clients, as of PostgreSQL's connections: ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            credentials,
            insecure,
            cache: cache_dir.map(Cache::new),
            limits,
            distribution: Distribution::new(TIMEOUT, limits.timeout),
            clients: Mutex::default(),
        }
    }

    /// The component at `reference`, verified against every digest on the way, within the pull
    /// deadline: from the cache when a digest pins it and it is there; else from the registry. A
    /// tag the registry cannot be asked about falls back to the digest it last resolved to, with
    /// a warning.
    pub async fn fetch(&self, reference: &OciReference) -> Result<WasmFile, RegistryError> {
        let after = self.limits.timeout;
        tokio::time::timeout(after, self.fetch_now(reference))
            .await
            .unwrap_or_else(|_| Err(RegistryError::TimedOut { reference: reference.clone().into(), after }))
    }

    async fn fetch_now(&self, reference: &OciReference) -> Result<WasmFile, RegistryError> {
        let repository = Repository::new(self, reference);
        let (pinned, manifest) = match reference.digest() {
            Some(digest) => (reference.clone(), repository.manifest(digest).await?),
            None => match repository.tagged_manifest(reference).await {
                Ok(found) => found,
                Err(RegistryError::Unreachable(_, cause)) => {
                    let known = self.cache.as_ref().and_then(|cache| cache.tag(reference));
                    let Some(digest) = known else {
                        return Err(RegistryError::Unreachable(reference.clone().into(), cause));
                    };
                    tracing::warn!(%reference, digest = %digest.oci(), "cannot reach the registry ({cause}); using the digest the tag last resolved to");
                    (reference.pinned(digest), repository.manifest(digest).await?)
                }
                Err(e) => return Err(e),
            },
        };
        // The same repository, its reads authorised already, named by its digest from now on.
        let repository = Repository { reference: &pinned, ..repository };
        let layer = wasm_layer(&pinned, &manifest)?;
        let bytes = repository.blob(layer, "component", self.limits.max_component, "--max-component-size").await?;
        if !wasmparser::Parser::is_component(&bytes) {
            let why = "its layer is not a WebAssembly component".into();
            return Err(RegistryError::NotWasm(pinned.into(), why));
        }
        Ok(WasmFile::from_bytes(PathBuf::from(pinned.to_string()), bytes))
    }

    /// Publishes the component `bytes` (from `file_name`) at `reference` (tagged), with
    /// `annotations` over its own metadata; the reference pinned to the pushed manifest.
    pub async fn push(
        &self,
        bytes: &[u8],
        file_name: &str,
        reference: &OciReference,
        annotations: &BTreeMap<String, String>,
    ) -> Result<OciReference, RegistryError> {
        let other = |e: anyhow::Error| RegistryError::NotWasm(reference.clone().into(), format!("{e:#}"));
        if !wasmparser::Parser::is_component(bytes) {
            return Err(other(anyhow::anyhow!("`{file_name}` is not a WebAssembly component")));
        }
        let described = artifact::describe(bytes, file_name, annotations).map_err(other)?;
        let layer_digest = Digest::of(bytes).oci();
        let (config, manifest) = artifact::manifest(&described, &layer_digest, bytes.len());
        let manifest = serde_json::to_vec(&manifest).map_err(|e| other(e.into()))?;
        let client = self.client(reference.registry());
        let target = reference.oci();
        let auth = self.credentials.for_registry(reference.registry());
        let failed = |e| failure(reference, e);
        client.auth(target, &auth, RegistryOperation::Push).await.map_err(failed)?;
        client.push_blob(target, bytes.to_vec(), &layer_digest).await.map_err(failed)?;
        client.push_blob(target, config.clone(), &Digest::of(&config).oci()).await.map_err(failed)?;
        let content_type = HeaderValue::from_static(MANIFEST);
        client.push_manifest_raw(target, manifest.clone(), content_type).await.map_err(failed)?;
        Ok(reference.pinned(Digest::of(&manifest)))
    }

    /// Every tag of every repository of the scope's registry under its prefix, with the metadata
    /// and interfaces its manifest and config give (no component is downloaded). What the
    /// registry answers that is not a reference, and repositories that fail, are left out and
    /// said why; paging ends at a short page, a `last` that does not advance, or
    /// [`MAX_PAGES`].
    pub async fn catalog(&self, scope: &CatalogScope) -> Result<Catalog, RegistryError> {
        let any = Repository::new(self, &scope.any);
        let mut problems = Vec::new();
        // By name: sorted, and once however often the registry lists it.
        let mut repositories = BTreeMap::new();
        let mut last: Option<String> = None;
        for page in 1.. {
            if page > MAX_PAGES {
                problems.push(format!("`{scope}`: the catalogue was read up to {MAX_PAGES} pages"));
                break;
            }
            let url = match &last {
                None => format!("{}_catalog?n={PAGE}", any.base()),
                Some(last) => {
                    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
                    format!("{}_catalog?n={PAGE}&last={last}", any.base())
                }
            };
            let page: CatalogPage = any.document(&url, None).await?;
            let names = page.repositories.unwrap_or_default();
            let full = names.len() >= PAGE;
            let next = names.last().cloned();
            for name in names {
                match OciReference::of_parts(scope.registry(), &name, "any") {
                    Ok(of) if name.starts_with(&scope.prefix) => {
                        repositories.insert(name, of);
                    }
                    Ok(_) => {}
                    Err(_) => problems.push(format!("`{scope}` lists {name:?}, which is not a repository name")),
                }
            }
            // Registries list repositories in lexical order: a page that does not move past
            // the last one is a registry repeating itself.
            if !full || next.is_none() || next <= last {
                break;
            }
            last = next;
        }
        let mut entries = Vec::new();
        for (name, of) in repositories {
            let repository = Repository::new(self, &of);
            let url = format!("{}{name}/tags/list", repository.base());
            let tags = match repository.document::<TagList>(&url, None).await {
                Ok(list) => list.tags.unwrap_or_default(),
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            for tag in tags {
                if entries.len() >= MAX_ENTRIES {
                    problems.push(format!("`{scope}`: the catalogue lists its first {MAX_ENTRIES} services"));
                    return Ok(Catalog { entries, problems });
                }
                let Ok(tagged) = of.tagged(&tag) else {
                    problems.push(format!("`{of}` has the tag {tag:?}, which is not a tag"));
                    continue;
                };
                match repository.entry(&tagged).await {
                    Ok(Some(entry)) => entries.push(entry),
                    // Not every artifact of a registry is a component: the catalogue lists the ones that are.
                    Ok(None) => {}
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        Ok(Catalog { entries, problems })
    }

    /// The OCI client for `registry` (`HOST[:PORT]`), over HTTP or HTTPS as it may be reached.
    fn client(&self, registry: &str) -> Arc<Client> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let client = clients.entry(registry.to_owned()).or_insert_with(|| {
            let protocol = if self.plain(registry) { ClientProtocol::Http } else { ClientProtocol::Https };
            let config = ClientConfig {
                protocol,
                connect_timeout: Some(TIMEOUT),
                read_timeout: Some(TIMEOUT),
                ..Default::default()
            };
            Arc::new(Client::new(config))
        });
        client.clone()
    }

    /// Whether `registry` is reached over plain HTTP.
    fn plain(&self, registry: &str) -> bool {
        crate::manifest::is_loopback(registry) || self.insecure.iter().any(|insecure| insecure == registry)
    }
}

/// The reads of one repository, authenticated when the first read needs it (a pull the cache
/// serves whole never asks the registry).
struct Repository<'a> {
    registry: &'a Registry,
    reference: &'a OciReference,
    authorization: OnceCell<Option<HeaderValue>>,
}

impl<'a> Repository<'a> {
    fn new(registry: &'a Registry, reference: &'a OciReference) -> Self {
        Self { registry, reference, authorization: OnceCell::new() }
    }

    /// `http[s]://HOST[:PORT]/v2/`: never another registry than the reference names.
    fn base(&self) -> String {
        let scheme = if self.registry.plain(self.reference.registry()) { "http" } else { "https" };
        format!("{scheme}://{}/v2/", self.reference.oci().resolve_registry())
    }

    /// The `Authorization` for this repository's reads: a bearer token from the realm the
    /// registry's own challenge names (the OCI client answers it, with this registry's
    /// credentials), else this registry's credentials as Basic, else none.
    async fn authorization(&self) -> Result<Option<&HeaderValue>, RegistryError> {
        let value = self
            .authorization
            .get_or_try_init(|| async {
                let registry = self.reference.registry();
                let auth = self.registry.credentials.for_registry(registry);
                let client = self.registry.client(registry);
                let token = client
                    .auth(self.reference.oci(), &auth, RegistryOperation::Pull)
                    .await
                    .map_err(|e| failure(self.reference, e))?;
                let value = match (token, auth) {
                    (Some(token), _) => format!("Bearer {token}"),
                    (None, RegistryAuth::Basic(user, password)) => {
                        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                        format!("Basic {pair}")
                    }
                    (None, _) => return Ok(None),
                };
                let unusable = |_| {
                    let why = "its token is not an HTTP header value".to_owned();
                    RegistryError::Unauthorized(self.reference.clone().into(), why)
                };
                HeaderValue::from_str(&value).map(Some).map_err(unusable)
            })
            .await?;
        Ok(value.as_ref())
    }

    /// `GET url`, its body at most `max` bytes.
    async fn get(
        &self,
        url: &str,
        accept: Option<&'static str>,
        max: u64,
        what: &'static str,
        bound: &'static str,
    ) -> Result<distribution::Body, RegistryError> {
        let authorization = self.authorization().await?;
        self.registry.distribution.get(url, authorization, accept, max).await.map_err(|e| {
            let reference = Box::new(self.reference.clone());
            match e {
                ReadError::Unreachable(cause) => RegistryError::Unreachable(reference, cause),
                ReadError::Status { status, .. }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN =>
                {
                    RegistryError::Unauthorized(reference, format!("{status}"))
                }
                ReadError::Status { codes, .. } if codes.iter().any(|c| c == "NAME_UNKNOWN") => {
                    RegistryError::NoRepository { reference }
                }
                ReadError::Status { status: StatusCode::NOT_FOUND, .. } => RegistryError::NotFound { reference },
                ReadError::Status { codes, .. } if codes.iter().any(|c| c == "MANIFEST_UNKNOWN") => {
                    RegistryError::NotFound { reference }
                }
                ReadError::Status { status, message, .. } => {
                    RegistryError::Other(reference, format!("{status}: {message}"))
                }
                ReadError::TooLarge => RegistryError::TooLarge { reference, what, limit: max, bound },
                ReadError::Broken(cause) => RegistryError::Other(reference, cause),
            }
        })
    }

    /// The JSON document at `url` (a catalogue page, a tag list), at most [`MAX_DOCUMENT`].
    async fn document<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        accept: Option<&'static str>,
    ) -> Result<T, RegistryError> {
        let body = self.get(url, accept, MAX_DOCUMENT, "answer", DOCUMENTS).await?;
        serde_json::from_slice(&body.bytes).map_err(|e| {
            let why = format!("its answer to `{url}` is not what the distribution API sends: {e}");
            RegistryError::Other(self.reference.clone().into(), why)
        })
    }

    /// The manifest the reference's tag points at now, with the reference pinned to it;
    /// remembered for when the registry is away.
    async fn tagged_manifest(&self, tagged: &OciReference) -> Result<(OciReference, OciImageManifest), RegistryError> {
        let tag = tagged.tag().unwrap_or("latest");
        let url = format!("{}{}/manifests/{tag}", self.base(), tagged.repository());
        let body = self.get(&url, Some(MANIFEST), MAX_DOCUMENT, "manifest", DOCUMENTS).await?;
        let digest = Digest::of(&body.bytes);
        // The registry's word for the digest, when it gives one, must be the bytes' own.
        if let Some(said) = body.digest.as_deref().and_then(|d| Digest::from_oci(d).ok())
            && said != digest
        {
            return Err(RegistryError::DigestMismatch {
                reference: tagged.clone().into(),
                expected: said,
                actual: digest,
            });
        }
        let pinned = tagged.pinned(digest);
        if let Some(cache) = &self.registry.cache {
            cache.keep(digest, &body.bytes);
            cache.remember(tagged, digest);
        }
        let manifest = parse_manifest(&pinned, &body.bytes)?;
        Ok((pinned, manifest))
    }

    /// The manifest with `digest`, from the cache or the registry, checked against it.
    async fn manifest(&self, digest: Digest) -> Result<OciImageManifest, RegistryError> {
        let bytes = match self.registry.cache.as_ref().and_then(|cache| cache.blob(digest)) {
            Some(bytes) => bytes,
            None => {
                let url = format!("{}{}/manifests/{}", self.base(), self.reference.repository(), digest.oci());
                let bytes = self.get(&url, Some(MANIFEST), MAX_DOCUMENT, "manifest", DOCUMENTS).await?.bytes;
                self.verified(digest, bytes)?
            }
        };
        parse_manifest(self.reference, &bytes)
    }

    /// The blob `descriptor` names, from the cache or the registry: at most `max` bytes (and
    /// never more than it declares), checked against its digest.
    async fn blob(
        &self,
        descriptor: &OciDescriptor,
        what: &'static str,
        max: u64,
        bound: &'static str,
    ) -> Result<Vec<u8>, RegistryError> {
        let reference = || Box::new(self.reference.clone());
        let digest = Digest::from_oci(&descriptor.digest)
            .map_err(|e| RegistryError::NotWasm(reference(), format!("its {what}'s digest: {e}")))?;
        if let Some(bytes) = self.registry.cache.as_ref().and_then(|cache| cache.blob(digest)) {
            return Ok(bytes);
        }
        let declared = u64::try_from(descriptor.size).unwrap_or(u64::MAX);
        if declared > max {
            return Err(RegistryError::TooLarge { reference: reference(), what, limit: max, bound });
        }
        let url = format!("{}{}/blobs/{}", self.base(), self.reference.repository(), digest.oci());
        let bytes = self.get(&url, None, declared, what, bound).await?.bytes;
        self.verified(digest, bytes)
    }

    /// `bytes`, when their digest is `digest`; kept in the cache.
    fn verified(&self, digest: Digest, bytes: Vec<u8>) -> Result<Vec<u8>, RegistryError> {
        let actual = Digest::of(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                reference: self.reference.clone().into(),
                expected: digest,
                actual,
            });
        }
        if let Some(cache) = &self.registry.cache {
            cache.keep(digest, &bytes);
        }
        Ok(bytes)
    }

    /// The catalogue entry for `tagged`, when it holds a component.
    async fn entry(&self, tagged: &OciReference) -> Result<Option<Entry>, RegistryError> {
        let (pinned, manifest) = self.tagged_manifest(tagged).await?;
        let Ok(layer) = wasm_layer(&pinned, &manifest) else { return Ok(None) };
        let sha256 = Digest::from_oci(&layer.digest)
            .map_err(|e| RegistryError::NotWasm(pinned.clone().into(), format!("its layer's digest: {e}")))?;
        let config = self.blob(&manifest.config, "config", MAX_DOCUMENT, DOCUMENTS).await?;
        let interfaces = serde_json::from_slice::<Config>(&config).map(|c| c.component).unwrap_or_default();
        Ok(Some(Entry {
            reference: pinned,
            sha256,
            annotations: manifest.annotations.unwrap_or_default(),
            exports: interfaces.exports,
            imports: interfaces.imports,
        }))
    }
}

/// The image manifest in `bytes`.
fn parse_manifest(pinned: &OciReference, bytes: &[u8]) -> Result<OciImageManifest, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| {
        RegistryError::NotWasm(pinned.clone().into(), format!("its manifest is not an OCI image manifest: {e}"))
    })
}

/// The one layer that holds a component, or why there is none.
fn wasm_layer<'a>(pinned: &OciReference, manifest: &'a OciImageManifest) -> Result<&'a OciDescriptor, RegistryError> {
    let [layer] = manifest.layers.as_slice() else {
        return Err(RegistryError::Layers(pinned.clone().into(), manifest.layers.len()));
    };
    let current = layer.media_type == LAYER && manifest.config.media_type == CONFIG;
    if !current && !OLDER_LAYERS.contains(&layer.media_type.as_str()) {
        let why =
            format!("its layer is `{}` (config `{}`), not `{LAYER}`", layer.media_type, manifest.config.media_type);
        return Err(RegistryError::NotWasm(pinned.clone().into(), why));
    }
    Ok(layer)
}

/// The OCI client's error (its token challenge, a push), told apart by what a caller can do.
fn failure(reference: &OciReference, error: OciDistributionError) -> RegistryError {
    let reference = Box::new(reference.clone());
    match error {
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            RegistryError::Unreachable(reference, e.to_string())
        }
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            RegistryError::Unauthorized(reference, error.to_string())
        }
        OciDistributionError::ServerError { code: 401 | 403, .. } => {
            RegistryError::Unauthorized(reference, error.to_string())
        }
        other => RegistryError::Other(reference, other.to_string()),
    }
}
