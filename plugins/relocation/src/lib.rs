//! "A family moves to this city" as one request: the mashup registers the household's new
//! address, applies for a kindergarten place for each child the family names choices for,
//! assesses the household's local taxes, and issues a residence certificate for each person.
//!
//! It implements none of this itself: it only imports the domain contracts
//! (`civic:registry`, `civic:education`, `civic:tax`, `civic:documents`), and each city's
//! manifest links them to the components that serve them there. A step that fails is reported
//! in the receipt beside the steps that succeeded, which stay done. The HTTP API is in README.md.

use civic_sdk::{Params, Problem, Request, Response, Router, documents, education, registry, tax};
use serde::Deserialize;
use serde_json::{Value, json};

civic_sdk::service!(serve);

/// Most people one move may cover (the registry has its own limit too).
const MAX_PERSONS: usize = 12;

fn serve(request: Request) -> Response {
    Router::new().post("/moves", moving_in).handle(&request)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    /// Everyone who moves; the first person is the household's contact and the guardian named
    /// on kindergarten applications.
    persons: Vec<Person>,
    address: registry::Address,
    moved_in: String,
    previous_address: Option<String>,
    #[serde(default)]
    dogs: Vec<tax::Dog>,
    #[serde(default)]
    low_income: bool,
    /// The year's rent in cents, when the new home is a second home.
    second_home_annual_rent_cents: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Person {
    given_name: String,
    family_name: String,
    birth_date: String,
    /// Facility ids, best first: apply for a kindergarten place for this child.
    #[serde(default)]
    kindergarten: Vec<String>,
}

/// The receipt's steps, in the order they ran.
#[derive(Default)]
struct Receipt {
    steps: Vec<Value>,
}

impl Receipt {
    /// Records one step's outcome; `subject` names whom it was for, when it ran per person.
    fn record(&mut self, step: &str, subject: Option<String>, outcome: Result<Value, Problem>) {
        let mut entry = match outcome {
            Ok(result) => json!({ "step": step, "status": "done", "result": result }),
            Err(problem) => json!({ "step": step, "status": "failed", "problem": problem.to_json() }),
        };
        if let Some(subject) = subject {
            entry["for"] = json!(subject);
        }
        self.steps.push(entry);
    }

    fn skip(&mut self, step: &str, subject: String, reason: &str) {
        self.steps.push(json!({ "step": step, "for": subject, "status": "skipped", "reason": reason }));
    }

    fn complete(&self) -> bool {
        self.steps.iter().all(|step| step["status"] == "done")
    }
}

/// `POST /moves`.
fn moving_in(request: &Request, _: &Params) -> Result<Response, Problem> {
    let moving: Move = request.json()?;
    if moving.persons.is_empty() || moving.persons.len() > MAX_PERSONS {
        return Err(Problem::invalid("persons", format!("must list 1 to {MAX_PERSONS} people")));
    }
    let mut receipt = Receipt::default();
    let registered = register(&moving);
    let address = format!(
        "{} {}, {}",
        moving.address.street.trim(),
        moving.address.house_number.trim(),
        moving.address.postal_code.trim()
    );
    let registered_ok = registered.is_ok();
    receipt.record("registration", None, registered);

    let contact = &moving.persons[0];
    for child in moving.persons.iter().filter(|p| !p.kindergarten.is_empty()) {
        let form = education::ApplicationForm {
            child_name: full_name(child),
            birth_date: child.birth_date.clone(),
            guardian: full_name(contact),
            choices: child.kindergarten.clone(),
        };
        let applied = education::apply(&form).map(|application| json!(application));
        receipt.record("kindergarten", Some(full_name(child)), applied.map_err(Problem::from));
    }

    let household = tax::Household {
        members: moving.persons.len() as u32,
        dogs: moving.dogs.clone(),
        low_income: moving.low_income,
        second_home_annual_rent_cents: moving.second_home_annual_rent_cents,
    };
    let assessed = tax::assess(&household).map(|assessment| json!(assessment));
    receipt.record("tax", None, assessed.map_err(Problem::from));

    for person in &moving.persons {
        if !registered_ok {
            receipt.skip(
                "certificate",
                full_name(person),
                "the registration failed, so there is no residence to certify",
            );
            continue;
        }
        let certificate = documents::ResidenceRequest {
            given_name: person.given_name.clone(),
            family_name: person.family_name.clone(),
            birth_date: person.birth_date.clone(),
            address: address.clone(),
            resident_since: moving.moved_in.clone(),
        };
        let issued = documents::issue_residence_certificate(&certificate).map(|signed| json!(signed));
        receipt.record("certificate", Some(full_name(person)), issued.map_err(Problem::from));
    }

    let complete = receipt.complete();
    let body = json!({ "complete": complete, "steps": receipt.steps });
    Ok(Response::json(if complete { 201 } else { 200 }, &body))
}

fn register(moving: &Move) -> Result<Value, Problem> {
    let household = registry::MoveIn {
        persons: moving
            .persons
            .iter()
            .map(|p| registry::Person {
                given_name: p.given_name.clone(),
                family_name: p.family_name.clone(),
                birth_date: p.birth_date.clone(),
            })
            .collect(),
        address: moving.address.clone(),
        moved_in: moving.moved_in.clone(),
        previous_address: moving.previous_address.clone(),
    };
    Ok(json!(registry::register(&household)?))
}

fn full_name(person: &Person) -> String {
    format!("{} {}", person.given_name.trim(), person.family_name.trim())
}
