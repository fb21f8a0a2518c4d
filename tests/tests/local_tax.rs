//! The local-tax plugin through the real binary: the same file assesses dog tax and second-home
//! tax by each city's own rates, reductions and exemptions, in integer cents.

use civic_tests::{City, Civic, LOCAL_TAX, Workspace, client};
use serde_json::{Value, json};

fn city(id: &str, rates: &str) -> City {
    let entry = format!("[components.local-tax.config.rates]\n{rates}");
    // The rates are a TOML table of their own, after the component's other keys.
    City::new(id)
        .hosts(&[&format!("{id}.localhost")])
        .component("local-tax", LOCAL_TAX, &entry)
        .route("/steuern", "local-tax")
}

const LECCE: &str = r#"low_income_reduction_percent = 50
dog_tax = { first_dog_cents = 15000, further_dog_cents = 21000, dangerous_dog_cents = 72000, exempt_purposes = ["guide", "rescue"] }
second_home_tax = { percent_of_rent = 12, exempt_reasons = ["student"] }"#;

const BARI: &str = r#"dog_tax = { first_dog_cents = 9000, further_dog_cents = 9000, dangerous_dog_cents = 30000 }
second_home_tax = { percent_of_rent = 8 }"#;

async fn assess(civic: &Civic, host: &str, tax: &str, form: Value) -> (u16, Value) {
    let url = civic.url(&format!("/steuern/assessments/{tax}"));
    let response = client().post(url).header("host", host).json(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn each_city_assesses_by_its_own_rates() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("lecce", LECCE).write(&ws), &city("bari", BARI).write(&ws)]);
    let dogs = json!({ "low_income": true, "dogs": [
        { "name": "Bello" }, { "name": "Luna" }, { "name": "Rex", "dangerous": true }, { "name": "Max", "purpose": "guide" }
    ] });

    let (status, lecce) = assess(&civic, "lecce.localhost", "dog-tax", dogs.clone()).await;
    assert_eq!(status, 200, "{lecce}");
    let lines: Vec<(&str, u64, &str)> = lecce["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["dog"].as_str().unwrap(), l["cents"].as_u64().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            ("Bello", 15000, "first dog"),
            ("Luna", 21000, "further dog"),
            ("Rex", 72000, "dangerous dog"),
            ("Max", 0, "exempt: guide dog")
        ]
    );
    // Half of the ordinary dogs' 36,000 off; the dangerous dog pays in full.
    assert_eq!((lecce["reduction_cents"].as_u64(), lecce["total_cents"].as_u64()), (Some(18000), Some(90000)));

    // Bari: other rates, no reduction, no exemption for guide dogs.
    let (_, bari) = assess(&civic, "bari.localhost", "dog-tax", dogs).await;
    assert_eq!((bari["reduction_cents"].as_u64(), bari["total_cents"].as_u64()), (Some(0), Some(57000)));

    let rent = json!({ "annual_rent_cents": 720_000 });
    assert_eq!(assess(&civic, "lecce.localhost", "second-home-tax", rent.clone()).await.1["total_cents"], 86_400);
    assert_eq!(assess(&civic, "bari.localhost", "second-home-tax", rent).await.1["total_cents"], 57_600);
    let student = json!({ "annual_rent_cents": 720_000, "exempt_reason": "student" });
    let (status, exempt) = assess(&civic, "lecce.localhost", "second-home-tax", student.clone()).await;
    assert_eq!((status, exempt["total_cents"].as_u64(), exempt["exempt"].as_str()), (200, Some(0), Some("student")));
    assert_eq!(assess(&civic, "bari.localhost", "second-home-tax", student).await.0, 400, "Bari has no such exemption");

    let rates = client().get(civic.url("/steuern/rates")).header("host", "bari.localhost").send().await.unwrap();
    assert_eq!(rates.json::<Value>().await.unwrap()["second_home_tax"]["percent_of_rent"], 8);
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("lecce", LECCE).write(&ws)]);
    let cases = [
        ("dog-tax", json!({ "dogs": [] }), "dogs"),
        ("dog-tax", json!({ "dogs": [{ "name": "" }] }), "dogs[0].name"),
        (
            "dog-tax",
            json!({ "dogs": [{ "name": "Bello" }, { "name": "Luna", "purpose": "hunting" }] }),
            "dogs[1].purpose",
        ),
        ("dog-tax", json!({ "dogs": [{ "name": "Bello", "dangerous": "very" }] }), "dogs[0].dangerous"),
        ("dog-tax", json!({ "pets": [] }), "pets"),
        ("second-home-tax", json!({ "annual_rent_cents": -5 }), "annual_rent_cents"),
        ("second-home-tax", json!({ "annual_rent_cents": 12.5 }), "annual_rent_cents"),
        ("second-home-tax", json!({ "annual_rent_cents": 10_000_000_001u64 }), "annual_rent_cents"),
        ("second-home-tax", json!({ "annual_rent_cents": 100, "exempt_reason": "rich" }), "exempt_reason"),
        ("second-home-tax", json!({}), "annual_rent_cents"),
    ];
    for (tax, form, field) in cases {
        let (status, problem) = assess(&civic, "lecce.localhost", tax, form.clone()).await;
        assert_eq!(status, 400, "{form}: {problem}");
        assert_eq!(problem["invalid-params"][0]["name"], field, "{form}: {problem}");
    }
}
