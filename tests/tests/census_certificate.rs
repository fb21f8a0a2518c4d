//! The census-certificate plugin through the real binary: certificates signed with the city's
//! Ed25519 key verify; changed in any field, or checked by another city, they do not.

use civic_tests::{CENSUS_CERTIFICATE, City, Civic, Workspace, client};
use serde_json::{Value, json};

fn city(id: &str, seed: &str) -> City {
    let entry =
        format!("keyvalue = [\"certificates\"]\nconfig = {{ issuer = \"Stadt {id}\", signing_key = \"{seed}\" }}");
    City::new(id)
        .hosts(&[&format!("{id}.localhost")])
        .component("census", CENSUS_CERTIFICATE, &entry)
        .route("/bescheinigungen", "census")
}

async fn post(civic: &Civic, host: &str, path: &str, body: &Value) -> (u16, Value) {
    let url = civic.url(&format!("/bescheinigungen{path}"));
    let response = client().post(url).header("host", host).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_signed_certificate_verifies_and_a_changed_one_does_not() {
    let ws = Workspace::new();
    let lecce = city("lecce", &"11".repeat(32)).write(&ws);
    let bari = city("bari", &"22".repeat(32)).write(&ws);
    let civic = Civic::run(&[&lecce, &bari]);
    let form = json!({ "given_name": "Anna", "family_name": "Meyer", "birth_date": "1988-04-02", "address": "Am Deich 12a, 27568 Bremerhaven", "resident_since": "2020-01-15" });

    let (status, signed) = post(&civic, "lecce.localhost", "/certificates", &form).await;
    assert_eq!(status, 201, "{signed}");
    assert_eq!(signed["certificate"]["issuer"], "Stadt lecce");
    assert_eq!(signed["certificate"]["serial"], "00000001");
    assert_eq!(signed["signature"].as_str().unwrap().len(), 128);
    assert_eq!(post(&civic, "lecce.localhost", "/verifications", &signed).await, (200, json!({ "valid": true })));

    for (field, value) in
        [("family_name", json!("Mayer")), ("resident_since", json!("2019-01-15")), ("serial", json!("00000002"))]
    {
        let mut tampered = signed.clone();
        tampered["certificate"][field] = value;
        let (status, verdict) = post(&civic, "lecce.localhost", "/verifications", &tampered).await;
        assert_eq!((status, verdict["valid"].as_bool()), (200, Some(false)), "{field} changed");
    }
    let (_, elsewhere) = post(&civic, "bari.localhost", "/verifications", &signed).await;
    assert_eq!(elsewhere["valid"], false, "another city's key does not vouch for it");

    let keys = |host: &'static str| {
        let url = civic.url("/bescheinigungen/public-key");
        async move { client().get(url).header("host", host).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let (lecce_key, bari_key) = (keys("lecce.localhost").await, keys("bari.localhost").await);
    assert_eq!(lecce_key["algorithm"], "Ed25519");
    assert_ne!(lecce_key["public_key"], bari_key["public_key"]);
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("lecce", &"11".repeat(32)).write(&ws)]);
    let form = json!({ "given_name": "Anna", "family_name": "Meyer", "birth_date": "1988-04-02", "address": "Am Deich 12a", "resident_since": "2020-01-15" });
    let change = |field: &str, value: Value| {
        let mut form = form.clone();
        form[field] = value;
        form
    };
    for (body, field) in [
        (change("given_name", json!("")), "given_name"),
        (change("birth_date", json!("1988-02-30")), "birth_date"),
        (change("resident_since", json!("1980-01-01")), "resident_since"),
        (change("address", json!(null)), "address"),
    ] {
        let (status, problem) = post(&civic, "lecce.localhost", "/certificates", &body).await;
        assert_eq!((status, problem["invalid-params"][0]["name"].as_str()), (400, Some(field)), "{body}: {problem}");
    }
    let (_, signed) = post(&civic, "lecce.localhost", "/certificates", &form).await;
    let mut short = signed.clone();
    short["signature"] = json!("abcd");
    let (status, problem) = post(&civic, "lecce.localhost", "/verifications", &short).await;
    assert_eq!((status, problem["invalid-params"][0]["name"].as_str()), (400, Some("signature")));
}
