//! What a host keeps of registries in its data dir: every blob by its sha256 (manifests, configs
//! and components alike, each checked against its digest when written and when read), and the
//! digest each tag last resolved to, so a pinned source loads with the registry down and a tag
//! falls back to what it was.

use crate::manifest::{Digest, OciReference};
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

    /// The blob with `digest`, when it is here and whole.
    pub fn blob(&self, digest: Digest) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)).ok()?;
        (Digest::of(&bytes) == digest).then_some(bytes)
    }

    /// Keeps `bytes` as the blob with `digest`; they were checked against it.
    pub fn keep(&self, digest: Digest, bytes: &[u8]) {
        let path = self.blob_path(digest);
        if let Err(e) = crate::atomic::write(&path, bytes) {
            tracing::warn!(path = %path.display(), "cannot keep a registry blob: {e}");
        }
    }

    /// The manifest digest `tagged` resolved to last.
    pub fn tag(&self, tagged: &OciReference) -> Option<Digest> {
        Digest::from_oci(self.read_index().tags.get(&tagged.to_string())?).ok()
    }

    /// Remembers that `tagged` resolved to `digest`.
    pub fn remember(&self, tagged: &OciReference, digest: Digest) {
        let _one_at_a_time = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut index = self.read_index();
        let (tag, digest) = (tagged.to_string(), digest.oci());
        if index.tags.get(&tag) == Some(&digest) {
            return;
        }
        index.tags.insert(tag, digest);
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

    /// `DIR/blobs/sha256/HEX`.
    fn blob_path(&self, digest: Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_kept_by_digest_and_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let digest = Digest::of(b"component");
        assert_eq!(cache.blob(digest), None);
        cache.keep(digest, b"component");
        assert_eq!(cache.blob(digest).as_deref(), Some(&b"component"[..]));
        // A blob changed on disk is not served.
        std::fs::write(dir.path().join("blobs/sha256").join(digest.to_string()), b"tampered").unwrap();
        assert_eq!(cache.blob(digest), None);

        let tagged = OciReference::try_from("oci://r.example/kita:1").unwrap();
        cache.remember(&tagged, digest);
        assert_eq!(Cache::new(dir.path()).tag(&tagged), Some(digest));
    }
}
