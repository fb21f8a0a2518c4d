//! Checked names: a value of these types is valid by construction, so the rest of the host never
//! re-validates a city id, a component name, a host name or a route path.

use http::uri::PathAndQuery;
use serde::Deserialize;
use std::fmt;

/// Longest id we accept: ids end up in URLs, metrics labels and database keys.
const MAX_ID_LEN: usize = 63;

/// Defines a kebab-case id newtype: lower-case ASCII letters and digits in words joined by
/// single hyphens, starting with a letter (`bremerhaven`, `local-tax`).
macro_rules! kebab_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// The id as written in the manifest.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> Result<Self, String> {
                check_kebab(&value, $what)?;
                Ok(Self(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Hashes and orders as its text does, so maps keyed by it are looked up by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

kebab_id!(
    /// A city's id (`[city] id = "bremerhaven"`): it namespaces the city's state and metrics.
    CityId,
    "city id"
);

kebab_id!(
    /// A component's name within a city (`[components.kindergarten]`).
    ComponentName,
    "component name"
);

/// A component of a city: what the cluster records versions of, and names in its change
/// notifications as `CITY/COMPONENT`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotKey {
    pub city: CityId,
    pub component: ComponentName,
}

impl SlotKey {
    /// The key of `city`'s `component`, names read from outside (the database, a notification).
    pub fn of(city: String, component: String) -> Result<Self, String> {
        Ok(Self { city: city.try_into()?, component: component.try_into()? })
    }
}

impl fmt::Display for SlotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.city, self.component)
    }
}

impl std::str::FromStr for SlotKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (city, component) = text.split_once('/').ok_or_else(|| format!("`{text}` is not `CITY/COMPONENT`"))?;
        Self::of(city.to_owned(), component.to_owned())
    }
}

fn check_kebab(value: &str, what: &str) -> Result<(), String> {
    let well_formed = value.len() <= MAX_ID_LEN
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} `{value}`: use lower-case letters, digits and single hyphens, \
             starting with a letter, at most {MAX_ID_LEN} characters (for example `local-tax`)"
        ))
    }
}

/// A host name a city answers to (`hosts = ["bremerhaven.localhost"]`), compared with the
/// request's `Host` header without its port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct HostName(String);

impl HostName {
    /// The host name, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let lower = value.to_ascii_lowercase();
        let well_formed = !lower.is_empty()
            && lower.len() <= 253
            && lower.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if well_formed {
            Ok(Self(lower))
        } else {
            Err(format!(
                "invalid host `{value}`: expected a DNS name such as `bremerhaven.example.org`, \
                 without scheme, port or path"
            ))
        }
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key-value bucket a component may open (`keyvalue = ["applications"]`): the name the
/// component passes to `wasi:keyvalue/store.open`, chosen by its author.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct BucketName(String);

impl BucketName {
    /// The name as the component opens it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BucketName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let well_formed = !value.is_empty()
            && value.len() <= 128
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if well_formed {
            Ok(Self(value))
        } else {
            Err(format!("invalid bucket name `{value}`: use letters, digits, `-`, `_` and `.`, at most 128 characters"))
        }
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An origin a component may send HTTP requests to (`outbound = ["https://registry.example:8443"]`):
/// scheme, host and port; the port defaults to the scheme's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin a request goes to; `None` without a scheme of `http`/`https` or a host.
    pub fn of(uri: &http::Uri) -> Option<Self> {
        let https = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = uri.host()?.to_ascii_lowercase();
        Some(Self { https, host, port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }) })
    }
}

impl TryFrom<String> for Origin {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let uri: Option<http::Uri> = value.parse().ok();
        let bare = uri.as_ref().is_some_and(|u| u.path_and_query().is_none_or(|p| p.as_str() == "/"));
        match uri.as_ref().and_then(Origin::of) {
            Some(origin) if bare && !value.contains('@') => Ok(origin),
            _ => Err(format!(
                "invalid origin `{value}`: expected a scheme, host and optional port such as \
                 `https://registry.example.org` or `http://127.0.0.1:9000`, without a path"
            )),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", if self.https { "https" } else { "http" }, self.host, self.port)
    }
}

/// A linkable interface and its compatible versions, as a `links` key names it:
/// `civic:tax/assessment@1` stands for every `1.x.y` of `civic:tax/assessment` (`@0.2` for every
/// `0.2.y`, since below 1.0 the minor version breaks compatibility).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contract(String);

impl Contract {
    /// The contract an import or export named like `civic:tax/assessment@1.2.0` belongs to;
    /// `None` for an unversioned or `wasi:` name, which cannot be linked.
    pub fn of(name: &str) -> Option<Self> {
        let (interface, version) = name.split_once('@')?;
        let version = semver::Version::parse(version).ok()?;
        let range = if version.major > 0 { version.major.to_string() } else { format!("0.{}", version.minor) };
        Self::try_from(format!("{interface}@{range}")).ok()
    }

    /// The key as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Contract {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let syntax = || {
            format!(
                "invalid link `{value}`: expected a versioned interface such as `civic:tax/assessment@1` \
                 (`@0.2` below version 1)"
            )
        };
        let (interface, range) = value.split_once('@').ok_or_else(syntax)?;
        let (package, name) = interface.split_once('/').ok_or_else(syntax)?;
        let (namespace, package) = package.split_once(':').ok_or_else(syntax)?;
        let ok_range = match range.split_once('.') {
            None => range.parse::<u64>().is_ok_and(|major| major > 0),
            Some((major, minor)) => major == "0" && minor.parse::<u64>().is_ok(),
        };
        let words = [namespace, package, name].iter().all(|w| check_kebab(w, "name").is_ok());
        if !ok_range || !words {
            return Err(syntax());
        }
        if namespace == "wasi" {
            return Err(format!("`{value}` is provided by the host itself; only other interfaces are linked"));
        }
        Ok(Self(value))
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A route's path prefix (`path = "/kita"`): it matches the path itself and everything below it
/// (`/kita`, `/kita/applications`), never a sibling that merely starts with the same letters
/// (`/kitab`). It is a URI path as `http` parses one, so the host's own requests to it (a swap's
/// health probe) are always well-formed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct RoutePath(PathAndQuery);

