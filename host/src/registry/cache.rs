//! What a host keeps of registries in its data dir: every blob by its sha256 (manifests, configs
//! and components alike, each checked against its digest when written and when read), and the
//! digest each tag last resolved to, so a pinned source loads with the registry down and a tag
//! falls back to what it was.

use crate::manifest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Cache {
    dir: PathBuf,
    /// Serialises changes to the index, which hosts read whole.
    index: Mutex<()>,
}

#[derive(Default, Serialize, Deserialize)]
struct Index {
    /// `oci://HOST/REPOSITORY:TAG` → `sha256:…` of the manifest it last resolved to.
    tags: BTreeMap<String, String>,
}

impl Cache {
    /// The cache under `dir` (created when first written).
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), index: Mutex::new(()) }
    }

    /// The blob with `digest` (`sha256:…`), when it is here and whole.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)?).ok()?;
        (sha256(&bytes) == digest).then_some(bytes)
    }

    /// Keeps `bytes` as the blob with `digest`; they were checked against it.
    pub fn keep(&self, digest: &str, bytes: &[u8]) {
        let Some(path) = self.blob_path(digest) else { return };
        if let Err(e) = crate::atomic::write(&path, bytes) {
            tracing::warn!(path = %path.display(), "cannot keep a registry blob: {e}");
        }
    }

    /// The manifest digest `tag` (a tagged reference) resolved to last.
    pub fn tag(&self, tag: &str) -> Option<String> {
        self.read_index().tags.get(tag).cloned()
    }

    /// Remembers that `tag` resolved to `digest`.
    pub fn remember(&self, tag: &str, digest: &str) {
        let _one_at_a_time = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut index = self.read_index();
        if index.tags.get(tag).map(String::as_str) == Some(digest) {
            return;
        }
        index.tags.insert(tag.to_owned(), digest.to_owned());
        let path = self.dir.join("index.json");
        let written = serde_json::to_vec_pretty(&index)
            .map_err(std::io::Error::other)
            .and_then(|json| crate::atomic::write(&path, &json));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "cannot remember a registry tag: {e}");
        }
    }

    fn read_index(&self) -> Index {
        std::fs::read(self.dir.join("index.json"))
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default()
    }

    /// `DIR/blobs/sha256/HEX`, for a well-formed digest only.
    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        Digest::try_from(hex.to_owned()).ok()?;
        Some(self.dir.join("blobs/sha256").join(hex))
    }
}

/// `sha256:HEX` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", Digest::of(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_kept_by_digest_and_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let digest = sha256(b"component");
        assert_eq!(cache.blob(&digest), None);
        cache.keep(&digest, b"component");
        assert_eq!(cache.blob(&digest).as_deref(), Some(&b"component"[..]));
        // A blob changed on disk is not served.
        let path = dir.path().join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap());
        std::fs::write(path, b"tampered").unwrap();
        assert_eq!(cache.blob(&digest), None);
        assert_eq!(cache.blob("sha256:../../etc/passwd"), None);

        cache.remember("oci://r/kita:1", &digest);
        assert_eq!(Cache::new(dir.path()).tag("oci://r/kita:1"), Some(digest));
    }
}
