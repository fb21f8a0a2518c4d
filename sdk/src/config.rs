//! The component's configuration in the city that runs it: the `config` table of its entry in
//! the city's manifest, read through the standard `wasi:config/store` interface.
//!
//! ```no_run
//! let city = civic_sdk::config::get("city_name").unwrap_or_else(|| "this city".to_owned());
//! ```

use crate::__private::bindings::wasi::config::store;

/// The value of `key`, or `None` when the city did not set it (or the host's config source
/// failed, which Civic's never does: its config is the manifest).
pub fn get(key: &str) -> Option<String> {
    store::get(key).ok().flatten()
}

/// Every key and value the city set for this component.
pub fn all() -> Vec<(String, String)> {
    store::get_all().unwrap_or_default()
}
