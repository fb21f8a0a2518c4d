//! Durable key-value buckets, through the standard `wasi:keyvalue` interfaces.
//!
//! A component may open only the buckets its entry in the city's manifest lists
//! (`keyvalue = ["applications"]`); the host keeps each city's and each component's data apart.
//! A write that returned `Ok` is on disk.
//!
//! ```no_run
//! use civic_sdk::kv::Bucket;
//!
//! # fn main() -> Result<(), civic_sdk::kv::Error> {
//! let bucket = Bucket::open("applications")?;
//! bucket.set_json("application/7", &serde_json::json!({ "child": "Mia", "choices": ["Am Deich"] }))?;
//! let number = bucket.increment("next-number", 1)?; // atomic: no two callers get the same number
//! # Ok(())
//! # }
//! ```

use crate::__private::bindings::wasi::keyvalue::{atomics, batch, store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// Why a key-value call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bucket is not in this component's `keyvalue` list in the city's manifest.
    AccessDenied,
    /// The host has no such store.
    NoSuchStore,
    /// A stored value is not the JSON the caller asked for.
    Decode(String),
    /// The store cannot be reached now (its server is down, say); worth trying again soon.
    /// [`Problem`](crate::Problem) answers it with 503 and `Retry-After`.
    Unavailable(String),
    /// Anything else, as the host described it (a limit exceeded, say).
    Other(String),
}

/// How the host's message begins when the store cannot be reached (wasi:keyvalue has no error
/// case of its own for it).
const UNAVAILABLE: &str = "unavailable: ";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccessDenied => {
                f.write_str("access to the bucket is denied (is it in the manifest's `keyvalue` list?)")
            }
            Self::NoSuchStore => f.write_str("no such store"),
            Self::Decode(message) => write!(f, "stored value is not the expected JSON: {message}"),
            Self::Unavailable(message) | Self::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::AccessDenied => Self::AccessDenied,
            store::Error::NoSuchStore => Self::NoSuchStore,
            store::Error::Other(message) => match message.strip_prefix(UNAVAILABLE) {
                Some(cause) => Self::Unavailable(cause.to_owned()),
                None => Self::Other(message),
            },
        }
    }
}

/// An open bucket.
pub struct Bucket(store::Bucket);

impl Bucket {
    /// Opens the bucket called `name`.
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(Self(store::open(name)?))
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.get(key)?)
    }

    /// Stores `value` at `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        Ok(self.0.set(key, value)?)
    }

    /// Removes `key`; removing an absent key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        Ok(self.0.delete(key)?)
    }

    /// Whether `key` has a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.0.exists(key)?)
    }

    /// Every key, in byte order.
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.0.list_keys(cursor)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns the new value.
    /// Atomic: concurrent callers each get a different result.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
        Ok(atomics::increment(&self.0, key, delta)?)
    }

    /// The counter at `key` as `increment` left it, without changing it (0 when absent).
    pub fn counter(&self, key: &str) -> Result<u64, Error> {
        let Some(bytes) = self.get(key)? else { return Ok(0) };
        let text = String::from_utf8_lossy(&bytes);
        text.parse().map_err(|_| Error::Decode(format!("`{key}` holds `{text}`, not a counter")))
    }

    /// The values of `keys`, in order.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let found = batch::get_many(&self.0, keys)?;
        Ok(found.into_iter().map(|entry| entry.map(|(_, value)| value)).collect())
    }

    /// Stores every entry, all or none.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        Ok(batch::set_many(&self.0, entries)?)
    }

    /// The value at `key`, decoded from JSON.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)?.map(|bytes| serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))).transpose()
    }

    /// The values at `keys`, in order, decoded from JSON.
    pub fn get_many_json<T: DeserializeOwned>(&self, keys: &[String]) -> Result<Vec<Option<T>>, Error> {
        let decode = |bytes: Vec<u8>| serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()));
        self.get_many(keys)?.into_iter().map(|value| value.map(decode).transpose()).collect()
    }

    /// Stores `value` at `key` as JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Other(format!("cannot encode JSON: {e}")))?;
        self.set(key, &bytes)
    }
}
