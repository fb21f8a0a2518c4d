//! A component that only serves a contract: a flat `contract-only-tax` of 50 cents per member,
//! and no `wasi:http/incoming-handler` export, so a city can link to it but not route to it.

use civic_sdk::tax::exports::{Assessment, Failure, Guest, Household, Line};

civic_sdk::export!(tax = ContractOnly);

struct ContractOnly;

impl Guest for ContractOnly {
    fn assess(household: Household) -> Result<Assessment, Failure> {
        let cents = 50 * u64::from(household.members);
        let line =
            Line { tax: "contract-only-tax".into(), item: "household".into(), cents, reason: "per member".into() };
        Ok(Assessment { lines: vec![line], reduction_cents: 0, total_cents: cents })
    }
}
