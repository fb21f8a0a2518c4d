//! `civic:tax/assessment` at version 2.0.0, otherwise identical to 1.0.0: not semver-compatible
//! with an importer of 1.0.0.

wit_bindgen::generate!({
    inline: r#"
        package civic:tax@2.0.0;

        interface assessment {
            record dog { name: string, dangerous: bool, purpose: option<string> }
            record household {
                members: u32,
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

        world tax-v2 { export assessment; }
    "#,
});

use exports::civic::tax::assessment::{Assessment, Failure, Guest, Household};

civic_sdk::service!(serve);
export!(Tax);

fn serve(_: civic_sdk::Request) -> civic_sdk::Response {
    civic_sdk::Response::text(200, "tax v2\n")
}

struct Tax;

impl Guest for Tax {
    fn assess(_: Household) -> Result<Assessment, Failure> {
        Ok(Assessment { lines: Vec::new(), reduction_cents: 0, total_cents: 0 })
    }
}
