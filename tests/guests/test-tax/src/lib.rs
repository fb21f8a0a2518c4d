//! A tax component for link tests: 100 cents per household member under the tax name
//! `flat-test-tax`, so a test sees which component answered, and the reason counts the calls
//! this instance has answered (`per member, call 3 of this instance`), so a test sees when an
//! instance is reused. A dog named `panic` makes it trap; one named `spin` makes it loop until
//! its deadline.

use civic_sdk::tax::exports::{Assessment, Failure, Guest, Household, Line};
use civic_sdk::{Request, Response};
use std::sync::atomic::{AtomicU32, Ordering};

/// Calls this instance has answered.
static CALLS: AtomicU32 = AtomicU32::new(0);

civic_sdk::service!(serve);
civic_sdk::export!(tax = FlatTax);

fn serve(_: Request) -> Response {
    Response::text(200, "flat test tax\n")
}

struct FlatTax;

impl Guest for FlatTax {
    fn assess(household: Household) -> Result<Assessment, Failure> {
        for dog in &household.dogs {
            match dog.name.as_str() {
                "panic" => panic!("the test tax panics on purpose"),
                "spin" => loop {
                    std::hint::spin_loop();
                },
                _ => {}
            }
        }
        let call = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let cents = 100 * u64::from(household.members);
        let reason = format!("per member, call {call} of this instance");
        let line = Line { tax: "flat-test-tax".into(), item: "household".into(), cents, reason };
        Ok(Assessment { lines: vec![line], reduction_cents: 0, total_cents: cents })
    }
}
