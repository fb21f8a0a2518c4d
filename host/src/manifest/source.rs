//! Where a component's bytes come from: a `.wasm` file, or the build artifact of a plugin crate.

use super::discover::Stamp;
use super::reference::{OciReference, SCHEME};
use anyhow::Context as _;
use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A SHA-256 content hash: what identifies a component version.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Digest([u8; 32]);

impl Digest {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// `sha256:HEX`, as OCI registries name content.
    pub fn oci(&self) -> String {
        format!("sha256:{self}")
    }

    /// The digest an OCI registry names `sha256:HEX` (lower case, as the distribution spec writes it).
    pub fn from_oci(text: &str) -> Result<Self, String> {
        match text.strip_prefix("sha256:") {
            Some(hex) if !hex.bytes().any(|b| b.is_ascii_uppercase()) => Self::try_from(hex.to_owned()),
            _ => Err(format!("invalid digest `{text}`: expected `sha256:` and 64 lower-case hexadecimal digits")),
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let invalid = || format!("invalid sha256 `{value}`: expected 64 hexadecimal digits");
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(value.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A component file's bytes and their hash; cheap to clone.
#[derive(Clone, Debug)]
pub struct WasmFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its content hash.
    pub digest: Digest,
    /// Its content, shared, never copied again once read.
    pub bytes: Bytes,
}

impl WasmFile {
    /// Wraps bytes that did not come from a manifest (an operator's upload, for example).
    pub fn from_bytes(path: PathBuf, bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self { path, digest: Digest::of(&bytes), bytes }
    }
}

/// What a manifest's `source` names once it is resolved against the manifest's directory.
pub(crate) enum Source {
    /// A `.wasm` file.
    File(PathBuf),
    /// A directory with a `Cargo.toml`: a plugin crate, built by `civic up`.
    Crate(PathBuf),
    /// A component in an OCI registry.
    Registry(OciReference),
}

impl Source {
    /// Classifies `source` as written in the manifest at `manifest`.
    pub fn resolve(manifest: &Path, source: &str) -> Result<Self, String> {
        if source.starts_with(SCHEME) {
            return OciReference::try_from(source).map(Self::Registry);
        }
        if let Some((scheme, _)) = source.split_once("://") {
            return Err(format!(
                "unknown source scheme `{scheme}://` in `{source}`: a source is a `.wasm` file or a plugin \
                 crate (a path), or a registry reference `oci://HOST[:PORT]/REPOSITORY:TAG`"
            ));
        }
        let path = manifest.parent().unwrap_or(Path::new(".")).join(source);
        // A `.wasm` is a component file whatever else it is: no stat for each component of
        // each of 100,000 cities.
        let named_as_file = path.extension().is_some_and(|e| e == "wasm");
        Ok(if !named_as_file && path.is_dir() { Self::Crate(path) } else { Self::File(path) })
    }
}

/// Finds what a source names when it is not a plain file: the layers above the manifest know how
/// (the CLI asks cargo where a plugin crate's component is).
pub trait Fetch: Send + Sync {
    /// The component file that the plugin crate in `dir` builds to, built or not.
    fn crate_artifact(&self, dir: &Path) -> anyhow::Result<PathBuf>;
}

/// Reads each file once, however many cities use it, and again only once its stamp changed;
/// registry sources are fetched by the caller beforehand ([`Sources::fetched`]), so that reading
/// manifests does no network I/O. Kept from one load to the next, it tells which components
/// changed under manifests that did not ([`Sources::stale`]).
#[derive(Clone, Default)]
pub struct Sources {
    fetch: Option<Arc<dyn Fetch>>,
    /// By canonical path, with the file's stamp from before it was read.
    files: HashMap<PathBuf, (Option<Stamp>, Arc<WasmFile>)>,
    /// The canonical path of each path a manifest gave, within one load: many cities name the
    /// same file, and a link on the way may change between loads (git-sync's checkouts).
    canonical: HashMap<PathBuf, PathBuf>,
    registry: HashMap<OciReference, Result<Arc<WasmFile>, String>>,
}

impl Sources {
    /// Sources that `fetch` finds when they are not plain files.
    pub fn new(fetch: Arc<dyn Fetch>) -> Self {
        Self { fetch: Some(fetch), ..Self::default() }
    }

    /// What fetching `reference` from its registry gave: the component, or why not. The
    /// component it gave before, when this is another (a moved tag) or an error.
    pub fn fetched(&mut self, reference: OciReference, outcome: Result<WasmFile, String>) -> Option<Arc<WasmFile>> {
        let same = |before: &Result<Arc<WasmFile>, String>| match (before, &outcome) {
            (Ok(before), Ok(now)) => before.digest == now.digest,
            _ => false,
        };
        // The same component: keep the one the cities that use it share already.
        if self.registry.get(&reference).is_some_and(same) {
            return None;
        }
        let before = self.registry.insert(reference, outcome.map(Arc::new));
        before.and_then(Result::ok)
    }

    /// The component files read before that changed since, forgotten so that the next read
    /// reads them again: the cities that use them need resolving again.
    pub fn stale(&mut self) -> Vec<Arc<WasmFile>> {
        self.canonical.clear();
        let mut stale = Vec::new();
        self.files.retain(|path, (stamp, wasm)| {
            let unchanged = Stamp::of(path) == *stamp;
            if !unchanged {
                stale.push(wasm.clone());
            }
            unchanged
        });
        stale
    }

    /// Whether a component file read before changed since (what [`Sources::stale`] would give).
    pub fn any_stale(&self) -> bool {
        self.files.iter().any(|(path, (stamp, _))| Stamp::of(path) != *stamp)
    }

    /// The component for `source`: the file itself, or the crate's build artifact.
    pub(crate) fn wasm(&mut self, source: &Source) -> anyhow::Result<Arc<WasmFile>> {
        let path = match source {
            Source::Registry(reference) => {
                return match self.registry.get(reference) {
                    Some(Ok(wasm)) => Ok(wasm.clone()),
                    Some(Err(why)) => Err(anyhow::anyhow!("{why}")),
                    None => {
                        Err(anyhow::anyhow!("`{reference}` is a registry source, and this command reads no registry"))
                    }
                };
            }
            Source::File(path) => path.clone(),
            Source::Crate(dir) => {
                let fetch = self.fetch.as_ref().with_context(|| {
                    format!("`{}` is a plugin crate; give the path of its `.wasm` file", dir.display())
                })?;
                let artifact = fetch.crate_artifact(dir)?;
                if !artifact.is_file() {
                    anyhow::bail!(
                        "plugin crate `{}` is not built yet (no `{}`): `civic up` builds it",
                        dir.display(),
                        artifact.display()
                    );
                }
                artifact
            }
        };
        let key = match self.canonical.get(&path) {
            Some(key) => key.clone(),
            None => {
                let key = path.canonicalize().map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
                self.canonical.insert(path.clone(), key.clone());
                key
            }
        };
        if let Some((_, file)) = self.files.get(&key) {
            return Ok(file.clone());
        }
        let stamp = Stamp::of(&key);
        let bytes = std::fs::read(&key).map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
        let file = Arc::new(WasmFile::from_bytes(path, bytes));
        self.files.insert(key, (stamp, file.clone()));
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_through_hex() {
        let digest = Digest::of(b"civic");
        let hex = digest.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(Digest::try_from(hex.clone()).unwrap(), digest);
        assert_eq!(Digest::try_from(hex.to_uppercase()).unwrap(), digest);
        assert!(Digest::try_from("abc".to_string()).is_err());
        assert!(Digest::try_from("zz".repeat(32)).is_err());
    }
}
