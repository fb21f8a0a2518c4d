//! Daycare and kindergarten places. A city lists its facilities and their places in config;
//! families apply with ranked choices; a child old enough gets a place at the first choice that
//! has one, or goes on the waiting list; families ask for the status and may withdraw.
//!
//! Places are never over-booked, however many applications arrive at once: each facility hands
//! out its places by ticket (`increment` is atomic). A place freed by a withdrawal goes to the
//! family that has waited longest for that facility, or, when nobody waits, back to the facility
//! through a second ticket counter that can never pass the number of places given back. The
//! HTTP API is in README.md; applying also serves the `civic:education/enrollment` contract.

use civic_sdk::date::Date;
use civic_sdk::education::exports as education;
use civic_sdk::kv::Bucket;
use civic_sdk::{Params, Problem, Request, Response, Router, config};
use serde::{Deserialize, Serialize};

civic_sdk::service!(serve);
civic_sdk::export!(education = Contract);

/// The bucket the city's manifest must grant (`keyvalue = ["applications"]`).
const BUCKET: &str = "applications";

fn serve(request: Request) -> Response {
    Router::new()
        .get("/facilities", facilities)
        .post("/applications", apply)
        .get("/applications/:id", show)
        .delete("/applications/:id", withdraw)
        .handle(&request)
}

/// A facility, from the city's config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Facility {
    id: String,
    name: String,
    places: u64,
}

/// The city's rules, from config.
struct Rules {
    facilities: Vec<Facility>,
    min_age_months: u32,
    max_age_months: u32,
    max_choices: usize,
}

impl Rules {
    fn from_config() -> Result<Self, Problem> {
        let facilities: Vec<Facility> =
            config::json("facilities")?.ok_or_else(|| Problem::internal("config `facilities` is not set"))?;
        Ok(Self {
            facilities,
            min_age_months: config::parse("min_age_months")?.unwrap_or(12),
            max_age_months: config::parse("max_age_months")?.unwrap_or(78),
            max_choices: config::parse("max_choices")?.unwrap_or(3),
        })
    }

    fn facility(&self, id: &str) -> Option<&Facility> {
        self.facilities.iter().find(|f| f.id == id)
    }
}

/// What a family sends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    child_name: String,
    birth_date: String,
    guardian: String,
    choices: Vec<String>,
}

/// An application as stored and answered.
#[derive(Serialize, Deserialize)]
struct Application {
    id: String,
    child_name: String,
    birth_date: String,
    guardian: String,
    choices: Vec<String>,
    status: Status,
    /// The facility that gave the place, while `placed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    facility: Option<String>,
    submitted: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    Placed,
    Waiting,
    Withdrawn,
}

/// `GET /facilities`: every facility with its free places.
fn facilities(_: &Request, _: &Params) -> Result<Response, Problem> {
    let rules = Rules::from_config()?;
    let bucket = Bucket::open(BUCKET)?;
    let mut listed = Vec::new();
    for facility in &rules.facilities {
        let free = Seats::of(&bucket, facility).free()?;
        listed.push(FacilityView { id: &facility.id, name: &facility.name, places: facility.places, free });
    }
    Ok(Response::json(200, &listed))
}

#[derive(Serialize)]
struct FacilityView<'a> {
    id: &'a str,
    name: &'a str,
    places: u64,
    free: u64,
}

/// `POST /applications`: checks the form, then places the child or puts it on the waiting list.
fn apply(request: &Request, _: &Params) -> Result<Response, Problem> {
    let application = admit(request.json()?)?;
    let location = format!("{}/applications/{}", request.header("x-forwarded-prefix").unwrap_or(""), application.id);
    Ok(Response::json(201, &application).header("location", &location))
}

