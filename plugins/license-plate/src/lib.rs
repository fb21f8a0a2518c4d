//! Vehicle license-plate reservation. A citizen checks whether a plate of one of the city's
//! districts is free and reserves it for the city's reservation period; the reservation can be
//! looked up and released, and it lapses by itself when the period ends.
//!
//! One plate never has two holders, however many citizens reserve it at once. A plate's history
//! is a sequence of cycles; cycle `n` is won by whoever first increments the plate's counter for
//! `n` (`increment` is atomic, so exactly one caller sees 1), and cycle `n + 1` can only be
//! contested once cycle `n`'s reservation has ended. The HTTP API is in README.md.

use civic_sdk::date::Date;
use civic_sdk::kv::Bucket;
use civic_sdk::{Params, Problem, Request, Response, Router, config};
use serde::{Deserialize, Serialize};

civic_sdk::service!(serve);

/// The bucket the city's manifest must grant (`keyvalue = ["plates"]`).
const BUCKET: &str = "plates";
/// Letters, digits and the district together: German plates carry at most eight.
const MAX_CHARACTERS: usize = 8;

fn serve(request: Request) -> Response {
    Router::new()
        .get("/plates/:plate", availability)
        .post("/reservations", reserve)
        .get("/reservations/:id", show)
        .delete("/reservations/:id", release)
        .handle(&request)
}

/// A plate in its canonical form, `BHV-AB 123`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plate {
    district: String,
    letters: String,
    digits: String,
}

impl Plate {
    /// Reads `BHV-AB 123`, `BHV AB 123` or `bhv-ab-123`; the reason when it is no plate of
    /// one of `districts`.
    fn parse(text: &str, districts: &[String]) -> Result<Self, String> {
        let parts: Vec<String> =
            text.split(['-', ' ']).filter(|p| !p.is_empty()).map(|p| p.to_ascii_uppercase()).collect();
        let [district, letters, digits] = parts.as_slice() else {
            return Err("must be written like `BHV-AB 123`: district, one or two letters, one to four digits".into());
        };
        if !districts.contains(district) {
            return Err(format!("`{district}` is not a district of this city (there are: {})", districts.join(", ")));
        }
        if !(1..=2).contains(&letters.len()) || !letters.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("`{letters}` must be one or two letters"));
        }
        if !(1..=4).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err(format!("`{digits}` must be one to four digits, not starting with 0"));
        }
        if district.len() + letters.len() + digits.len() > MAX_CHARACTERS {
            return Err(format!("a plate carries at most {MAX_CHARACTERS} letters and digits"));
        }
        Ok(Self { district: district.clone(), letters: letters.clone(), digits: digits.clone() })
    }

    fn key(&self, what: &str) -> String {
        format!("plate/{}-{}-{}/{what}", self.district, self.letters, self.digits)
    }
}

impl std::fmt::Display for Plate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{} {}", self.district, self.letters, self.digits)
    }
}

/// The city's rules, from config.
struct Rules {
    districts: Vec<String>,
    reservation_days: u32,
}

impl Rules {
    fn from_config() -> Result<Self, Problem> {
        let districts: Vec<String> =
            config::json("districts")?.ok_or_else(|| Problem::internal("config `districts` is not set"))?;
        Ok(Self { districts, reservation_days: config::parse("reservation_days")?.unwrap_or(90) })
    }
}

/// A reservation as stored and answered.
#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
    plate: String,
    holder: String,
    reserved_on: Date,
    /// The last day it holds.
    reserved_until: Date,
    released: bool,
}

impl Reservation {
    fn holds(&self, today: Date) -> bool {
        !self.released && today <= self.reserved_until
    }
}

/// Where a plate stands: the cycle open for a new reservation, or the reservation holding it.
enum Standing {
    Free { cycle: u64 },
    Held(Option<Reservation>),
}

