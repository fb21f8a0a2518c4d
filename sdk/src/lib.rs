//! Write Civic public-service components in Rust.
//!
//! A component is a plain Rust library crate built for `wasm32-wasip2`. It depends only on this
//! crate: no WIT files, no binding generator. It names its request handler with [`service!`],
//! reads its city's configuration with [`config`], keeps durable data in [`kv`] buckets, calls
//! other HTTP services (a city's legacy systems) with [`outbound`], provides and calls the
//! domain [`contracts`] that mashups are wired from ([`export!`], [`tax::assess`], …), and logs
//! with [`log`]; the
//! Civic host routes requests to it, gives it a fresh sandbox per request, and shows its log
//! lines tagged with the city and the component.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "hello-city"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! civic-sdk = { path = "../../sdk" }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use civic_sdk::{Request, Response, config};
//!
//! civic_sdk::service!(greet);
//!
//! fn greet(request: Request) -> Response {
//!     let city = config::get("city_name").unwrap_or_else(|| "this city".to_owned());
//!     match request.query_param("name") {
//!         Some(name) => Response::text(200, format!("Hello {name}, welcome to {city}!")),
//!         None => Response::text(200, format!("Hello from {city}!")),
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`, or let `civic up` do it.
//!
//! The component is a standard `wasi:http/proxy` component: it also runs on any other host that
//! implements `wasi:http`, `wasi:config` and `wasi:logging`.

#![deny(missing_docs)]

/// `wit_bindgen::generate!` over the platform's WIT (`wit/` inside this crate, so the crate is
/// whole when published; the repository's `wit/` is a link to it), with the domain contracts of
/// `wit/contracts`, for one world and options.
macro_rules! bindings {
    ($($options:tt)*) => {
        wit_bindgen::generate!({
            path: [
                "wit/contracts/registry.wit",
                "wit/contracts/education.wit",
                "wit/contracts/tax.wit",
                "wit/contracts/documents.wit",
                "wit",
            ],
            $($options)*
        });
    };
}

pub mod config;
pub mod contracts;
pub mod date;
mod http;
pub mod kv;
pub mod log;
pub mod outbound;
mod problem;
mod router;

pub use ::http::{Method, StatusCode, header};
pub use contracts::{documents, education, registry, tax};
pub use http::{IntoResponse, Request, Response};
pub use problem::Problem;
pub use router::{Handler, Params, Router};

/// Names the function that answers this component's HTTP requests.
///
/// The function takes a [`Request`] and returns anything that implements [`IntoResponse`]: a
/// [`Response`], or a `Result` whose both sides do. Use it once per crate. It also embeds the
/// crate's [`metadata!`].
///
/// ```
/// civic_sdk::service!(answer);
///
/// fn answer(_: civic_sdk::Request) -> civic_sdk::Response {
///     civic_sdk::Response::text(200, "ok")
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! service {
    ($handler:path) => {
        #[doc(hidden)]
        struct __CivicService;

        impl $crate::__private::IncomingHandler for __CivicService {
            fn handle(
                request: $crate::__private::IncomingRequest,
                response_out: $crate::__private::ResponseOutparam,
            ) {
                $crate::__private::serve(request, response_out, $handler)
            }
        }

        $crate::__private::bindings::__export_service!(
            __CivicService with_types_in $crate::__private::bindings
        );

        $crate::metadata!();
    };
}

/// Embeds the crate's package metadata — `description`, `version`, `license`, `authors` and
/// `repository` from its `Cargo.toml` — as the `wasm-metadata` custom sections that
/// cargo-component and wkg write, which `civic push` publishes as the artifact's annotations
/// (and a registry's catalogue shows). [`service!`] does it; a crate that only provides contracts
/// calls it once itself. `license` must be an SPDX expression and `repository` a URL.
#[macro_export]
macro_rules! metadata {
    () => {
        $crate::__section!("description", env!("CARGO_PKG_DESCRIPTION"));
        $crate::__section!("version", env!("CARGO_PKG_VERSION"));
        $crate::__section!("licenses", env!("CARGO_PKG_LICENSE"));
        $crate::__section!("authors", env!("CARGO_PKG_AUTHORS"));
        $crate::__section!("source", env!("CARGO_PKG_REPOSITORY"));
    };
}

/// One custom section holding `$value`'s bytes; none when it is empty.
#[doc(hidden)]
#[macro_export]
macro_rules! __section {
    ($name:literal, $value:expr) => {
        const _: () = {
            const VALUE: &str = $value;
            #[expect(unsafe_code, reason = "a custom section is data the linker keeps as it is")]
            #[unsafe(link_section = $name)]
            #[used]
            static SECTION: [u8; VALUE.len()] =
                *VALUE.as_bytes().first_chunk().expect("the array is as long as the value");
        };
    };
}

/// Provides domain contracts beside the HTTP API: `export!(tax = Rules)` where `Rules`
/// implements [`tax::exports::Guest`]; several at once as `export!(tax = A, registry = B)`.
/// See [`tax`] for an example.
#[macro_export]
macro_rules! export {
    ($($contract:ident = $implementation:ident),+ $(,)?) => {
        $($crate::$contract::provider::export!($implementation with_types_in $crate::$contract::provider);)+
    };
}

/// What [`service!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::http::serve;
    pub use bindings::exports::wasi::http::incoming_handler::Guest as IncomingHandler;
    pub use bindings::wasi::http::types::{IncomingRequest, ResponseOutparam};

    #[expect(missing_docs, reason = "generated bindings")]
    pub mod bindings {
        bindings!(
            world: "civic:platform/service",
            pub_export_macro: true,
            export_macro_name: "__export_service",
            // The contracts are bound once, in their modules, with their types' serde derives.
            with: {
                "civic:registry/registration@1.0.0": crate::registry::consumer::civic::registry::registration,
                "civic:education/enrollment@1.0.0": crate::education::consumer::civic::education::enrollment,
                "civic:tax/assessment@1.0.0": crate::tax::consumer::civic::tax::assessment,
                "civic:documents/certificates@1.0.0": crate::documents::consumer::civic::documents::certificates,
            },
            generate_all,
        );
    }
}