/// Places the child at the first choice with a free place, or puts it on the waiting list.
fn admit(form: Form) -> Result<Application, Problem> {
    let rules = Rules::from_config()?;
    let child_name = form.child_name.trim();
    if child_name.is_empty() || child_name.chars().count() > 100 {
        return Err(Problem::invalid("child_name", "must be 1 to 100 characters"));
    }
    let guardian = form.guardian.trim();
    if guardian.is_empty() || guardian.chars().count() > 100 {
        return Err(Problem::invalid("guardian", "must be 1 to 100 characters"));
    }
    let born = Date::parse(&form.birth_date)
        .ok_or_else(|| Problem::invalid("birth_date", "must be a date written like 2022-03-14"))?;
    let today = Date::today();
    let months = born.months_until(today).ok_or_else(|| Problem::invalid("birth_date", "is in the future"))?;
    if months < rules.min_age_months || months > rules.max_age_months {
        let reason = format!(
            "makes the child {months} months old; this city takes children from {} to {} months",
            rules.min_age_months, rules.max_age_months
        );
        return Err(Problem::invalid("birth_date", reason));
    }
    check_choices(&rules, &form.choices)?;

    let bucket = Bucket::open(BUCKET)?;
    let mut facility = None;
    for choice in &form.choices {
        let chosen = rules.facility(choice).expect("choices were checked");
        if Seats::of(&bucket, chosen).claim()? {
            facility = Some(choice.clone());
            break;
        }
    }
    let number = bucket.increment("next-number", 1)?;
    let application = Application {
        id: format!("K-{number}"),
        child_name: child_name.to_owned(),
        birth_date: born.to_string(),
        guardian: guardian.to_owned(),
        choices: form.choices,
        status: if facility.is_some() { Status::Placed } else { Status::Waiting },
        facility,
        submitted: today.to_string(),
    };
    bucket.set_json(&record_key(&application.id), &application)?;
    Ok(application)
}

fn check_choices(rules: &Rules, choices: &[String]) -> Result<(), Problem> {
    if choices.is_empty() || choices.len() > rules.max_choices {
        let reason = format!("must name 1 to {} facilities, best first", rules.max_choices);
        return Err(Problem::invalid("choices", reason));
    }
    for (i, choice) in choices.iter().enumerate() {
        if rules.facility(choice).is_none() {
            let known: Vec<_> = rules.facilities.iter().map(|f| f.id.as_str()).collect();
            let reason = format!("`{choice}` is not a facility here (there are: {})", known.join(", "));
            return Err(Problem::invalid(format!("choices[{i}]"), reason));
        }
        if choices[..i].contains(choice) {
            return Err(Problem::invalid(format!("choices[{i}]"), format!("names `{choice}` twice")));
        }
    }
    Ok(())
}

/// `GET /applications/:id`.
fn show(_: &Request, params: &Params) -> Result<Response, Problem> {
    let (_, application) = load(params)?;
    Ok(Response::json(200, &application))
}

/// `DELETE /applications/:id`: withdraws. A place held goes to the family that has waited
/// longest for that facility, or back to the facility when nobody waits for it.
///
/// Two one-shot tokens (`increment` returning 1 wins) keep this exact under concurrency: a
/// placed application is withdrawn once (`withdrawal/ID`), and a waiting one is settled once
/// (`settled/ID`) — either withdrawn by its family or given a place by someone else's withdrawal.
fn withdraw(_: &Request, params: &Params) -> Result<Response, Problem> {
    let (bucket, mut application) = load(params)?;
    let id = application.id.clone();
    let won = |token: String| -> Result<bool, Problem> { Ok(bucket.increment(&token, 1)? == 1) };
    match application.status {
        Status::Withdrawn => return Err(Problem::conflict(format!("application {id} is already withdrawn"))),
        Status::Waiting if !won(settled_key(&id))? => {
            let detail = format!("application {id} was just given a place; withdraw again to give it up");
            return Err(Problem::conflict(detail));
        }
        Status::Placed if !won(format!("withdrawal/{id}"))? => {
            return Err(Problem::conflict(format!("application {id} is already withdrawn")));
        }
        Status::Waiting | Status::Placed => {}
    }
    if let Some(facility) = application.facility.take() {
        let rules = Rules::from_config()?;
        if let Some(facility) = rules.facility(&facility) {
            hand_on(&bucket, facility)?;
        }
    }
    application.status = Status::Withdrawn;
    bucket.set_json(&record_key(&id), &application)?;
    Ok(Response::json(200, &application))
}

