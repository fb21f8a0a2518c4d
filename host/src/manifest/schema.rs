//! The manifest's TOML shape, version 1. Every table rejects keys it does not know, and every
//! value that a later check may complain about keeps its span.

use super::id::{BucketName, CityId, ComponentName, HostName, Origin, RoutePath};
use super::source::Digest;
use crate::limits::{Size, Timeout, Wait};
use serde::{Deserialize, Deserializer, de};
use std::collections::BTreeMap;
use toml::Spanned;

/// Read before anything else, so a manifest written for a newer Civic gets "unsupported version"
/// instead of a list of unknown keys.
#[derive(Deserialize)]
pub struct Versioned {
    /// `manifest_version = 1`
    pub manifest_version: Option<Spanned<toml::Value>>,
}

/// A city's manifest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestV1 {
    /// `manifest_version = 1`
    #[expect(dead_code, reason = "checked by `Versioned` before this is parsed")]
    pub manifest_version: u32,
    /// `[city]`
    pub city: CityV1,
    /// `[components.NAME]`, one table per component the city runs.
    #[serde(default)]
    pub components: BTreeMap<Spanned<ComponentName>, ComponentV1>,
    /// `[[routes]]`, in any order: the longest matching prefix wins.
    #[serde(default)]
    pub routes: Vec<RouteV1>,
}

/// `[city]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CityV1 {
    /// `id = "bremerhaven"`: kebab-case, unique among the loaded cities.
    pub id: Spanned<CityId>,
    /// `name = "Bremerhaven"`: the name people read.
    pub name: String,
    /// `hosts = ["bremerhaven.localhost"]`: the `Host` headers that pick this city when one
    /// `civic` serves several.
    #[serde(default)]
    pub hosts: Vec<Spanned<Checked<HostName>>>,
}

/// `[components.NAME]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentV1 {
    /// `source = "../plugins/kindergarten"` (a plugin crate) or `"kindergarten.wasm"`, relative
    /// to the manifest.
    pub source: Spanned<String>,
    /// `sha256 = "…"`: 64 hex digits; loading fails unless the file has exactly this hash.
    pub sha256: Option<Spanned<Digest>>,
    /// `config = { city_name = "Bremerhaven" }`: what the component reads through `wasi:config`.
    #[serde(default)]
    pub config: BTreeMap<String, Spanned<ConfigValue>>,
    /// `keyvalue = ["applications"]`: the buckets it may open; any other is `access-denied`.
    #[serde(default)]
    pub keyvalue: Vec<Spanned<Checked<BucketName>>>,
    /// `limits = { memory = "64MiB", timeout = "5s", max_concurrency = 100, max_body = "1MiB" }`;
    /// what is left out comes from the host's defaults.
    #[serde(default)]
    pub limits: LimitsV1,
    /// `files = { "/templates" = "templates" }`: host directories, relative to the manifest, that
    /// the component sees at absolute guest paths. Without it, it sees no files at all.
    #[serde(default)]
    pub files: BTreeMap<Spanned<String>, Spanned<DirectoryV1>>,
    /// `outbound = ["https://registry.example.org"]`: the origins it may send HTTP requests to;
    /// any other request fails with `HTTP-request-denied`.
    #[serde(default)]
    pub outbound: Vec<Spanned<Checked<Origin>>>,
    /// `env = { TZ = "Europe/Berlin" }`: environment variables it sees; without it, none.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `health = "/health"`: a path a new version must answer with 2xx before a swap puts it live.
    pub health: Option<RoutePath>,
    /// Contract (`civic:tax/assessment@1`) → the component that serves it; keys are checked by
    /// `Contract::try_from` so that each error points at its key.
    #[serde(default)]
    pub links: BTreeMap<Spanned<String>, Spanned<ComponentName>>,
}

/// A directory in `files`: `"templates"` (read-only) or `{ path = "outbox", writable = true }`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a directory such as `\"templates\"`, or a table such as `{ path = \"outbox\", writable = true }`"
)]
pub enum DirectoryV1 {
    /// `"templates"`
    ReadOnly(String),
    /// `{ path = "outbox", writable = true }`
    Table(DirectoryTableV1),
}

/// `{ path = "outbox", writable = true }` in `files`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryTableV1 {
    /// The host directory, relative to the manifest.
    pub path: String,
    /// Whether the component may create, change and delete files there.
    #[serde(default)]
    pub writable: bool,
}

impl DirectoryV1 {
    /// The host path as written, and whether it is writable.
    pub fn parts(&self) -> (&str, bool) {
        match self {
            Self::ReadOnly(path) => (path, false),
            Self::Table(table) => (&table.path, table.writable),
        }
    }
}

/// `limits = { … }` of a component.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsV1 {
    /// `memory = "64MiB"`: the most linear memory an instance may grow to.
    pub memory: Option<Size>,
    /// `timeout = "5s"`: the wall-clock deadline of a request.
    pub timeout: Option<Timeout>,
    /// `max_concurrency = 100`: requests running at once; more wait in the queue.
    pub max_concurrency: Option<Spanned<u32>>,
    /// `max_body = "1MiB"`: the largest request body; more gets 413.
    pub max_body: Option<Size>,
    /// `queue = "100ms"`: the longest a request waits for a place, then 503; `"0s"`: no wait.
    pub queue: Option<Wait>,
    /// `queue_length = 800`: requests waiting at once (default 8 × `max_concurrency`); one
    /// more gets 503 at once.
    pub queue_length: Option<u32>,
}

/// `[[routes]]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteV1 {
    /// `path = "/kita"`: a prefix.
    pub path: Spanned<RoutePath>,
    /// `component = "kindergarten"`: a key of `[components]`.
    pub component: Spanned<ComponentName>,
}

/// A config value. `wasi:config` hands out strings: numbers and booleans are passed on as they
/// are written, so `max_choices = 3` and `max_choices = "3"` mean the same; tables and arrays
/// (`facilities = [{ id = "am-deich", places = 40 }]`) are passed on as JSON text.
#[derive(Debug)]
pub struct ConfigValue(pub String);

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(match toml::Value::deserialize(deserializer)? {
            toml::Value::String(text) => text,
            toml::Value::Datetime(datetime) => datetime.to_string(),
            scalar @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)) => scalar.to_string(),
            structured => serde_json::to_string(&structured).map_err(de::Error::custom)?,
        }))
    }
}

/// An array element whose check waits until after parsing: an invalid element is then reported at
/// its own span, where the TOML parser would point at the whole array.
pub struct Checked<T>(pub Result<T, String>);

impl<'de, T: TryFrom<String, Error = String>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(T::try_from(String::deserialize(deserializer)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigValue;
    use std::collections::BTreeMap;

    #[test]
    fn config_values_become_strings_and_structures_json() {
        let text = r#"
            name = "Kita Sud"
            places = 40
            open = true
            facilities = [{ id = "am-deich", places = 40 }]
        "#;
        let values: BTreeMap<String, ConfigValue> = toml::from_str(text).unwrap();
        let values: BTreeMap<_, _> = values.iter().map(|(k, v)| (k.as_str(), v.0.as_str())).collect();
        assert_eq!(values["name"], "Kita Sud");
        assert_eq!(values["places"], "40");
        assert_eq!(values["open"], "true");
        assert_eq!(values["facilities"], r#"[{"id":"am-deich","places":40}]"#);
    }
}
