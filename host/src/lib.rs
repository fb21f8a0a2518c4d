//! Civic: a WebAssembly host for composable public-service components.
//!
//! A city writes a manifest; the host loads the components it names, serves them over HTTP, and
//! keeps each request in a fresh sandbox. The modules follow the path of a request:
//!
//! - [`manifest`]: city manifests, parsed, checked and resolved into specs.
//! - [`engine`]: the wasmtime engine and linker; compiling components, once per content hash.
//! - [`runtime`]: the live set of cities built from the specs.
//! - [`slot`]: a city's component and the version currently serving it; [`swap`]: replacing
//!   that version while the host serves, and rolling back.
//! - [`limits`]: each component's budgets of memory, time, concurrency and request body.
//! - [`http`]: the listener, the route table, and one request's life.
//! - [`link`]: the micro-proxy that forwards a component's `civic:*` imports to the components
//!   its city links them to, and the type checks of those links.
//! - [`store`]: the sandbox state behind each instance; [`logging`], [`outbound`] and
//!   [`state`] (durable key-value buckets) are the host interfaces it reaches.
//! - [`admin`]: the operators' API (swap, rollback, reload, status, health, [`metrics`]);
//!   [`reload`]: re-reading the manifests, on request or when they change.
//! - [`data_dir`]: the locked directory holding the state database and the compile cache.
//! - [`cli`]: the `civic` commands; [`cargo`]: building plugin crates for `civic up`.

#![deny(missing_docs)]

pub mod admin;
pub mod cargo;
pub mod cli;
pub mod data_dir;
pub mod engine;
pub mod http;
pub mod limits;
pub mod link;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod outbound;
pub mod reload;
pub mod runtime;
pub mod slot;
pub mod state;
pub mod store;
pub mod swap;
