//! The host interfaces a guest can import, one unit each, in the wasmtime-wasi-http style: a
//! `Grant` built from the component's manifest entry when it is loaded (what it may use), the
//! state each instance's store holds, and an `add_to_linker` generic over a view of the store —
//! so a capability never names the store type that composes them (`sandbox::StoreData`, which
//! is also where they are all listed).
//!
//! Key-value buckets (`crate::state`) and links to other components (`crate::link`) are
//! capabilities too; they live with their backends and their type checks.

pub(crate) mod config;
pub(crate) mod logging;
pub(crate) mod outbound;
pub(crate) mod wasi;
