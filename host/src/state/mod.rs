//! Durable state: the host side of `wasi:keyvalue`, and the stores behind it.
//!
//! Data is namespaced by city, component and bucket ([`Namespace`]): two cities, or two components
//! of one city, that name the same bucket never see each other's keys. It belongs to the component's
//! name, not to a version, so it outlives restarts and swaps.
//!
//! - [`keyvalue`]: what guests call (`store`, `atomics`, `batch`), with access checks and limits.
//! - [`Backend`]: the small trait a store implements; [`sqlite`] is the durable default,
//!   [`memory`] keeps nothing (for `civic check` and tests).

pub(crate) mod keyvalue;
pub mod memory;
pub mod sqlite;

pub use keyvalue::KvLimits;

use crate::manifest::{CityId, ComponentName};
use std::fmt;
use std::sync::Arc;

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

/// A failure of the store itself (I/O, corruption), or a value `increment` cannot add to.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

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
}

/// Parses a stored counter: ASCII decimal digits, as `increment` writes them.
pub fn parse_counter(value: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError("the value is not a counter (a decimal number written by `increment`)".into()))
}

/// `current + delta`, or an error instead of wrapping around.
pub fn add_to_counter(current: u64, delta: u64) -> Result<u64, StoreError> {
    current.checked_add(delta).ok_or_else(|| StoreError(format!("incrementing {current} by {delta} overflows")))
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

#[cfg(test)]
pub(crate) mod conformance {
    //! The behaviour every backend must have, run against each of them.

    use super::*;

    fn ns(city: &str, component: &str, bucket: &str) -> Namespace {
        Namespace {
            city: CityId::try_from(city.to_owned()).unwrap(),
            component: ComponentName::try_from(component.to_owned()).unwrap(),
            bucket: bucket.to_owned(),
        }
    }

    pub async fn check(backend: SharedBackend) {
        let a = ns("lecce", "kita", "applications");
        let keys = |k: &[&str]| k.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();

        backend
            .write(&a, vec![Write::Set("x".into(), b"1".to_vec()), Write::Set("y".into(), b"2".to_vec())])
            .await
            .unwrap();
        assert_eq!(
            backend.get_many(&a, &keys(&["x", "y", "z"])).await.unwrap(),
            vec![Some(b"1".to_vec()), Some(b"2".to_vec()), None]
        );

        // Namespaces are separate in each of their three parts.
        for other in
            [ns("santander", "kita", "applications"), ns("lecce", "tax", "applications"), ns("lecce", "kita", "other")]
        {
            assert_eq!(backend.get_many(&other, &keys(&["x"])).await.unwrap(), vec![None], "{other}");
            assert!(backend.list_keys(&other, 0, 10).await.unwrap().is_empty());
        }

        backend.write(&a, vec![Write::Delete("x".into()), Write::Delete("absent".into())]).await.unwrap();
        assert_eq!(backend.get_many(&a, &keys(&["x"])).await.unwrap(), vec![None]);

        // Counters start at zero, add exactly, refuse what is not a counter or would overflow.
        assert_eq!(backend.increment(&a, "n", 5).await.unwrap(), 5);
        assert_eq!(backend.increment(&a, "n", 2).await.unwrap(), 7);
        assert_eq!(backend.get_many(&a, &keys(&["n"])).await.unwrap(), vec![Some(b"7".to_vec())]);
        assert!(backend.increment(&a, "y", 1).await.is_ok(), "\"2\" is a counter");
        backend.write(&a, vec![Write::Set("text".into(), b"abc".to_vec())]).await.unwrap();
        assert!(backend.increment(&a, "text", 1).await.is_err());
        backend.write(&a, vec![Write::Set("big".into(), u64::MAX.to_string().into_bytes())]).await.unwrap();
        assert!(backend.increment(&a, "big", 1).await.is_err());

        // Listing is in key order and pages by offset.
        let all = backend.list_keys(&a, 0, 100).await.unwrap();
        assert_eq!(all, keys(&["big", "n", "text", "y"]));
        assert_eq!(backend.list_keys(&a, 1, 2).await.unwrap(), keys(&["n", "text"]));
        assert!(backend.list_keys(&a, 10, 2).await.unwrap().is_empty());
    }
}
