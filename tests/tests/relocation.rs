//! The relocation mashup through the real binary, in the two example cities: one request
//! registers the family, applies for kindergarten places, assesses local taxes and issues
//! residence certificates, each through the component the city links the contract to.

use civic_tests::{Civic, born_years_ago, client, today};
use serde_json::{Value, json};
use std::path::Path;

const TOKEN: &str = "relocation-admin-token-xxxxxxxxx";

/// Both example cities, with the admin API on.
fn example_cities(data: &Path) -> Civic {
    let admin = ["--admin".as_ref(), "127.0.0.1:0".as_ref()];
    Civic::examples(data, &admin, &[("CIVIC_ADMIN_TOKEN", TOKEN.as_ref())])
}

/// A household of an adult and a child of two, with a dog, moving into `postal_code` today.
fn family(postal_code: &str, facility: &str) -> Value {
    json!({
        "persons": [
            { "given_name": "Anna", "family_name": "Meyer", "birth_date": born_years_ago(35) },
            { "given_name": "Mia", "family_name": "Meyer", "birth_date": born_years_ago(2), "kindergarten": [facility] },
        ],
        "address": { "street": "Am Deich", "house_number": "12a", "postal_code": postal_code },
        "moved_in": today(),
        "dogs": [{ "name": "Bello" }],
    })
}

async fn post(civic: &Civic, host: &str, path: &str, body: &Value) -> (u16, Value) {
    json_answer(client().post(civic.url(path)).header("host", host).json(body)).await
}

async fn get(civic: &Civic, host: &str, path: &str) -> (u16, Value) {
    json_answer(client().get(civic.url(path)).header("host", host)).await
}

async fn json_answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?} is not JSON: {e}"));
    (status, value)
}

fn step<'a>(receipt: &'a Value, name: &str) -> Vec<&'a Value> {
    receipt["steps"].as_array().unwrap().iter().filter(|s| s["step"] == name).collect()
}

#[tokio::test]
async fn a_family_moves_in_with_one_request_in_both_cities_each_by_its_own_tax_rules() {
    let data = tempfile::tempdir().unwrap();
    let civic = example_cities(data.path());
    let (bhv, sdr) = ("bremerhaven.localhost", "santander.localhost");

    let (status, receipt) = post(&civic, bhv, "/umzug/moves", &family("27568", "am-deich")).await;
    assert_eq!(status, 201, "{receipt:#}");
    assert_eq!(receipt["complete"], true);
    let registration = &step(&receipt, "registration")[0]["result"];
    let number = registration["number"].as_str().unwrap();
    assert!(number.starts_with("BHV-"), "{registration}");
    // Each step happened in the callee's own storage, where its own HTTP API finds it.
    let (status, stored) = get(&civic, bhv, &format!("/melde/registrations/{number}")).await;
    assert_eq!((status, stored["persons"].as_array().unwrap().len()), (200, 2), "{stored}");
    let kita = step(&receipt, "kindergarten");
    assert_eq!(
        (kita.len(), &kita[0]["for"], &kita[0]["result"]["placement"]),
        (1, &json!("Mia Meyer"), &json!("placed"))
    );
    let id = kita[0]["result"]["id"].as_str().unwrap();
    assert_eq!(get(&civic, bhv, &format!("/kita/applications/{id}")).await.1["facility"], "am-deich");
    let certificates = step(&receipt, "certificate");
    assert_eq!(certificates.len(), 2);
    assert!(certificates.iter().all(|c| c["result"]["certificate"]["issuer"] == "Stadt Bremerhaven, Bürgeramt"));
    // Bremerhaven links the tax contract to local-tax: a dog tax.
    let bremerhaven_tax = &step(&receipt, "tax")[0]["result"];
    assert_eq!(
        bremerhaven_tax["lines"],
        json!([{ "tax": "dog-tax", "item": "Bello", "cents": 15000, "reason": "first dog" }])
    );

    // Santander runs the same mashup file, linked to its household fees.
    let (status, receipt) = post(&civic, sdr, "/mudanza/moves", &family("39001", "el-alisal")).await;
    assert_eq!(status, 201, "{receipt:#}");
    assert!(step(&receipt, "registration")[0]["result"]["number"].as_str().unwrap().starts_with("SDR-"));
    let santander_tax = &step(&receipt, "tax")[0]["result"];
    assert_eq!(santander_tax["total_cents"], 6200 + 2 * 1800 + 3000, "{santander_tax}");
    assert_ne!(santander_tax, bremerhaven_tax);

    // Same files, byte for byte, for everything but the tax rules.
    let admin = civic.admin_addr().await;
    let listed: Value = client()
        .get(format!("http://{admin}/v1/components"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let component = |city: &str, name: &str| -> Value {
        let items = listed["items"].as_array().unwrap();
        items.iter().find(|c| c["city"] == city && c["name"] == name).unwrap().clone()
    };
    for shared in ["relocation", "residency", "kindergarten", "census-certificate"] {
        let (a, b) = (component("bremerhaven", shared), component("santander", shared));
        assert_eq!(a["sha256"], b["sha256"], "{shared} is the same file in both cities");
    }
    let links = |city: &str| component(city, "relocation")["links"]["civic:tax/assessment@1"].clone();
    assert_eq!((links("bremerhaven"), links("santander")), (json!("local-tax"), json!("household-fees")));
    assert_ne!(component("bremerhaven", "local-tax")["sha256"], component("santander", "household-fees")["sha256"]);
}

#[tokio::test]
async fn a_failed_step_is_reported_and_the_steps_that_succeeded_stay_done() {
    let data = tempfile::tempdir().unwrap();
    let civic = example_cities(data.path());
    // 39008 is not one of Santander's postal codes: the registration fails, so no certificate.
    let (status, receipt) = post(&civic, "santander.localhost", "/mudanza/moves", &family("39008", "cueto")).await;
    assert_eq!(status, 200, "{receipt:#}");
    assert_eq!(receipt["complete"], false);
    let registration = step(&receipt, "registration")[0];
    assert_eq!(registration["status"], "failed");
    assert_eq!(registration["problem"]["status"], 400);
    assert_eq!(registration["problem"]["invalid-params"][0]["name"], "address.postal_code");
    let kita = step(&receipt, "kindergarten")[0];
    assert_eq!(kita["status"], "done", "{kita}");
    let id = kita["result"]["id"].as_str().unwrap();
    let (status, kept) = get(&civic, "santander.localhost", &format!("/kita/applications/{id}")).await;
    assert_eq!((status, &kept["facility"]), (200, &json!("cueto")));
    assert_eq!(step(&receipt, "tax")[0]["status"], "done");
    let certificates = step(&receipt, "certificate");
    assert_eq!(certificates.len(), 2);
    assert!(certificates.iter().all(|c| c["status"] == "skipped"), "{receipt:#}");

    // Bad input to the mashup itself is a 400 naming the field, and nothing is called.
    let (status, problem) = post(&civic, "santander.localhost", "/mudanza/moves", &json!({ "persons": [] })).await;
    assert_eq!(status, 400);
    assert_eq!(problem["invalid-params"][0]["name"], "address", "{problem}");
}
