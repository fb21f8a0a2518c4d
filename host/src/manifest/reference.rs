//! A component in an OCI registry, as a manifest's `source` names it:
//! `oci://HOST[:PORT]/REPOSITORY:TAG`, `…:TAG@sha256:DIGEST` or `…@sha256:DIGEST`, the digest
//! being the image manifest's.
//!
//! One parser makes every [`OciReference`], and it is the OCI client's own (`oci-spec`'s
//! reference grammar), so whatever the manifest accepts, the client that later pulls it takes as
//! the same registry, repository, tag and digest. On top of that grammar Civic is stricter: the
//! first part is always the registry (a name without a dot or a port would silently mean Docker
//! Hub), a tag or a digest is always written (never an implied `latest`), tags are ASCII and
//! digests are sha256.

use super::source::Digest;
use oci_client::Reference;
use std::fmt;

/// The scheme of a registry source.
pub(crate) const SCHEME: &str = "oci://";

/// A registry reference that the OCI client takes exactly as it reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OciReference {
    /// Parsed by the client's grammar; `registry()` is the one the text names.
    parsed: Reference,
    digest: Option<Digest>,
}

impl OciReference {
    /// `oci://` + `text`, with `why` it is not a reference.
    fn invalid(text: &str, why: &str) -> String {
        format!(
            "invalid registry reference `{text}`: {why}; expected `oci://HOST[:PORT]/REPOSITORY:TAG`, \
             `…:TAG@sha256:DIGEST` or `…@sha256:DIGEST`"
        )
    }

    /// The reference for registry `registry`, repository `repository` and tag `tag` — names that
    /// a registry listed, say, which may be anything: refused unless each part reads back as
    /// itself.
    pub fn of_parts(registry: &str, repository: &str, tag: &str) -> Result<Self, String> {
        let text = format!("{SCHEME}{registry}/{repository}:{tag}");
        let reference = Self::try_from(text.as_str())?;
        let same = reference.registry() == registry && reference.repository() == repository;
        if !same || reference.tag() != Some(tag) || reference.digest.is_some() {
            return Err(Self::invalid(&text, "its parts do not read back as themselves"));
        }
        Ok(reference)
    }

    /// `HOST[:PORT]`, lower case.
    pub fn registry(&self) -> &str {
        self.parsed.registry()
    }

    /// `PATH/TO/NAME`, lower case.
    pub fn repository(&self) -> &str {
        self.parsed.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.parsed.tag()
    }

    /// The manifest's digest, which pins the artifact.
    pub fn digest(&self) -> Option<Digest> {
        self.digest
    }

    /// The OCI client's reference.
    pub fn oci(&self) -> &Reference {
        &self.parsed
    }

    /// The same reference pinned to `digest` (its tag kept, for people to read).
    pub fn pinned(&self, digest: Digest) -> Self {
        let (registry, repository) = (self.registry().to_owned(), self.repository().to_owned());
        let parsed = match self.tag() {
            Some(tag) => Reference::with_tag_and_digest(registry, repository, tag.to_owned(), digest.oci()),
            None => Reference::with_digest(registry, repository, digest.oci()),
        };
        Self { parsed, digest: Some(digest) }
    }

    /// The same registry and repository at tag `tag`, when it is a tag.
    pub fn tagged(&self, tag: &str) -> Result<Self, String> {
        Self::of_parts(self.registry(), self.repository(), tag)
    }

    /// What the registry lacks when it has nothing at this reference.
    pub fn missing(&self) -> String {
        match (&self.digest, self.tag()) {
            (Some(_), _) => format!("the repository `{}` has no manifest with this digest", self.repository()),
            (None, Some(tag)) => format!("the repository `{}` has no tag `{tag}`", self.repository()),
            (None, None) => format!("nothing at `{}`", self.repository()),
        }
    }

    /// Whether the registry is this machine: plain HTTP is allowed there.
    pub fn is_loopback(&self) -> bool {
        is_loopback(self.registry())
    }
}

/// Whether registry `HOST[:PORT]` is this machine.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    host == "localhost" || host.starts_with("127.")
}

