//! Durable state: the host side of `wasi:keyvalue`, and the stores behind it.
//!
//! Data is namespaced by city, component and bucket ([`Namespace`]): two cities, or two components
//! of one city, that name the same bucket never see each other's keys. It belongs to the component's
//! name, not to a version, so it outlives restarts and swaps.
//!
//! - [`keyvalue`]: what guests call (`store`, `atomics`, `batch`), with access checks and limits.
//! - [`Backend`]: the small trait a store implements; [`sqlite`] is the durable default for one
//!   host, [`postgres`] the networked one for a cluster, [`memory`] keeps nothing (for
//!   `civic check` and tests). One conformance suite checks them all alike.

pub(crate) mod keyvalue;
pub mod memory;
pub mod postgres;
mod schema;
pub mod sqlite;

pub use keyvalue::KvLimits;

use crate::manifest::{CityId, ComponentName};
use postgres::PostgresUrl;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Where a host keeps its cities' state (`civic run --state`).
#[derive(Clone, Debug)]
pub enum StateUrl {
    /// `sqlite`: a file in the data directory.
    Sqlite,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`.
    Postgres(Box<PostgresUrl>),
}

impl fmt::Display for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Postgres(url) => url.fmt(f),
        }
    }
}

impl FromStr for StateUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        if url == "sqlite" {
            return Ok(Self::Sqlite);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return url.parse().map(|url| Self::Postgres(Box::new(url)));
        }
        Err(format!(
            "unknown state store `{}`: expected `sqlite` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`",
            postgres::redact(url)
        ))
    }
}

/// Where a bucket's keys live.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace {
    /// The city.
    pub city: CityId,
    /// The component, by its name in the city.
    pub component: ComponentName,
    /// The bucket, as the component opened it.
    pub bucket: String,
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.city, self.component, self.bucket)
    }
}

/// One change in a [`Backend::write`] batch.
#[derive(Clone, Debug)]
pub enum Write {
    /// Sets a key to a value.
    Set(String, Vec<u8>),
    /// Removes a key; removing an absent key is not an error.
    Delete(String),
}

/// Why a store did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// It cannot be reached now; worth trying again later.
    #[error("{0}")]
    Unavailable(String),
    /// It failed (I/O, corruption), or refused (a value `increment` cannot add to).
    #[error("{0}")]
    Failed(String),
}

/// What a key-value store must do. Every write is durable when its future resolves `Ok`.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The values of `keys`, in order; `None` for an absent key.
    async fn get_many(&self, ns: &Namespace, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    /// Applies `writes` atomically: all of them or none.
    async fn write(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Adds `delta` to the decimal number stored at `key` (absent counts as 0) and returns the
    /// sum, atomically with respect to every other write.
    async fn increment(&self, ns: &Namespace, key: &str, delta: u64) -> Result<u64, StoreError>;

    /// At most `limit` keys in byte order, skipping the first `offset`.
    async fn list_keys(&self, ns: &Namespace, offset: u64, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Whether the store answers now; what the readiness probe asks.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Parses a stored counter: ASCII decimal digits, as `increment` writes them.
pub fn parse_counter(value: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            StoreError::Failed("the value is not a counter (a decimal number written by `increment`)".into())
        })
}

/// `current + delta`, or an error instead of wrapping around.
pub fn add_to_counter(current: u64, delta: u64) -> Result<u64, StoreError> {
    current.checked_add(delta).ok_or_else(|| StoreError::Failed(format!("incrementing {current} by {delta} overflows")))
}

/// The store every slot of a host shares.
pub type SharedBackend = Arc<dyn Backend>;

/// A host's state: the store and the limits on what guests put in it.
#[derive(Clone)]
pub struct State {
    /// The store.
    pub backend: SharedBackend,
    /// What a guest may store.
    pub limits: Arc<KvLimits>,
}
