//! The caller of the link benchmark (`bench/src/link.rs`). `GET …/linked?calls=N` calls
//! `civic:tax/assessment`'s `assess` N times through the host's link (to `test-tax`);
//! `GET …/local?calls=N` computes the same assessment N times in-process, with the same values
//! built and dropped, so the difference is what the hop costs. It answers the total and the last
//! assessment's reason.

use civic_sdk::tax::{self, Assessment, Dog, Household, Line};
use civic_sdk::{Problem, Request, Response};
use std::hint::black_box;

civic_sdk::service!(serve);

fn serve(request: Request) -> Result<Response, Problem> {
    let calls: u32 = request.query_param("calls").and_then(|n| n.parse().ok()).unwrap_or(1);
    let linked = request.path().ends_with("/linked");
    let household = Household {
        members: 3,
        dogs: vec![Dog { name: "Bello".into(), dangerous: false, purpose: None }],
        low_income: false,
        second_home_annual_rent_cents: None,
    };
    let (mut total, mut reason) = (0, String::new());
    for _ in 0..calls {
        let assessed = black_box(if linked { tax::assess(&household)? } else { here(black_box(&household)) });
        total += assessed.total_cents;
        reason = assessed.lines.into_iter().next().map(|line| line.reason).unwrap_or_default();
    }
    Ok(Response::text(200, format!("{total} {reason}")))
}

/// What `test-tax` computes, without the hop.
fn here(household: &Household) -> Assessment {
    let cents = 100 * u64::from(household.members);
    let line = Line { tax: "flat-test-tax".into(), item: "household".into(), cents, reason: "per member".into() };
    Assessment { lines: vec![line], reduction_cents: 0, total_cents: cents }
}