impl TryFrom<&str> for OciReference {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| Self::invalid(text, why);
        let rest = text.strip_prefix(SCHEME).ok_or_else(|| invalid("it does not start with `oci://`"))?;
        let (registry, path) = rest.split_once('/').ok_or_else(|| invalid("it names no repository"))?;
        if registry.starts_with('[') {
            return Err(invalid(
                "the registry is an IPv6 address, which OCI references cannot name; use a host name \
                 such as `localhost:5000`",
            ));
        }
        // The OCI grammar reads a first part without a dot or a port as a repository on Docker
        // Hub; Civic never sends a request, or credentials, anywhere the text does not name.
        if !(registry.contains(['.', ':']) || registry.eq_ignore_ascii_case("localhost")) {
            return Err(invalid(&format!(
                "the registry `{registry}` has neither a dot nor a port and is not `localhost`; write its \
                 full name (`{registry}.example.org`) or its port (`{registry}:5000`)"
            )));
        }
        if let Some((_, port)) = registry.rsplit_once(':')
            && port.parse::<u16>().is_err()
        {
            return Err(invalid("the registry's port is not a number from 0 to 65535"));
        }
        let registry = registry.to_ascii_lowercase();
        let parsed = Reference::try_from(format!("{registry}/{path}"))
            .map_err(|e| invalid(&format!("{e} (a repository is lower-case names joined by `/`, each part separated by one `.`, `_`, `__` or dashes; a tag is at most 128 letters, digits, `_`, `.` and `-`)")))?;
        if parsed.registry() != registry {
            return Err(invalid(&format!("the registry reads as `{}`", parsed.registry())));
        }
        let digest = match parsed.digest() {
            None => None,
            Some(digest) => Some(Digest::from_oci(digest).map_err(|e| invalid(&e))?),
        };
        if let Some(tag) = parsed.tag() {
            // The grammar supplies `latest` for a reference with neither; Civic wants one written.
            let name = path.split_once('@').map_or(path, |(name, _)| name);
            if !name.ends_with(&format!(":{tag}")) {
                return Err(invalid("it has neither a tag nor a digest"));
            }
            if !tag.is_ascii() {
                return Err(invalid("a tag is ASCII letters, digits, `_`, `.` and `-`"));
            }
        }
        Ok(Self { parsed, digest })
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn references_name_a_registry_a_repository_and_a_tag_or_digest() {
        let hex = "a".repeat(64);
        let tagged = OciReference::try_from("oci://127.0.0.1:5000/civic/kindergarten:1.2.0").unwrap();
        assert_eq!(
            (tagged.registry(), tagged.repository(), tagged.tag()),
            ("127.0.0.1:5000", "civic/kindergarten", Some("1.2.0"))
        );
        assert!(tagged.is_loopback());
        let pinned =
            OciReference::try_from(format!("oci://Registry.Example.org/kita:1@sha256:{hex}").as_str()).unwrap();
        assert_eq!((pinned.tag(), pinned.digest().map(|d| d.to_string())), (Some("1"), Some(hex.clone())));
        assert_eq!(pinned.registry(), "registry.example.org");
        assert!(!pinned.is_loopback());
        let only = OciReference::try_from(format!("oci://r.example/a/b@sha256:{hex}").as_str()).unwrap();
        assert_eq!(only.to_string(), format!("oci://r.example/a/b@sha256:{hex}"));
        assert_eq!(tagged.pinned(only.digest().unwrap()).to_string(), format!("{tagged}@sha256:{hex}"));
        assert!(OciReference::try_from("oci://localhost/kita:1").unwrap().is_loopback());
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
            // The review's: accepted by the old check, refused by the client's parser.
            "oci://[::1]:5000/x:1",
            "oci://-bad-:5000/x:1",
            "oci://a..b:5000/x:1",
            "oci://r.example/a..b:1",
            "oci://r.example/a.-b:1",
            "oci://r.example/a__-b:1",
            &format!("oci://r.example/{}:1", "a".repeat(256)),
            // Docker Hub by default: never.
            "oci://myregistry/civic/kita:1",
            "oci://kita:1",
            "oci://r.example/kita:ä",
            &format!("oci://r.example/kita@sha512:{}", "a".repeat(128)),
        ] {
            let error = OciReference::try_from(bad).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
        let hub = OciReference::try_from("oci://myregistry/civic/kita:1").unwrap_err();
        assert!(hub.contains("neither a dot nor a port"), "{hub}");
        assert!(OciReference::try_from("oci://[::1]:5000/x:1").unwrap_err().contains("IPv6"));
    }

    #[test]
    fn parts_that_do_not_read_back_as_themselves_are_refused() {
        assert!(OciReference::of_parts("r.example:5000", "civic/kita", "1.0").is_ok());
        let digest = format!("x@sha256:{}", "a".repeat(64));
        for (registry, repository, tag) in [
            ("r.example", "kita", digest.as_str()),
            ("r.example", "kita:1", "2"),
            ("r.example", "UPPER", "1"),
            ("a!b", "kita", "1"),
            ("r.example/x", "kita", "1"),
            ("r.example", "kita", "bad tag"),
        ] {
            assert!(OciReference::of_parts(registry, repository, tag).is_err(), "{registry} {repository} {tag}");
        }
    }

    proptest! {
        /// Whatever Civic accepts, the OCI client reads as the same parts.
        #[test]
        fn what_civic_accepts_the_client_reads_alike(
            registry in "(localhost|[a-z0-9-]{1,5}(\\.[a-z0-9-]{1,5}){0,2})(:[0-9]{1,6})?|[a-zA-Z0-9.:\\[\\]_-]{1,12}",
            repository in "[a-z0-9._/-]{1,20}",
            tag in proptest::option::of("[a-zA-Z0-9._-]{1,10}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let mut text = format!("oci://{registry}/{repository}");
            if let Some(tag) = &tag { text += &format!(":{tag}"); }
            if let Some(digest) = &digest { text += &format!("@sha256:{digest}"); }
            if let Ok(reference) = OciReference::try_from(text.as_str()) {
                let (_, rest) = text.strip_prefix(SCHEME).unwrap().split_once('/').unwrap();
                let client: Reference = format!("{}/{rest}", registry.to_ascii_lowercase()).parse().unwrap();
                prop_assert_eq!(client.registry(), reference.registry());
                prop_assert_eq!(client.repository(), reference.repository());
                prop_assert_eq!(client.tag(), reference.tag());
                prop_assert_eq!(client.digest().map(str::to_owned), reference.digest().map(|d| d.oci()));
                prop_assert_eq!(reference.registry(), registry.to_ascii_lowercase());
                let written: Reference = reference.to_string().strip_prefix(SCHEME).unwrap().parse().unwrap();
                prop_assert_eq!(&written, reference.oci());
            }
        }
    }
}
