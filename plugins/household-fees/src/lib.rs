//! Municipal household fees, the way many Spanish cities charge them: a yearly waste-collection
//! fee made of a base per household and a part per member, and a flat yearly fee per registered
//! dog. Rates, exempt dog purposes and the low-income reduction come from the city's config;
//! amounts are integer cents, reductions round in the citizen's favour.
//!
//! The same rules answer `POST /assessments` and the `civic:tax/assessment` contract, so a city
//! can link its mashups to this component instead of `local-tax`. The HTTP API is in README.md.

use civic_sdk::tax::exports::{self as tax, Assessment, Household, Line};
use civic_sdk::{Params, Problem, Request, Response, Router, config};
use serde::Serialize;

civic_sdk::service!(serve);
civic_sdk::export!(tax = Contract);

/// The most members one household may declare.
const MAX_MEMBERS: u32 = 30;
/// The most dogs one assessment covers.
const MAX_DOGS: usize = 20;
/// Purposes a city may exempt from the dog fee.
const PURPOSES: [&str; 4] = ["guide", "rescue", "therapy", "herding"];

fn serve(request: Request) -> Response {
    Router::new().get("/fees", fees).post("/assessments", assessment).handle(&request)
}

/// The city's fees, from config.
#[derive(Serialize)]
struct Fees {
    waste_base_cents: u64,
    waste_per_member_cents: u64,
    dog_cents: u64,
    exempt_purposes: Vec<String>,
    /// Off the waste fee for low-income households, in percent.
    low_income_reduction_percent: u8,
}

impl Fees {
    fn from_config() -> Result<Self, Problem> {
        let required = |key: &str| -> Result<u64, Problem> {
            config::parse(key)?.ok_or_else(|| Problem::internal(format_args!("config `{key}` is not set")))
        };
        let fees = Self {
            waste_base_cents: required("waste_base_cents")?,
            waste_per_member_cents: required("waste_per_member_cents")?,
            dog_cents: required("dog_cents")?,
            exempt_purposes: config::json("exempt_purposes")?.unwrap_or_default(),
            low_income_reduction_percent: config::parse("low_income_reduction_percent")?.unwrap_or(0),
        };
        if fees.low_income_reduction_percent > 100 {
            return Err(Problem::internal("config `low_income_reduction_percent` is above 100"));
        }
        Ok(fees)
    }
}

/// `GET /fees`: what this city charges.
fn fees(_: &Request, _: &Params) -> Result<Response, Problem> {
    Ok(Response::json(200, &Fees::from_config()?))
}

/// `POST /assessments`: one line for the waste fee, one per dog.
fn assessment(request: &Request, _: &Params) -> Result<Response, Problem> {
    Ok(Response::json(200, &assess(&Fees::from_config()?, request.json()?)?))
}

/// Waste and dog fees by household; a dog's being dangerous, and the rent of a second home,
/// change nothing here.
fn assess(fees: &Fees, household: Household) -> Result<Assessment, Problem> {
    if !(1..=MAX_MEMBERS).contains(&household.members) {
        return Err(Problem::invalid("members", format!("must be 1 to {MAX_MEMBERS}")));
    }
    if household.dogs.len() > MAX_DOGS {
        return Err(Problem::invalid("dogs", format!("must list at most {MAX_DOGS} dogs")));
    }
    let waste = fees.waste_base_cents + fees.waste_per_member_cents * u64::from(household.members);
    let mut lines = vec![Line {
        tax: "waste-fee".to_owned(),
        item: "household".to_owned(),
        cents: waste,
        reason: match household.members {
            1 => "base and 1 member".to_owned(),
            members => format!("base and {members} members"),
        },
    }];
    for (i, dog) in household.dogs.into_iter().enumerate() {
        let name = dog.name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            return Err(Problem::invalid(format!("dogs[{i}].name"), "must be 1 to 50 characters"));
        }
        let (cents, reason) = match dog.purpose {
            Some(purpose) if !PURPOSES.contains(&purpose.as_str()) => {
                let reason = format!("`{purpose}` is not one of {}", PURPOSES.join(", "));
                return Err(Problem::invalid(format!("dogs[{i}].purpose"), reason));
            }
            Some(purpose) if fees.exempt_purposes.contains(&purpose) => (0, format!("exempt: {purpose} dog")),
            _ => (fees.dog_cents, "registered dog".to_owned()),
        };
        lines.push(Line { tax: "dog-fee".to_owned(), item: name.to_owned(), cents, reason });
    }
    let reduction_cents =
        if household.low_income { waste * u64::from(fees.low_income_reduction_percent) / 100 } else { 0 };
    let total_cents = lines.iter().map(|line| line.cents).sum::<u64>() - reduction_cents;
    Ok(Assessment { lines, reduction_cents, total_cents })
}

/// `civic:tax/assessment`: the same assessment as `POST /assessments`. Second homes pay the same
/// fees here, so the declared rent does not change the result.
struct Contract;

impl tax::Guest for Contract {
    fn assess(household: Household) -> Result<Assessment, tax::Failure> {
        Ok(assess(&Fees::from_config()?, household)?)
    }
}
