//! Components distributed through OCI registries, on the `oci-client` crate: pulling a
//! component (digest-verified, from the data dir's cache when it is there), publishing one in the
//! Wasm artifact layout ([`artifact`]), and listing a registry's services with their metadata
//! without downloading them (the catalogue).
//!
//! Registries are reached over HTTPS; plain HTTP only for one on this machine (loopback) or one
//! named with `--insecure-registry`. Who the host is to each: [`auth`].

mod artifact;
mod auth;
mod cache;

pub(crate) use artifact::{DESCRIPTION, LICENSES, SOURCE, TITLE, VENDOR, VERSION};
pub use auth::Credentials;

use crate::manifest::{OciReference, WasmFile};
use artifact::{CONFIG, Config, LAYER, MANIFEST, OLDER_LAYERS};
use cache::{Cache, sha256};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a registry may take to accept a connection and to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a component could not be had from a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry for `{0}`: {1}")]
    Unreachable(Box<OciReference>, String),
    #[error("`{reference}`: {}", reference.missing())]
    NotFound { reference: Box<OciReference> },
    #[error("`{reference}`: the registry has no repository `{}`", reference.repository)]
    NoRepository { reference: Box<OciReference> },
    #[error(
        "the registry refused `{0}`: {1} (credentials: the Docker config file, or CIVIC_REGISTRY_USERNAME and CIVIC_REGISTRY_PASSWORD)"
    )]
    Unauthorized(Box<OciReference>, String),
    #[error("`{reference}` has the digest {actual}, not the {expected} it names")]
    DigestMismatch { reference: Box<OciReference>, expected: String, actual: String },
    #[error("`{0}` is not a Wasm component: {1}")]
    NotWasm(Box<OciReference>, String),
    #[error("`{0}` has {1} layers; a Wasm component artifact has one")]
    Layers(Box<OciReference>, usize),
    #[error("the registry failed for `{0}`: {1}")]
    Other(Box<OciReference>, String),
}

/// What a catalogue lists: a registry's repositories, or those under a prefix
/// (`HOST[:PORT][/PREFIX]`, with or without `oci://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogScope {
    pub registry: String,
    pub prefix: String,
}

impl std::str::FromStr for CatalogScope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.strip_prefix("oci://").unwrap_or(text).trim_end_matches('/');
        let (registry, prefix) = text.split_once('/').unwrap_or((text, ""));
        if registry.is_empty() || registry.contains(['@', ' ']) {
            return Err(format!("`{text}` is not a registry: expected `HOST[:PORT]` or `HOST[:PORT]/PREFIX`"));
        }
        Ok(Self { registry: registry.to_ascii_lowercase(), prefix: prefix.to_owned() })
    }
}

impl std::fmt::Display for CatalogScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => f.write_str(&self.registry),
            prefix => write!(f, "{}/{prefix}", self.registry),
        }
    }
}

/// One service of a catalogue: a tag of a repository, with what its artifact says of it.
pub struct Entry {
    /// Pinned to its manifest's digest.
    pub reference: OciReference,
    /// The sha256 of its component (its layer), as the host names a version.
    pub sha256: String,
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
    /// One client per registry: each with its protocol and its credentials.
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

impl Registry {
    /// Reaches registries as `credentials` say, `insecure` ones over plain HTTP, keeping what it
    /// pulls under `cache_dir` when there is one.
    pub fn new(credentials: Credentials, insecure: Vec<String>, cache_dir: Option<&Path>) -> Self {
        // The TLS of the OCI client, as of PostgreSQL's connections: ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self { credentials, insecure, cache: cache_dir.map(Cache::new), clients: Mutex::default() }
    }

