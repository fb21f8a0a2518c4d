//! The residency plugin through the real binary: a household registers its new address, checked
//! against the city's postal codes and the calendar, and gets a number never given twice.

use civic_tests::{City, Civic, RESIDENCY, Workspace, client};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

fn city() -> City {
    let entry = r#"keyvalue = ["registrations"]
config = { city_name = "Bremerhaven", number_prefix = "BHV", postal_codes = ["27568", "27570", "27572"] }"#;
    City::new("bremerhaven").component("residency", RESIDENCY, entry).route("/melde", "residency")
}

fn days_ago(days: i64) -> String {
    let output =
        std::process::Command::new("date").args(["-u", "-d", &format!("{days} days ago"), "+%F"]).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn form() -> Value {
    json!({
        "persons": [
            { "given_name": "Anna", "family_name": "Meyer", "birth_date": "1988-04-02" },
            { "given_name": "Mia", "family_name": "Meyer", "birth_date": "2023-05-02" }
        ],
        "address": { "street": "Am Deich", "house_number": "12a", "postal_code": "27568" },
        "moved_in": days_ago(3),
        "previous_address": "Hauptstraße 1, 28195 Bremen"
    })
}

async fn register(civic: &Civic, form: &Value) -> (u16, Value) {
    let response = client().post(civic.url("/melde/registrations")).json(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_household_registers_and_gets_a_number() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city().write(&ws)]);
    let (status, registration) = register(&civic, &form()).await;
    assert_eq!(status, 201, "{registration}");
    let year = &days_ago(0)[..4];
    assert_eq!(registration["number"], format!("BHV-{year}-000001"));
    assert_eq!(
        (registration["late"].as_bool(), registration["registered_on"].as_str()),
        (Some(false), Some(&*days_ago(0)))
    );
    let stored = client().get(civic.url(&format!("/melde/registrations/BHV-{year}-000001"))).send().await.unwrap();
    assert_eq!(stored.json::<Value>().await.unwrap(), registration);

    let mut late = form();
    late["moved_in"] = json!(days_ago(30));
    assert_eq!(register(&civic, &late).await.1["late"], true, "more than 14 days after moving in");
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city().write(&ws)]);
    let change = |pointer: &str, value: Value| {
        let mut form = form();
        *form.pointer_mut(pointer).unwrap() = value;
        form
    };
    let cases = [
        (change("/persons", json!([])), "persons"),
        (change("/persons/1/given_name", json!(" ")), "persons[1].given_name"),
        (change("/persons/0/birth_date", json!("1988-13-01")), "persons[0].birth_date"),
        (change("/persons/0/birth_date", json!(days_ago(-2))), "persons[0].birth_date"),
        (change("/address/postal_code", json!("28195")), "address.postal_code"),
        (change("/address/house_number", json!("0")), "address.house_number"),
        (change("/address/house_number", json!("12ab")), "address.house_number"),
        (change("/address/street", json!("")), "address.street"),
        (change("/moved_in", json!(days_ago(-1))), "moved_in"),
        (change("/moved_in", json!("yesterday")), "moved_in"),
        (change("/address", json!({ "street": "Am Deich", "house_number": "1" })), "address.postal_code"),
        (change("/previous_address", json!(7)), "previous_address"),
    ];
    for (form, field) in cases {
        let (status, problem) = register(&civic, &form).await;
        assert_eq!(status, 400, "{form}: {problem}");
        assert_eq!(problem["invalid-params"][0]["name"], field, "{form}: {problem}");
    }
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_numbers() {
    let ws = Workspace::new();
    let civic = Arc::new(Civic::run(&[&city().write(&ws)]));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let civic = civic.clone();
            tokio::spawn(async move { register(&civic, &form()).await })
        })
        .collect();
    let mut numbers = HashSet::new();
    for task in tasks {
        let (status, registration) = task.await.unwrap();
        assert_eq!(status, 201);
        numbers.insert(registration["number"].as_str().unwrap().to_owned());
    }
    assert_eq!(numbers.len(), 20);
}
