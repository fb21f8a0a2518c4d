//! `civic:tax/assessment` at version 1.1.0 whose `household.members` became a string: the version
//! claims compatibility, the signature breaks it.

wit_bindgen::generate!({
    inline: r#"
        package civic:tax@1.1.0;

        interface assessment {
            record dog { name: string, dangerous: bool, purpose: option<string> }
            record household {
                members: string,
                dogs: list<dog>,
                low-income: bool,
                second-home-annual-rent-cents: option<u64>,
            }
            record line { tax: string, item: string, cents: u64, reason: string }
            record assessment { lines: list<line>, reduction-cents: u64, total-cents: u64 }
            record invalid-field { field: string, reason: string }
            variant failure { invalid(invalid-field), not-found(string), refused(string), unavailable(string) }
            assess: func(household: household) -> result<assessment, failure>;
        }

        world tax-changed { export assessment; }
    "#,
});

use exports::civic::tax::assessment::{Assessment, Failure, Guest, Household};

civic_sdk::service!(serve);
export!(Tax);

fn serve(_: civic_sdk::Request) -> civic_sdk::Response {
    civic_sdk::Response::text(200, "tax with a changed signature\n")
}

struct Tax;

impl Guest for Tax {
    fn assess(_: Household) -> Result<Assessment, Failure> {
        Ok(Assessment { lines: Vec::new(), reduction_cents: 0, total_cents: 0 })
    }
}