    /// The component at `reference`, verified against every digest on the way: from the cache
    /// when a digest pins it and it is there; else from the registry. A tag the registry cannot
    /// be asked about falls back to the digest it last resolved to, with a warning.
    pub async fn fetch(&self, reference: &OciReference) -> Result<WasmFile, RegistryError> {
        let digest = match &reference.digest {
            Some(digest) => digest.clone(),
            None => match self.resolve_tag(reference).await {
                Ok(digest) => digest,
                Err(RegistryError::Unreachable(_, cause)) => {
                    let known = self.cache.as_ref().and_then(|cache| cache.tag(&reference.to_string()));
                    let Some(digest) = known else {
                        return Err(RegistryError::Unreachable(reference.clone().into(), cause));
                    };
                    tracing::warn!(%reference, %digest, "cannot reach the registry ({cause}); using the digest the tag last resolved to");
                    digest
                }
                Err(e) => return Err(e),
            },
        };
        let pinned = reference.pinned(&digest);
        let manifest = self.manifest(&pinned).await?;
        let layer = wasm_layer(&pinned, &manifest)?;
        let bytes = self.blob(&pinned, &layer.digest).await?;
        if !wasmparser::Parser::is_component(&bytes) {
            return Err(RegistryError::NotWasm(pinned.into(), "its layer is not a WebAssembly component".into()));
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
        let layer_digest = sha256(bytes);
        let (config, manifest) = artifact::manifest(&described, &layer_digest, bytes.len());
        let manifest = serde_json::to_vec(&manifest).expect("a manifest serialises");
        let (client, target) = self.client(reference, RegistryOperation::Push).await?;
        let failed = |e| failure(reference, e);
        client.push_blob(&target, bytes.to_vec(), &layer_digest).await.map_err(failed)?;
        client.push_blob(&target, config.clone(), &sha256(&config)).await.map_err(failed)?;
        let content_type = MANIFEST.parse().expect("a header value");
        client.push_manifest_raw(&target, manifest.clone(), content_type).await.map_err(failed)?;
        Ok(reference.pinned(&sha256(&manifest)))
    }

    /// Every tag of every repository of `registry` whose name starts with `prefix`, with the
    /// metadata and interfaces its manifest and config give (no component is downloaded).
    pub async fn catalog(&self, scope: &CatalogScope) -> Result<Vec<Entry>, RegistryError> {
        let (registry, prefix) = (scope.registry.as_str(), scope.prefix.as_str());
        let any = OciReference {
            registry: registry.to_owned(),
            repository: "catalog".into(),
            tag: Some("any".into()),
            digest: None,
        };
        let (client, target) = self.client(&any, RegistryOperation::Pull).await?;
        let auth = self.credentials.for_registry(registry);
        let mut repositories = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page =
                client.catalog(&target, &auth, Some(100), last.as_deref()).await.map_err(|e| failure(&any, e))?;
            let done = page.repositories.len() < 100;
            last = page.repositories.last().cloned();
            repositories.extend(page.repositories.into_iter().filter(|r| r.starts_with(prefix)));
            if done || last.is_none() {
                break;
            }
        }
        let mut entries = Vec::new();
        for repository in repositories {
            let of = OciReference { repository: repository.clone(), ..any.clone() };
            let tags = client.list_tags(&reference(&of), &auth, None, None).await.map_err(|e| failure(&of, e))?;
            for tag in tags.tags {
                let tagged = OciReference { tag: Some(tag), ..of.clone() };
                let digest = self.resolve_tag(&tagged).await?;
                let pinned = tagged.pinned(&digest);
                let manifest = self.manifest(&pinned).await?;
                // Not every artifact of a registry is a component: the catalogue lists the ones that are.
                let Ok(layer) = wasm_layer(&pinned, &manifest) else { continue };
                let sha256 = layer.digest.strip_prefix("sha256:").unwrap_or(&layer.digest).to_owned();
                let config = self.blob(&pinned, &manifest.config.digest).await?;
                let interfaces = serde_json::from_slice::<Config>(&config).map(|c| c.component).unwrap_or_default();
                entries.push(Entry {
                    reference: pinned,
                    sha256,
                    annotations: manifest.annotations.clone().unwrap_or_default(),
                    exports: interfaces.exports,
                    imports: interfaces.imports,
                });
            }
        }
        Ok(entries)
    }

    /// The digest `reference`'s tag points at now, remembered for when the registry is away.
    async fn resolve_tag(&self, reference: &OciReference) -> Result<String, RegistryError> {
        let (client, target) = self.client(reference, RegistryOperation::Pull).await?;
        let auth = self.credentials.for_registry(&reference.registry);
        let accepted = [MANIFEST];
        let (bytes, digest) =
            client.pull_manifest_raw(&target, &auth, &accepted).await.map_err(|e| failure(reference, e))?;
        if let Some(cache) = &self.cache {
            cache.keep(&digest, &bytes);
            cache.remember(&reference.to_string(), &digest);
        }
        Ok(digest)
    }

