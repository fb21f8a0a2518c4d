//! The license-plate plugin through the real binary: plate formats per district, availability,
//! reservation and release, and never two holders for one plate under concurrency.

use civic_tests::{City, Civic, LICENSE_PLATE, Workspace, client, today};
use serde_json::{Value, json};
use std::sync::Arc;

fn city() -> City {
    let entry = r#"keyvalue = ["plates"]
config = { districts = ["BHV", "HB"], reservation_days = 90 }"#;
    City::new("bremerhaven").component("license-plate", LICENSE_PLATE, entry).route("/kfz", "license-plate")
}

fn in_90_days() -> String {
    let output =
        std::process::Command::new("date").args(["-u", "-d", "+90 days", "+%F"]).output().expect("`date` runs");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn call(civic: &Civic, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method, civic.url(&format!("/kfz{path}")));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_plate_is_reserved_released_and_reserved_again() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city().write(&ws)]);
    let get = reqwest::Method::GET;
    assert_eq!(
        call(&civic, get.clone(), "/plates/bhv-ab-123", None).await.1,
        json!({ "plate": "BHV-AB 123", "available": true })
    );

    let (status, reservation) = call(
        &civic,
        reqwest::Method::POST,
        "/reservations",
        Some(json!({ "plate": "BHV AB 123", "holder": "Anna Meyer" })),
    )
    .await;
    assert_eq!(status, 201, "{reservation}");
    assert_eq!(reservation["plate"], "BHV-AB 123");
    assert_eq!(
        (reservation["reserved_on"].as_str(), reservation["reserved_until"].as_str()),
        (Some(&*today()), Some(&*in_90_days()))
    );
    let id = reservation["id"].as_str().unwrap().to_owned();

    let (_, availability) = call(&civic, get.clone(), "/plates/BHV-AB-123", None).await;
    assert_eq!(availability, json!({ "plate": "BHV-AB 123", "available": false, "reserved_until": in_90_days() }));
    let (status, problem) =
        call(&civic, reqwest::Method::POST, "/reservations", Some(json!({ "plate": "BHV-AB 123", "holder": "Ben" })))
            .await;
    assert_eq!((status, problem["detail"].as_str()), (409, Some("BHV-AB 123 is already reserved")));

    let (status, released) = call(&civic, reqwest::Method::DELETE, &format!("/reservations/{id}"), None).await;
    assert_eq!((status, released["released"].as_bool()), (200, Some(true)));
    assert_eq!(call(&civic, reqwest::Method::DELETE, &format!("/reservations/{id}"), None).await.0, 409);
    assert_eq!(call(&civic, get.clone(), "/plates/BHV-AB-123", None).await.1["available"], true);
    let (status, again) =
        call(&civic, reqwest::Method::POST, "/reservations", Some(json!({ "plate": "BHV-AB 123", "holder": "Ben" })))
            .await;
    assert_eq!((status, again["holder"].as_str()), (201, Some("Ben")));
    assert_eq!(call(&civic, get, &format!("/reservations/{id}"), None).await.1["holder"], "Anna Meyer");
}

#[tokio::test]
async fn plates_are_checked_per_district_and_format() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city().write(&ws)]);
    for plate in ["HH-AB-1", "BHV-ABC-1", "BHV-A-0123", "BHV-A-12345", "BHV-AB-1234", "BHV-AB", "BHV-Ä-1"] {
        let (status, problem) = call(&civic, reqwest::Method::GET, &format!("/plates/{plate}"), None).await;
        assert_eq!((status, problem["invalid-params"][0]["name"].as_str()), (400, Some("plate")), "{plate}: {problem}");
    }
    assert_eq!(call(&civic, reqwest::Method::GET, "/plates/HB-X-1", None).await.0, 200);
    let (status, problem) =
        call(&civic, reqwest::Method::POST, "/reservations", Some(json!({ "plate": "HB-X 1", "holder": " " }))).await;
    assert_eq!((status, problem["invalid-params"][0]["name"].as_str()), (400, Some("holder")));
    assert_eq!(call(&civic, reqwest::Method::GET, "/reservations/R-404", None).await.0, 404);
}

#[tokio::test]
async fn one_plate_never_gets_two_holders() {
    let ws = Workspace::new();
    let civic = Arc::new(Civic::run(&[&city().write(&ws)]));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let civic = civic.clone();
            tokio::spawn(async move {
                let form = json!({ "plate": "HB-CV 2026", "holder": format!("Citizen {i}") });
                call(&civic, reqwest::Method::POST, "/reservations", Some(form)).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 29, "{statuses:?}");
}
