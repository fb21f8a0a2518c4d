//! Address registration: a household that moves into the city registers its new address. The
//! form is checked against the city's postal codes and the calendar; a registration gets a
//! number that is never given twice (`increment` is atomic) and is kept durably. The HTTP API is
//! in README.md.

use civic_sdk::date::Date;
use civic_sdk::kv::Bucket;
use civic_sdk::registry::exports::{self as registry, Address};
use civic_sdk::{Params, Problem, Request, Response, Router, config};
use serde::{Deserialize, Serialize};

civic_sdk::service!(serve);
civic_sdk::export!(registry = Contract);

/// The bucket the city's manifest must grant (`keyvalue = ["registrations"]`).
const BUCKET: &str = "registrations";
/// Most people one registration may cover.
const MAX_PERSONS: usize = 12;
/// The law's deadline: register within this many days of moving in.
const DEADLINE_DAYS: u32 = 14;

fn serve(request: Request) -> Response {
    Router::new().post("/registrations", register).get("/registrations/:number", show).handle(&request)
}

/// The city's rules, from config.
struct Rules {
    city: String,
    prefix: String,
    postal_codes: Vec<String>,
}

impl Rules {
    fn from_config() -> Result<Self, Problem> {
        Ok(Self {
            city: config::get("city_name").ok_or_else(|| Problem::internal("config `city_name` is not set"))?,
            prefix: config::get("number_prefix").unwrap_or_else(|| "REG".to_owned()),
            postal_codes: config::json("postal_codes")?
                .ok_or_else(|| Problem::internal("config `postal_codes` is not set"))?,
        })
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Person {
    given_name: String,
    family_name: String,
    birth_date: Date,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    persons: Vec<Person>,
    address: Address,
    moved_in: Date,
    previous_address: Option<String>,
}

/// A registration as stored and answered.
#[derive(Serialize, Deserialize)]
struct Registration {
    number: String,
    city: String,
    persons: Vec<Person>,
    address: Address,
    moved_in: Date,
    registered_on: Date,
    /// Registered more than the law's 14 days after moving in.
    late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_address: Option<String>,
}

/// `POST /registrations`.
fn register(request: &Request, _: &Params) -> Result<Response, Problem> {
    let registration = enter(request.json()?)?;
    let location =
        format!("{}/registrations/{}", request.header("x-forwarded-prefix").unwrap_or(""), registration.number);
    Ok(Response::json(201, &registration).header("location", &location))
}

/// Checks the form and keeps the registration under a new number.
fn enter(form: Form) -> Result<Registration, Problem> {
    let rules = Rules::from_config()?;
    let today = Date::today();
    check(&rules, &form, today)?;
    let bucket = Bucket::open(BUCKET)?;
    let number = bucket.increment("next-number", 1)?;
    let registration = Registration {
        number: format!("{}-{}-{number:06}", rules.prefix, &today.to_string()[..4]),
        city: rules.city,
        persons: form.persons,
        address: form.address,
        moved_in: form.moved_in,
        registered_on: today,
        late: form.moved_in.add_days(DEADLINE_DAYS) < today,
        previous_address: form.previous_address.filter(|a| !a.trim().is_empty()),
    };
    bucket.set_json(&record_key(&registration.number), &registration)?;
    Ok(registration)
}

fn check(rules: &Rules, form: &Form, today: Date) -> Result<(), Problem> {
    if form.persons.is_empty() || form.persons.len() > MAX_PERSONS {
        return Err(Problem::invalid("persons", format!("must list 1 to {MAX_PERSONS} people")));
    }
    for (i, person) in form.persons.iter().enumerate() {
        for (field, value) in [("given_name", &person.given_name), ("family_name", &person.family_name)] {
            if value.trim().is_empty() || value.chars().count() > 100 {
                return Err(Problem::invalid(format!("persons[{i}].{field}"), "must be 1 to 100 characters"));
            }
        }
        if person.birth_date > today {
            return Err(Problem::invalid(format!("persons[{i}].birth_date"), "is in the future"));
        }
    }
    let address = &form.address;
    if address.street.trim().is_empty() || address.street.chars().count() > 100 {
        return Err(Problem::invalid("address.street", "must be 1 to 100 characters"));
    }
    let number = address.house_number.trim();
    let digits = number.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let well_formed = (1..=4).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && number.len() - digits.len() <= 1;
    if !well_formed {
        return Err(Problem::invalid(
            "address.house_number",
            "must be a number with at most one letter, like `12` or `12a`",
        ));
    }
    if !rules.postal_codes.contains(&address.postal_code) {
        let reason = format!("`{}` is not a postal code of {}", address.postal_code, rules.city);
        return Err(Problem::invalid("address.postal_code", reason));
    }
    if form.moved_in > today {
        return Err(Problem::invalid("moved_in", "is in the future: register once you have moved in"));
    }
    Ok(())
}

/// `GET /registrations/:number`.
fn show(_: &Request, params: &Params) -> Result<Response, Problem> {
    let number = params.get("number").unwrap_or_default();
    let registration: Option<Registration> = Bucket::open(BUCKET)?.get_json(&record_key(number))?;
    let registration = registration.ok_or_else(|| Problem::not_found(format!("no registration `{number}`")))?;
    Ok(Response::json(200, &registration))
}

fn record_key(number: &str) -> String {
    format!("registration/{number}")
}

/// `civic:registry/registration`: the same registration as `POST /registrations`.
struct Contract;

impl registry::Guest for Contract {
    fn register(household: registry::MoveIn) -> Result<registry::Registration, registry::Failure> {
        let date = |field: String, text: &str| {
            Date::parse(text).ok_or_else(|| Problem::invalid(field, "must be a date written like 2026-03-14"))
        };
        let mut persons = Vec::with_capacity(household.persons.len());
        for (i, person) in household.persons.into_iter().enumerate() {
            let birth_date = date(format!("persons[{i}].birth-date"), &person.birth_date)?;
            persons.push(Person { given_name: person.given_name, family_name: person.family_name, birth_date });
        }
        let registration = enter(Form {
            persons,
            address: household.address,
            moved_in: date("moved-in".to_owned(), &household.moved_in)?,
            previous_address: household.previous_address,
        })?;
        Ok(registry::Registration {
            number: registration.number,
            city: registration.city,
            registered_on: registration.registered_on.to_string(),
            late: registration.late,
        })
    }
}
