//! Local taxes with each city's rates, reductions and exemptions from its config: the dog tax
//! and the second-home tax. Amounts are integer cents throughout; reductions round in the
//! citizen's favour. The HTTP API is in README.md; the same rules serve the
//! `civic:tax/assessment` contract for mashups.

use civic_sdk::tax::exports as tax;
use civic_sdk::{Params, Problem, Request, Response, Router, config};
use serde::{Deserialize, Serialize};

civic_sdk::service!(serve);
civic_sdk::export!(tax = Contract);

fn serve(request: Request) -> Response {
    Router::new()
        .get("/rates", rates)
        .post("/assessments/dog-tax", dog_tax)
        .post("/assessments/second-home-tax", second_home_tax)
        .handle(&request)
}

/// The most a declared rent may be: 100 million in cents, far above any real one.
const MAX_RENT_CENTS: u64 = 10_000_000_000;
/// The most dogs one assessment covers.
const MAX_DOGS: usize = 20;
/// Purposes a city may exempt from the dog tax.
const PURPOSES: [&str; 4] = ["guide", "rescue", "therapy", "herding"];

/// The city's rates, from config.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Rates {
    dog_tax: DogRates,
    second_home_tax: SecondHomeRates,
    /// Reduction of the dog tax for households on low income, in percent (dangerous dogs excluded).
    #[serde(default)]
    low_income_reduction_percent: u8,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct DogRates {
    first_dog_cents: u64,
    further_dog_cents: u64,
    dangerous_dog_cents: u64,
    #[serde(default)]
    exempt_purposes: Vec<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SecondHomeRates {
    percent_of_rent: u8,
    #[serde(default)]
    exempt_reasons: Vec<String>,
}

impl Rates {
    fn from_config() -> Result<Self, Problem> {
        let rates: Self = config::json("rates")?.ok_or_else(|| Problem::internal("config `rates` is not set"))?;
        if rates.low_income_reduction_percent > 100 || rates.second_home_tax.percent_of_rent > 100 {
            return Err(Problem::internal("config `rates`: a percentage is above 100"));
        }
        Ok(rates)
    }
}

/// `GET /rates`: what this city charges.
fn rates(_: &Request, _: &Params) -> Result<Response, Problem> {
    Ok(Response::json(200, &Rates::from_config()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DogTaxForm {
    dogs: Vec<tax::Dog>,
    #[serde(default)]
    low_income: bool,
}

#[derive(Serialize)]
struct Line {
    dog: String,
    cents: u64,
    reason: String,
}

#[derive(Serialize)]
struct DogTax {
    tax: &'static str,
    lines: Vec<Line>,
    reduction_cents: u64,
    total_cents: u64,
}

/// `POST /assessments/dog-tax`: one line per dog, in the order given.
fn dog_tax(request: &Request, _: &Params) -> Result<Response, Problem> {
    let assessed = assess_dogs(&Rates::from_config()?, &request.json()?)?;
    Ok(Response::json(200, &assessed))
}

fn assess_dogs(rates: &Rates, form: &DogTaxForm) -> Result<DogTax, Problem> {
    if form.dogs.is_empty() || form.dogs.len() > MAX_DOGS {
        return Err(Problem::invalid("dogs", format!("must list 1 to {MAX_DOGS} dogs")));
    }
    let dog_rates = &rates.dog_tax;
    let mut lines = Vec::with_capacity(form.dogs.len());
    let (mut ordinary_dogs, mut reducible) = (0, 0u64);
    for (i, dog) in form.dogs.iter().enumerate() {
        let name = dog.name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            return Err(Problem::invalid(format!("dogs[{i}].name"), "must be 1 to 50 characters"));
        }
        if let Some(purpose) = dog.purpose.as_deref().filter(|p| !PURPOSES.contains(p)) {
            let reason = format!("`{purpose}` is not one of {}", PURPOSES.join(", "));
            return Err(Problem::invalid(format!("dogs[{i}].purpose"), reason));
        }
        let exempt = dog.purpose.as_ref().filter(|p| dog_rates.exempt_purposes.contains(p));
        let (cents, reason) = if let Some(purpose) = exempt {
            (0, format!("exempt: {purpose} dog"))
        } else if dog.dangerous {
            (dog_rates.dangerous_dog_cents, "dangerous dog".to_owned())
        } else {
            ordinary_dogs += 1;
            let cents = if ordinary_dogs == 1 { dog_rates.first_dog_cents } else { dog_rates.further_dog_cents };
            reducible += cents;
            (cents, if ordinary_dogs == 1 { "first dog".to_owned() } else { "further dog".to_owned() })
        };
        lines.push(Line { dog: name.to_owned(), cents, reason });
    }
    let reduction_cents =
        if form.low_income { reducible * u64::from(rates.low_income_reduction_percent) / 100 } else { 0 };
    let total_cents = lines.iter().map(|line| line.cents).sum::<u64>() - reduction_cents;
    Ok(DogTax { tax: "dog-tax", lines, reduction_cents, total_cents })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondHomeForm {
    annual_rent_cents: u64,
    exempt_reason: Option<String>,
}

#[derive(Serialize)]
struct SecondHomeTax {
    tax: &'static str,
    base_cents: u64,
    percent: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    exempt: Option<String>,
    total_cents: u64,
}

/// `POST /assessments/second-home-tax`: a share of the year's net rent, unless exempt.
fn second_home_tax(request: &Request, _: &Params) -> Result<Response, Problem> {
    let assessed = assess_second_home(&Rates::from_config()?.second_home_tax, request.json()?)?;
    Ok(Response::json(200, &assessed))
}

fn assess_second_home(rates: &SecondHomeRates, form: SecondHomeForm) -> Result<SecondHomeTax, Problem> {
    if form.annual_rent_cents > MAX_RENT_CENTS {
        return Err(Problem::invalid("annual_rent_cents", format!("must be at most {MAX_RENT_CENTS}")));
    }
    if let Some(reason) = form.exempt_reason.as_ref().filter(|r| !rates.exempt_reasons.contains(r)) {
        let known = if rates.exempt_reasons.is_empty() { "none".to_owned() } else { rates.exempt_reasons.join(", ") };
        return Err(Problem::invalid(
            "exempt_reason",
            format!("`{reason}` is not an exemption here (there are: {known})"),
        ));
    }
    let total_cents = match form.exempt_reason {
        Some(_) => 0,
        None => form.annual_rent_cents * u64::from(rates.percent_of_rent) / 100,
    };
    Ok(SecondHomeTax {
        tax: "second-home-tax",
        base_cents: form.annual_rent_cents,
        percent: rates.percent_of_rent,
        exempt: form.exempt_reason,
        total_cents,
    })
}

/// `civic:tax/assessment`: a household's dog tax and, for a second home, its second-home tax.
struct Contract;

impl tax::Guest for Contract {
    fn assess(household: tax::Household) -> Result<tax::Assessment, tax::Failure> {
        let rates = Rates::from_config()?;
        let (mut lines, mut reduction_cents) = (Vec::new(), 0);
        if !household.dogs.is_empty() {
            let form = DogTaxForm { dogs: household.dogs, low_income: household.low_income };
            let assessed = assess_dogs(&rates, &form)?;
            reduction_cents = assessed.reduction_cents;
            lines.extend(assessed.lines.into_iter().map(|line| tax::Line {
                tax: assessed.tax.to_owned(),
                item: line.dog,
                cents: line.cents,
                reason: line.reason,
            }));
        }
        if let Some(annual_rent_cents) = household.second_home_annual_rent_cents {
            let form = SecondHomeForm { annual_rent_cents, exempt_reason: None };
            let assessed = assess_second_home(&rates.second_home_tax, form)?;
            lines.push(tax::Line {
                tax: assessed.tax.to_owned(),
                item: "second home".to_owned(),
                cents: assessed.total_cents,
                reason: format!("{}% of the annual rent", assessed.percent),
            });
        }
        let total_cents = lines.iter().map(|line| line.cents).sum::<u64>() - reduction_cents;
        Ok(tax::Assessment { lines, reduction_cents, total_cents })
    }
}
