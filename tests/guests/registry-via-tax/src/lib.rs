//! A registry for link tests that is itself a caller: each registration assesses the household's
//! tax through its own link and reports the assessment's reason as the registration number. With
//! `relocation` linked to it and to the same tax component, the tax is reached by two paths in
//! one request (relocation → tax, relocation → registry → tax).

use civic_sdk::Problem;
use civic_sdk::registry::exports::{Failure, Guest, MoveIn, Registration};
use civic_sdk::tax::{self, Household};

civic_sdk::export!(registry = ViaTax);

struct ViaTax;

impl Guest for ViaTax {
    fn register(moving: MoveIn) -> Result<Registration, Failure> {
        let members = u32::try_from(moving.persons.len()).unwrap_or(u32::MAX);
        let household = Household { members, dogs: Vec::new(), low_income: false, second_home_annual_rent_cents: None };
        let assessed = tax::assess(&household).map_err(Problem::from)?;
        let reason = assessed.lines.into_iter().next().map(|line| line.reason).unwrap_or_default();
        Ok(Registration {
            number: format!("via tax: {reason}"),
            city: "lecce".into(),
            registered_on: moving.moved_in,
            late: false,
        })
    }
}