/// Walks the plate's cycles to the current one.
fn standing(bucket: &Bucket, plate: &Plate, today: Date) -> Result<Standing, Problem> {
    for cycle in 1.. {
        if bucket.counter(&plate.key(&format!("cycle/{cycle}")))? == 0 {
            return Ok(Standing::Free { cycle });
        }
        // Won, but the winner has not written its reservation yet: held. (A host that dies in
        // that moment leaves the plate held until the office clears it; never given twice.)
        let Some(id) = bucket.get(&plate.key(&format!("holder/{cycle}")))? else {
            return Ok(Standing::Held(None));
        };
        let id = String::from_utf8_lossy(&id).into_owned();
        match bucket.get_json::<Reservation>(&record_key(&id))? {
            Some(reservation) if reservation.holds(today) => return Ok(Standing::Held(Some(reservation))),
            Some(_) => continue,
            // Being written right now: held.
            None => return Ok(Standing::Held(None)),
        }
    }
    unreachable!("the cycles of a plate are counted")
}

#[derive(Serialize)]
struct Availability {
    plate: String,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reserved_until: Option<Date>,
}

/// `GET /plates/:plate`: whether the plate is free; a held plate's holder is not told.
fn availability(_: &Request, params: &Params) -> Result<Response, Problem> {
    let rules = Rules::from_config()?;
    let text = params.get("plate").unwrap_or_default();
    let plate = Plate::parse(text, &rules.districts).map_err(|reason| Problem::invalid("plate", reason))?;
    let bucket = Bucket::open(BUCKET)?;
    let (available, reserved_until) = match standing(&bucket, &plate, Date::today())? {
        Standing::Free { .. } => (true, None),
        Standing::Held(reservation) => (false, reservation.map(|r| r.reserved_until)),
    };
    Ok(Response::json(200, &Availability { plate: plate.to_string(), available, reserved_until }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    plate: String,
    holder: String,
}

/// `POST /reservations`.
fn reserve(request: &Request, _: &Params) -> Result<Response, Problem> {
    let rules = Rules::from_config()?;
    let form: Form = request.json()?;
    let plate = Plate::parse(&form.plate, &rules.districts).map_err(|reason| Problem::invalid("plate", reason))?;
    let holder = form.holder.trim();
    if holder.is_empty() || holder.chars().count() > 100 {
        return Err(Problem::invalid("holder", "must be 1 to 100 characters"));
    }
    let bucket = Bucket::open(BUCKET)?;
    let today = Date::today();
    let taken = || Problem::conflict(format!("{plate} is already reserved"));
    let Standing::Free { cycle } = standing(&bucket, &plate, today)? else { return Err(taken()) };
    if bucket.increment(&plate.key(&format!("cycle/{cycle}")), 1)? != 1 {
        return Err(taken());
    }
    let reservation = Reservation {
        id: format!("R-{}", bucket.increment("next-number", 1)?),
        plate: plate.to_string(),
        holder: holder.to_owned(),
        reserved_on: today,
        reserved_until: today.add_days(rules.reservation_days),
        released: false,
    };
    bucket.set_json(&record_key(&reservation.id), &reservation)?;
    bucket.set(&plate.key(&format!("holder/{cycle}")), reservation.id.as_bytes())?;
    let location = format!("{}/reservations/{}", request.header("x-forwarded-prefix").unwrap_or(""), reservation.id);
    Ok(Response::json(201, &reservation).header("location", &location))
}

/// `GET /reservations/:id`.
fn show(_: &Request, params: &Params) -> Result<Response, Problem> {
    let (_, reservation) = load(params)?;
    Ok(Response::json(200, &reservation))
}

/// `DELETE /reservations/:id`: the plate is free again.
fn release(_: &Request, params: &Params) -> Result<Response, Problem> {
    let (bucket, mut reservation) = load(params)?;
    if !reservation.holds(Date::today()) {
        return Err(Problem::conflict(format!("reservation {} no longer holds {}", reservation.id, reservation.plate)));
    }
    reservation.released = true;
    bucket.set_json(&record_key(&reservation.id), &reservation)?;
    Ok(Response::json(200, &reservation))
}

fn load(params: &Params) -> Result<(Bucket, Reservation), Problem> {
    let id = params.get("id").unwrap_or_default();
    let bucket = Bucket::open(BUCKET)?;
    let reservation = bucket.get_json(&record_key(id))?;
    let reservation = reservation.ok_or_else(|| Problem::not_found(format!("no reservation `{id}`")))?;
    Ok((bucket, reservation))
}

fn record_key(id: &str) -> String {
    format!("reservation/{id}")
}
