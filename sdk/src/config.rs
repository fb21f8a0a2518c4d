//! The component's configuration in the city that runs it: the `config` table of its entry in
//! the city's manifest, read through the standard `wasi:config/store` interface.
//!
//! Values are strings; [`parse`] and [`json`] read typed ones. A table or array in the manifest
//! (`facilities = [{ id = "am-deich", places = 40 }]`) arrives as JSON text, for [`json`].
//!
//! ```no_run
//! # fn main() -> Result<(), civic_sdk::config::Error> {
//! let city = civic_sdk::config::get("city_name").unwrap_or_else(|| "this city".to_owned());
//! let max_choices: u32 = civic_sdk::config::parse("max_choices")?.unwrap_or(3);
//! # Ok(())
//! # }
//! ```

use crate::__private::bindings::wasi::config::store;
use serde::de::DeserializeOwned;
use std::fmt;
use std::str::FromStr;

/// A config value that is set but is not what the component expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The key.
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for Error {}

/// `key` parsed as `T` (a number, a boolean…), or `None` when the city did not set it.
pub fn parse<T: FromStr>(key: &str) -> Result<Option<T>, Error>
where
    T::Err: fmt::Display,
{
    get(key)
        .map(|text| {
            text.trim()
                .parse()
                .map_err(|e| Error { key: key.to_owned(), message: format!("`{text}` does not parse: {e}") })
        })
        .transpose()
}

/// `key` read as JSON of type `T` (a table or array in the manifest), or `None` when not set.
pub fn json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    get(key)
        .map(|text| serde_json::from_str(&text).map_err(|e| Error { key: key.to_owned(), message: e.to_string() }))
        .transpose()
}

/// The value of `key`, or `None` when the city did not set it (or the host's config source
/// failed, which Civic's never does: its config is the manifest).
pub fn get(key: &str) -> Option<String> {
    store::get(key).ok().flatten()
}

/// Every key and value the city set for this component.
pub fn all() -> Vec<(String, String)> {
    store::get_all().unwrap_or_default()
}
