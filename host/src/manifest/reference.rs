//! A component in an OCI registry, as a manifest's `source` names it:
//! `oci://HOST[:PORT]/REPOSITORY:TAG`, `…:TAG@sha256:DIGEST` or `…@sha256:DIGEST`, the digest
//! being the image manifest's.

use std::fmt;

/// The scheme of a registry source.
pub(crate) const SCHEME: &str = "oci://";

/// A checked registry reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OciReference {
    /// `HOST[:PORT]`.
    pub registry: String,
    /// `PATH/TO/NAME`, lower case.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…` of the manifest, which pins the artifact.
    pub digest: Option<String>,
}

impl OciReference {
    /// The reference without its scheme, as OCI clients write it (`HOST/REPO:TAG@DIGEST`).
    pub fn without_scheme(&self) -> String {
        let mut text = format!("{}/{}", self.registry, self.repository);
        if let Some(tag) = &self.tag {
            text += &format!(":{tag}");
        }
        if let Some(digest) = &self.digest {
            text += &format!("@{digest}");
        }
        text
    }

    /// The same reference pinned to `digest` (its tag kept, for people to read).
    pub fn pinned(&self, digest: &str) -> Self {
        Self { digest: Some(digest.to_owned()), ..self.clone() }
    }

    /// What the registry lacks when it has nothing at this reference.
    pub fn missing(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(_), _) => format!("the repository `{}` has no manifest with this digest", self.repository),
            (None, Some(tag)) => format!("the repository `{}` has no tag `{tag}`", self.repository),
            (None, None) => format!("nothing at `{}`", self.repository),
        }
    }

    /// Whether the registry is this machine: plain HTTP is allowed there.
    pub fn is_loopback(&self) -> bool {
        let host = self.registry.rsplit_once(':').map_or(self.registry.as_str(), |(host, _)| host);
        matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.")
    }
}

impl TryFrom<&str> for OciReference {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            format!(
                "invalid registry reference `{text}`: {why}; expected `oci://HOST[:PORT]/REPOSITORY:TAG`, \
                 `…:TAG@sha256:DIGEST` or `…@sha256:DIGEST`"
            )
        };
        let rest = text.strip_prefix(SCHEME).ok_or_else(|| invalid("it does not start with `oci://`"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (rest, None),
        };
        if let Some(digest) = digest {
            let hex = digest.strip_prefix("sha256:").ok_or_else(|| invalid("the digest is not `sha256:…`"))?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(invalid("a sha256 digest is 64 lower-case hexadecimal digits"));
            }
        }
        let (registry, path) = rest.split_once('/').ok_or_else(|| invalid("it names no repository"))?;
        let host_ok = !registry.is_empty()
            && registry.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            && registry.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_ok());
        if !host_ok {
            return Err(invalid("the registry is not `HOST[:PORT]`"));
        }
        // A tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((repository, tag)) => (repository, Some(tag)),
            None => (path, None),
        };
        let component = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.starts_with(|c: char| c.is_ascii_alphanumeric())
                && c.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component) {
            return Err(invalid("a repository is lower-case names joined by `/`"));
        }
        if let Some(tag) = tag {
            let tag_ok = (1..=128).contains(&tag.len())
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !tag.starts_with(['.', '-']);
            if !tag_ok {
                return Err(invalid("a tag is letters, digits, `.`, `_` and `-`, at most 128"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(invalid("it has neither a tag nor a digest"));
        }
        Ok(Self {
            registry: registry.to_ascii_lowercase(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.without_scheme())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_registry_a_repository_and_a_tag_or_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let tagged = OciReference::try_from("oci://127.0.0.1:5000/civic/kindergarten:1.2.0").unwrap();
        assert_eq!(
            (tagged.registry.as_str(), tagged.repository.as_str(), tagged.tag.as_deref()),
            ("127.0.0.1:5000", "civic/kindergarten", Some("1.2.0"))
        );
        assert!(tagged.is_loopback());
        let pinned = OciReference::try_from(format!("oci://registry.example.org/kita:1@{digest}").as_str()).unwrap();
        assert_eq!((pinned.tag.as_deref(), pinned.digest.as_deref()), (Some("1"), Some(digest.as_str())));
        assert!(!pinned.is_loopback());
        let only = OciReference::try_from(format!("oci://r.example/a/b@{digest}").as_str()).unwrap();
        assert_eq!(only.to_string(), format!("oci://r.example/a/b@{digest}"));
        for bad in [
            "oci://registry.example.org/kita",
            "oci://registry.example.org",
            "oci://Registry_X/kita:1",
            "oci://r.example/Kita:1",
            "oci://r.example/kita:1@md5:abc",
            "oci://r.example/kita:1@sha256:abc",
            "oci://r.example:99999/kita:1",
            "oci://r.example/kita:-x",
            "docker://r.example/kita:1",
        ] {
            let error = OciReference::try_from(bad).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
    }
}
