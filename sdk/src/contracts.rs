//! The domain contracts (`wit/contracts`): interfaces that make services interchangeable
//! between vendors and cities. Each has a module here with both sides of it:
//!
//! - to **call** a contract, use the module's functions and types, like [`tax::assess`]; the
//!   city's manifest links the contract to the component that serves it
//!   (`links = { "civic:tax/assessment@1" = "local-tax" }`), and the host forwards the call;
//! - to **provide** a contract beside the HTTP API, implement the module's `exports::Guest`
//!   trait with the `exports` types and name the implementation with [`export!`](crate::export).
//!
//! A contract refuses with a `Failure`, which converts to and from [`Problem`](crate::Problem),
//! so `?` works on both sides. Its records serialize with serde as the contract names them (in
//! snake case), so an HTTP API can take and answer them as they are.
//!
//! Calling, in a mashup (the host answers 502 for the whole request if the callee traps):
//!
//! ```
//! use civic_sdk::Problem;
//! use civic_sdk::tax::{Dog, Household};
//!
//! fn yearly_dog_tax(dogs: &[&str]) -> Result<u64, Problem> {
//!     let dogs = dogs.iter().map(|name| Dog { name: name.to_string(), dangerous: false, purpose: None });
//!     let household = Household {
//!         members: 2,
//!         dogs: dogs.collect(),
//!         low_income: false,
//!         second_home_annual_rent_cents: None,
//!     };
//!     Ok(civic_sdk::tax::assess(&household)?.total_cents)
//! }
//! # fn main() {}
//! ```
//!
//! Providing, beside an HTTP API:
//!
//! ```
//! use civic_sdk::Problem;
//! use civic_sdk::tax::exports::{Assessment, Failure, Guest, Household, Line};
//!
//! civic_sdk::export!(tax = FlatFee);
//!
//! struct FlatFee;
//!
//! impl Guest for FlatFee {
//!     fn assess(household: Household) -> Result<Assessment, Failure> {
//!         if household.members == 0 {
//!             return Err(Problem::invalid("members", "must be at least 1").into());
//!         }
//!         let cents = 4_000 * u64::from(household.members);
//!         let line = Line { tax: "waste-fee".into(), item: "household".into(), cents, reason: "per member".into() };
//!         Ok(Assessment { lines: vec![line], reduction_cents: 0, total_cents: cents })
//!     }
//! }
//! # fn main() {}
//! ```

use crate::Problem;

/// The bindings of one contract's world. Its types (de)serialize with serde, so a plugin's HTTP
/// API can take and answer them as they are, with the serde attributes given per type and field.
macro_rules! contract_bindings {
    ($world:literal, types: $types:tt, fields: $fields:tt $(, $($more:tt)*)?) => {
        bindings!(
            world: $world,
            additional_derives: [serde::Serialize, serde::Deserialize],
            additional_type_attributes: $types,
            additional_member_attributes: $fields,
            $($($more)*)?
        );
    };
}

/// One module per contract: the calling side at its root, the providing side in `exports`, and
/// the conversions between its `Failure` and [`Problem`].
macro_rules! contract {
    (
        $(#[$doc:meta])* $package:ident / $interface:ident,
        consumer: $consumer:literal, provider: $provider:literal,
        serde: { types: $types:tt, fields: $fields:tt $(,)? } $(,)?
    ) => {
        $(#[$doc])*
        pub mod $package {
            pub use consumer::civic::$package::$interface::*;

            /// The providing side: implement `Guest` and name it with [`export!`](crate::export).
            pub mod exports {
                pub use super::provider::exports::civic::$package::$interface::*;
            }

            #[doc(hidden)]
            pub mod consumer {
                contract_bindings!($consumer, types: $types, fields: $fields, generate_all);
            }

            #[doc(hidden)]
            pub mod provider {
                contract_bindings!($provider, types: $types, fields: $fields, pub_export_macro: true);
            }

            impl From<Failure> for crate::Problem {
                fn from(failure: Failure) -> Self {
                    use crate::Problem;
                    match failure {
                        Failure::Invalid(InvalidField { field, reason }) if field.is_empty() => {
                            Problem::bad_request(reason)
                        }
                        Failure::Invalid(InvalidField { field, reason }) => Problem::invalid(field, reason),
                        Failure::NotFound(detail) => Problem::not_found(detail),
                        Failure::Refused(detail) => Problem::conflict(detail),
                        Failure::Unavailable(detail) => Problem::new(503, detail),
                    }
                }
            }

            impl From<crate::Problem> for exports::Failure {
                fn from(problem: crate::Problem) -> Self {
                    match super::Refusal::from(problem) {
                        super::Refusal::Invalid(field, reason) => Self::Invalid(exports::InvalidField { field, reason }),
                        super::Refusal::NotFound(detail) => Self::NotFound(detail),
                        super::Refusal::Refused(detail) => Self::Refused(detail),
                        super::Refusal::Unavailable(detail) => Self::Unavailable(detail),
                    }
                }
            }
        }
    };
}

contract!(
    /// `civic:registry/registration`: registering where people live (the `residency` plugin).
    registry / registration,
    consumer: "civic:platform/registry-consumer",
    provider: "civic:platform/registry-provider",
    serde: {
        types: { "civic:registry/registration@1.0.0/address": [#[serde(deny_unknown_fields)]] },
        fields: {},
    },
);
contract!(
    /// `civic:education/enrollment`: applying for a daycare or kindergarten place (the
    /// `kindergarten` plugin).
    education / enrollment,
    consumer: "civic:platform/education-consumer",
    provider: "civic:platform/education-provider",
    serde: {
        types: { "civic:education/enrollment@1.0.0/placement": [#[serde(rename_all = "kebab-case")]] },
        fields: {},
    },
);
contract!(
    /// `civic:tax/assessment`: a household's yearly local taxes (the `local-tax` and
    /// `household-fees` plugins).
    tax / assessment,
    consumer: "civic:platform/tax-consumer",
    provider: "civic:platform/tax-provider",
    serde: {
        types: {
            "civic:tax/assessment@1.0.0/dog": [#[serde(deny_unknown_fields)]],
            "civic:tax/assessment@1.0.0/household": [#[serde(deny_unknown_fields)]],
        },
        fields: {
            "civic:tax/assessment@1.0.0/dog.dangerous": [#[serde(default)]],
            "civic:tax/assessment@1.0.0/household.dogs": [#[serde(default)]],
            "civic:tax/assessment@1.0.0/household.low-income": [#[serde(default)]],
        },
    },
);
contract!(
    /// `civic:documents/certificates`: signed residence certificates (the `census-certificate`
    /// plugin).
    documents / certificates,
    consumer: "civic:platform/documents-consumer",
    provider: "civic:platform/documents-provider",
    serde: { types: {}, fields: {} },
);

/// The four ways every contract refuses, read off a [`Problem`].
enum Refusal {
    Invalid(String, String),
    NotFound(String),
    Refused(String),
    Unavailable(String),
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        match problem.status().as_u16() {
            400 => match problem.invalid_fields().first() {
                Some((field, reason)) => Self::Invalid(field.clone(), reason.clone()),
                None => Self::Invalid(String::new(), problem.detail().to_owned()),
            },
            404 => Self::NotFound(problem.detail().to_owned()),
            401..=403 | 405..=499 => Self::Refused(problem.detail().to_owned()),
            _ => Self::Unavailable(problem.detail().to_owned()),
        }
    }
}