/// Gives a freed place at `facility` to the earliest waiting application that chose it, or back
/// to the facility's seats when none is waiting.
fn hand_on(bucket: &Bucket, facility: &Facility) -> Result<(), Problem> {
    let keys: Vec<String> = bucket.keys()?.into_iter().filter(|k| k.starts_with("application/")).collect();
    let mut waiting: Vec<Application> = bucket
        .get_many_json(&keys)?
        .into_iter()
        .flatten()
        .filter(|a: &Application| a.status == Status::Waiting && a.choices.contains(&facility.id))
        .collect();
    waiting.sort_by_key(|a| a.id.trim_start_matches("K-").parse::<u64>().unwrap_or(u64::MAX));
    for mut family in waiting {
        if bucket.increment(&settled_key(&family.id), 1)? == 1 {
            family.status = Status::Placed;
            family.facility = Some(facility.id.clone());
            bucket.set_json(&record_key(&family.id), &family)?;
            return Ok(());
        }
    }
    Seats::of(bucket, facility).release()
}

fn settled_key(id: &str) -> String {
    format!("settled/{id}")
}

fn load(params: &Params) -> Result<(Bucket, Application), Problem> {
    let id = params.get("id").unwrap_or_default();
    let bucket = Bucket::open(BUCKET)?;
    let application = bucket.get_json(&record_key(id))?;
    let application = application.ok_or_else(|| Problem::not_found(format!("no application `{id}`")))?;
    Ok((bucket, application))
}

fn record_key(id: &str) -> String {
    format!("application/{id}")
}

/// A facility's places, as counters that only grow. A place is claimed by ticket: the first
/// `places` tickets of `issued` get one; after that, `reissued` tickets get the places that
/// withdrawals (`freed`) gave back, never more than were freed. Every granted ticket is a
/// distinct number no larger than what is available, so no place is ever given twice; under a
/// race a ticket may be spent without a place, which can leave a place empty, never overfull.
struct Seats<'a> {
    bucket: &'a Bucket,
    places: u64,
    issued: String,
    freed: String,
    reissued: String,
}

impl<'a> Seats<'a> {
    fn of(bucket: &'a Bucket, facility: &Facility) -> Self {
        let key = |counter: &str| format!("seats/{}/{counter}", facility.id);
        Self { bucket, places: facility.places, issued: key("issued"), freed: key("freed"), reissued: key("reissued") }
    }

    /// Takes a place if one is free.
    fn claim(&self) -> Result<bool, Problem> {
        if self.bucket.counter(&self.issued)? < self.places && self.bucket.increment(&self.issued, 1)? <= self.places {
            return Ok(true);
        }
        let freed = self.bucket.counter(&self.freed)?;
        if self.bucket.counter(&self.reissued)? < freed {
            return Ok(self.bucket.increment(&self.reissued, 1)? <= self.bucket.counter(&self.freed)?);
        }
        Ok(false)
    }

    /// Gives a place back.
    fn release(&self) -> Result<(), Problem> {
        self.bucket.increment(&self.freed, 1)?;
        Ok(())
    }

    fn free(&self) -> Result<u64, Problem> {
        let issued = self.bucket.counter(&self.issued)?.min(self.places);
        let freed = self.bucket.counter(&self.freed)?;
        let reissued = self.bucket.counter(&self.reissued)?.min(freed);
        Ok(self.places - issued + freed - reissued)
    }
}

/// `civic:education/enrollment`: the same application as `POST /applications`.
struct Contract;

impl education::Guest for Contract {
    fn apply(form: education::ApplicationForm) -> Result<education::Application, education::Failure> {
        let application = admit(Form {
            child_name: form.child_name,
            birth_date: form.birth_date,
            guardian: form.guardian,
            choices: form.choices,
        })?;
        Ok(education::Application {
            id: application.id,
            placement: match application.status {
                Status::Placed => education::Placement::Placed,
                Status::Waiting => education::Placement::Waiting,
                Status::Withdrawn => education::Placement::Withdrawn,
            },
            facility: application.facility,
            submitted: application.submitted,
        })
    }
}