impl RoutePath {
    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The path as a request's URI (origin-form).
    pub fn uri(&self) -> http::Uri {
        http::Uri::from(self.0.clone())
    }

    /// Whether a request path falls under this prefix.
    pub fn matches(&self, path: &str) -> bool {
        let prefix = self.as_str();
        prefix == "/" || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

impl PartialOrd for RoutePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RoutePath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl TryFrom<String> for RoutePath {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let parsed = PathAndQuery::try_from(value.as_str()).ok().filter(|p| p.as_str() == value);
        let problem = if !value.starts_with('/') {
            Some("it must start with `/`")
        } else if value.len() > 1 && value.ends_with('/') {
            Some("it must not end with `/` (a route already matches everything below it)")
        } else if value.contains("//") {
            Some("it must not contain an empty segment `//`")
        } else if value.split('/').any(|segment| segment == "." || segment == "..") {
            Some("it must not contain `.` or `..` segments")
        } else if value.contains(['*', '?', '#']) || value.contains(char::is_whitespace) {
            Some("it is a plain prefix: no `*`, `?`, `#` or spaces")
        } else if !value.is_ascii() || parsed.is_none() {
            Some(
                "it has a character a URL path cannot hold (such as `<`, `>`, a backtick or a non-ASCII letter); write it percent-encoded, as clients send it",
            )
        } else {
            None
        };
        match (problem, parsed) {
            (None, Some(parsed)) => Ok(Self(parsed)),
            (problem, _) => Err(format!("invalid route path `{value}`: {}", problem.unwrap_or("it is not a URL path"))),
        }
    }
}

impl fmt::Display for RoutePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A route or health path is always a request the host can make: `http` agrees with it.
        #[test]
        fn every_route_path_is_a_request_uri(path in "/[ -~]{0,30}") {
            if let Ok(route) = RoutePath::try_from(path.clone()) {
                let request = http::Request::get(route.uri()).body(());
                prop_assert!(request.is_ok(), "{path:?}");
                let uri = route.uri();
                prop_assert_eq!(uri.path_and_query().map(|p| p.as_str()), Some(path.as_str()));
            }
        }
    }

    #[test]
    fn slot_keys_read_back_as_themselves() {
        let key: SlotKey = "lecce/local-tax".parse().unwrap();
        assert_eq!(key.to_string(), "lecce/local-tax");
        for bad in ["lecce", "lecce/Tax", "/tax", "lecce/tax/x"] {
            assert!(bad.parse::<SlotKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn kebab_ids() {
        for good in ["bremerhaven", "local-tax", "a1", "novi-sad-2"] {
            assert!(CityId::try_from(good.to_string()).is_ok(), "{good}");
        }
        for bad in ["", "Bremen", "-tax", "tax-", "local--tax", "1city", "local_tax", "á"] {
            let err = ComponentName::try_from(bad.to_string()).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        assert!(CityId::try_from("a".repeat(64)).is_err());
    }

    #[test]
    fn hosts_are_lower_case_dns_names() {
        let host = HostName::try_from("Bremerhaven.Localhost".to_string()).unwrap();
        assert_eq!(host.as_str(), "bremerhaven.localhost");
        for bad in ["", "http://x", "x:8080", "a..b", "-a.b", "a b"] {
            assert!(HostName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn contracts_name_an_interface_and_a_compatible_range() {
        let contract = |text: &str| Contract::try_from(text.to_owned());
        assert!(contract("civic:tax/assessment@1").is_ok());
        assert!(contract("civic:tax/assessment@0.2").is_ok());
        for bad in [
            "civic:tax/assessment",
            "civic:tax/assessment@1.0.0",
            "civic:tax/assessment@0",
            "tax@1",
            "wasi:http/types@0.2",
        ] {
            assert!(contract(bad).is_err(), "{bad}");
        }
        let of = |name: &str| Contract::of(name).map(|c| c.0);
        assert_eq!(of("civic:tax/assessment@1.4.2").as_deref(), Some("civic:tax/assessment@1"));
        assert_eq!(of("civic:tax/assessment@0.2.1").as_deref(), Some("civic:tax/assessment@0.2"));
        assert_eq!(of("wasi:http/types@0.2.12"), None);
        assert_eq!(of("civic:tax/assessment"), None);
    }

    #[test]
    fn route_prefixes_match_whole_segments() {
        let kita = RoutePath::try_from("/kita".to_string()).unwrap();
        assert!(kita.matches("/kita"));
        assert!(kita.matches("/kita/applications/7"));
        assert!(!kita.matches("/kitab"));
        assert!(!kita.matches("/"));
        let root = RoutePath::try_from("/".to_string()).unwrap();
        assert!(root.matches("/anything"));
        for bad in [
            "kita", "/kita/", "/a//b", "/a/../b", "/kita/*", "/a b", "/a?x", "/a<b", "/a>b", "/a`b", "/straße",
            "/a\x7f",
        ] {
            assert!(RoutePath::try_from(bad.to_string()).is_err(), "{bad}");
        }
        assert_eq!(RoutePath::try_from("/kita%20sud".to_string()).unwrap().uri().path(), "/kita%20sud");
    }
}
