//! `wasi:config/store`: a component reads the `config` table of its manifest entry, all values
//! as strings (the manifest turns numbers into their text and tables into JSON).

use std::collections::BTreeMap;
use wasmtime::component::{HasData, Linker};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/deps/config",
        world: "wasi:config/imports",
    });
}

use bindings::wasi::config::store::{Error, Host};

/// A component's configuration in its city.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant(BTreeMap<String, String>);

impl Grant {
    pub fn new(config: &BTreeMap<String, String>) -> Self {
        Self(config.clone())
    }
}

/// How the store's data reaches the configuration of the component it runs.
pub trait ConfigView {
    fn config(&mut self) -> &Grant;
}

impl Host for &Grant {
    fn get(&mut self, key: String) -> Result<Option<String>, Error> {
        Ok(self.0.get(&key).cloned())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(self.0.iter().map(|(key, value)| (key.clone(), value.clone())).collect())
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a Grant;
}

pub fn add_to_linker<T: ConfigView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    bindings::wasi::config::store::add_to_linker::<T, HasConfig>(linker, T::config)
}