    /// The manifest `pinned` names, checked against its digest.
    async fn manifest(&self, pinned: &OciReference) -> Result<OciImageManifest, RegistryError> {
        let digest = pinned.digest.clone().expect("a pinned reference");
        let bytes = match self.cache.as_ref().and_then(|cache| cache.blob(&digest)) {
            Some(bytes) => bytes,
            None => {
                let (client, target) = self.client(pinned, RegistryOperation::Pull).await?;
                let auth = self.credentials.for_registry(&pinned.registry);
                let (bytes, _) =
                    client.pull_manifest_raw(&target, &auth, &[MANIFEST]).await.map_err(|e| failure(pinned, e))?;
                bytes.to_vec()
            }
        };
        let actual = sha256(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch { reference: pinned.clone().into(), expected: digest, actual });
        }
        if let Some(cache) = &self.cache {
            cache.keep(&digest, &bytes);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            RegistryError::NotWasm(pinned.clone().into(), format!("its manifest is not an OCI image manifest: {e}"))
        })
    }

    /// The blob `digest` of `pinned`'s repository, checked against its digest.
    async fn blob(&self, pinned: &OciReference, digest: &str) -> Result<Vec<u8>, RegistryError> {
        if let Some(bytes) = self.cache.as_ref().and_then(|cache| cache.blob(digest)) {
            return Ok(bytes);
        }
        let (client, target) = self.client(pinned, RegistryOperation::Pull).await?;
        let mut bytes = Vec::new();
        client.pull_blob(&target, digest, &mut bytes).await.map_err(|e| failure(pinned, e))?;
        let actual = sha256(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                reference: pinned.clone().into(),
                expected: digest.to_owned(),
                actual,
            });
        }
        if let Some(cache) = &self.cache {
            cache.keep(digest, &bytes);
        }
        Ok(bytes)
    }

    /// The client for `reference`'s registry, authenticated for `operation`, and the reference
    /// as it takes them.
    async fn client(
        &self,
        reference: &OciReference,
        operation: RegistryOperation,
    ) -> Result<(Arc<Client>, Reference), RegistryError> {
        let registry = &reference.registry;
        let client = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(registry.clone())
            .or_insert_with(|| {
                let plain = reference.is_loopback() || self.insecure.contains(registry);
                let protocol = if plain { ClientProtocol::Http } else { ClientProtocol::Https };
                let config = ClientConfig {
                    protocol,
                    connect_timeout: Some(TIMEOUT),
                    read_timeout: Some(TIMEOUT),
                    ..Default::default()
                };
                Arc::new(Client::new(config))
            })
            .clone();
        let target = self::reference(reference);
        let auth = self.credentials.for_registry(registry);
        if !matches!(auth, RegistryAuth::Anonymous) || operation == RegistryOperation::Push {
            client.auth(&target, &auth, operation).await.map_err(|e| failure(reference, e))?;
        } else {
            client.store_auth_if_needed(registry, &auth).await;
        }
        Ok((client, target))
    }
}

/// The OCI client's reference for ours (which is checked already).
fn reference(reference: &OciReference) -> Reference {
    reference.without_scheme().parse().expect("a checked reference parses")
}

/// The one layer that holds a component, or why there is none.
fn wasm_layer<'a>(
    pinned: &OciReference,
    manifest: &'a OciImageManifest,
) -> Result<&'a oci_client::manifest::OciDescriptor, RegistryError> {
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

/// The OCI client's error, told apart by what a caller can do about it.
fn failure(reference: &OciReference, error: OciDistributionError) -> RegistryError {
    let reference = Box::new(reference.clone());
    match error {
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            RegistryError::Unreachable(reference, e.to_string())
        }
        OciDistributionError::ImageManifestNotFoundError(_) | OciDistributionError::ServerError { code: 404, .. } => {
            RegistryError::NotFound { reference }
        }
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope.errors.iter().any(|e| e.code == OciErrorCode::NameUnknown) =>
        {
            RegistryError::NoRepository { reference }
        }
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope.errors.iter().any(|e| e.code == OciErrorCode::ManifestUnknown) =>
        {
            RegistryError::NotFound { reference }
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
