//! The kindergarten plugin through the real binary: placement in choice order, the waiting list,
//! withdrawal, problem+json errors naming the field, no over-booking under concurrency, and
//! applications that survive `kill -9` of the host.

use civic_tests::{City, Civic, KINDERGARTEN, Workspace, born_years_ago, client, today};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Lecce with the kindergarten at `/kita`: facilities `a` (`places_a` places) and `b` (1 place).
fn lecce(places_a: u32) -> City {
    let config = format!(
        r#"keyvalue = ["applications"]
config = {{ max_choices = 2, facilities = [{{ id = "a", name = "Kita A", places = {places_a} }}, {{ id = "b", name = "Kita B", places = 1 }}] }}"#
    );
    City::new("lecce").component("kindergarten", KINDERGARTEN, &config).route("/kita", "kindergarten")
}

fn form(child: &str, choices: &[&str]) -> Value {
    json!({ "child_name": child, "birth_date": born_years_ago(3), "guardian": "Anna", "choices": choices })
}

async fn apply(civic: &Civic, form: &Value) -> (u16, Value) {
    let response = client().post(civic.url("/kita/applications")).json(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn get_json(civic: &Civic, path: &str) -> (u16, Value) {
    let response = client().get(civic.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn places_go_by_choice_then_the_waiting_list_and_come_back_on_withdrawal() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&lecce(2).write(&ws)]);

    let mut placed = Vec::new();
    for (child, choices, expected) in [
        ("Mia", &["a"][..], Some("a")),
        ("Jonas", &["a", "b"], Some("a")),
        ("Lea", &["a", "b"], Some("b")),
        ("Finn", &["a", "b"], None),
    ] {
        let (status, application) = apply(&civic, &form(child, choices)).await;
        assert_eq!(status, 201, "{application}");
        assert_eq!(application["facility"].as_str(), expected, "{child}: {application}");
        let expected_status = if expected.is_some() { "placed" } else { "waiting" };
        assert_eq!(application["status"], expected_status);
        assert_eq!(application["submitted"], today());
        placed.push(application["id"].as_str().unwrap().to_owned());
    }
    let (_, facilities) = get_json(&civic, "/kita/facilities").await;
    assert_eq!(
        facilities,
        json!([{ "id": "a", "name": "Kita A", "places": 2, "free": 0 }, { "id": "b", "name": "Kita B", "places": 1, "free": 0 }])
    );

    let (status, lea) = get_json(&civic, &format!("/kita/applications/{}", placed[2])).await;
    assert_eq!((status, lea["child_name"].as_str(), lea["facility"].as_str()), (200, Some("Lea"), Some("b")));

    // Mia withdraws: her place at `a` goes to Finn, who was waiting for it.
    let withdraw = |i: usize| client().delete(civic.url(&format!("/kita/applications/{}", placed[i]))).send();
    let response = withdraw(0).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "withdrawn");
    assert_eq!(withdraw(0).await.unwrap().status(), 409);
    let (_, finn) = get_json(&civic, &format!("/kita/applications/{}", placed[3])).await;
    assert_eq!((finn["status"].as_str(), finn["facility"].as_str()), (Some("placed"), Some("a")));
    assert_eq!(get_json(&civic, "/kita/facilities").await.1[0]["free"], 0);
    let (_, emil) = apply(&civic, &form("Emil", &["a"])).await;
    assert_eq!(emil["status"], "waiting");

    // Lea gives up `b`; nobody waits for `b`, so it is free for the next application.
    assert_eq!(withdraw(2).await.unwrap().status(), 200);
    let (_, ida) = apply(&civic, &form("Ida", &["b"])).await;
    assert_eq!((ida["status"].as_str(), ida["facility"].as_str()), (Some("placed"), Some("b")));

    let (status, missing) = get_json(&civic, "/kita/applications/K-999").await;
    assert_eq!((status, missing["detail"].as_str()), (404, Some("no application `K-999`")));
}

#[tokio::test]
async fn a_freed_place_goes_to_the_family_that_waited_longest_and_only_once() {
    let ws = Workspace::new();
    let civic = Arc::new(Civic::run(&[&lecce(1).write(&ws)]));
    let mut ids = Vec::new();
    for child in ["Mia", "Jonas", "Lea"] {
        let (_, application) = apply(&civic, &form(child, &["b"])).await;
        ids.push(application["id"].as_str().unwrap().to_owned());
    }
    let status = |i: usize| {
        let (civic, id) = (civic.clone(), ids[i].clone());
        async move { get_json(&civic, &format!("/kita/applications/{id}")).await.1["status"].as_str().unwrap().to_owned() }
    };
    assert_eq!(
        (status(0).await, status(1).await, status(2).await),
        ("placed".into(), "waiting".into(), "waiting".into())
    );

    // Mia's family withdraws twice at once: one withdrawal counts, and Jonas, first in line, gets the place.
    let withdrawals: Vec<_> = (0..2)
        .map(|_| {
            let url = civic.url(&format!("/kita/applications/{}", ids[0]));
            tokio::spawn(async move { client().delete(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut codes = Vec::new();
    for withdrawal in withdrawals {
        codes.push(withdrawal.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [200, 409]);
    let (_, jonas) = get_json(&civic, &format!("/kita/applications/{}", ids[1])).await;
    assert_eq!((jonas["status"].as_str(), jonas["facility"].as_str()), (Some("placed"), Some("b")));
    assert_eq!(status(2).await, "waiting");
    assert_eq!(get_json(&civic, "/kita/facilities").await.1[1]["free"], 0, "the place moved, it was not freed");

    // Lea withdraws from the waiting list; then Jonas gives the place up: nobody waits, so it is free.
    assert_eq!(
        client().delete(civic.url(&format!("/kita/applications/{}", ids[2]))).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        client().delete(civic.url(&format!("/kita/applications/{}", ids[1]))).send().await.unwrap().status(),
        200
    );
    assert_eq!(get_json(&civic, "/kita/facilities").await.1[1]["free"], 1);
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&lecce(2).write(&ws)]);
    let mut missing_guardian = form("Mia", &["a"]);
    missing_guardian.as_object_mut().unwrap().remove("guardian");
    let cases = [
        (missing_guardian, "guardian"),
        (
            json!({ "child_name": "Mia", "birth_date": born_years_ago(3), "guardian": "Anna", "choices": "a" }),
            "choices",
        ),
        (
            json!({ "child_name": 7, "birth_date": born_years_ago(3), "guardian": "Anna", "choices": ["a"] }),
            "child_name",
        ),
        (form("", &["a"]), "child_name"),
        (form("Mia", &[]), "choices"),
        (form("Mia", &["a", "b", "a"]), "choices"),
        (form("Mia", &["zoo"]), "choices[0]"),
        (form("Mia", &["b", "b"]), "choices[1]"),
        (
            json!({ "child_name": "Mia", "birth_date": "2022-02-30", "guardian": "Anna", "choices": ["a"] }),
            "birth_date",
        ),
        (
            json!({ "child_name": "Mia", "birth_date": born_years_ago(-1), "guardian": "Anna", "choices": ["a"] }),
            "birth_date",
        ),
        (
            json!({ "child_name": "Mia", "birth_date": born_years_ago(10), "guardian": "Anna", "choices": ["a"] }),
            "birth_date",
        ),
    ];
    for (body, field) in cases {
        let response = client().post(civic.url("/kita/applications")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["invalid-params"][0]["name"], field, "{body} → {problem}");
        assert_eq!(problem["status"], 400);
    }
    for raw in ["{not json", "[]", r#"{"child_name": "Mia"} trailing"#] {
        let response = client().post(civic.url("/kita/applications")).body(raw).send().await.unwrap();
        assert_eq!(response.status(), 400, "{raw}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let response = client().patch(civic.url("/kita/applications")).send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.headers()["allow"].to_str().unwrap()), (405, "POST"));
    assert_eq!(get_json(&civic, "/kita/facilities").await.1[0]["free"], 2, "no place was taken");
}

#[tokio::test]
async fn concurrent_applications_never_overbook() {
    let ws = Workspace::new();
    let civic = Arc::new(Civic::run(&[&lecce(5).write(&ws)]));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let civic = civic.clone();
            tokio::spawn(async move { apply(&civic, &form(&format!("Kind {i}"), &["a"])).await })
        })
        .collect();
    let mut placed = 0;
    for task in tasks {
        let (status, application) = task.await.unwrap();
        assert_eq!(status, 201, "{application}");
        placed += usize::from(application["status"] == "placed");
    }
    assert_eq!(placed, 5, "exactly the five places are given, never more");
    assert_eq!(get_json(&civic, "/kita/facilities").await.1[0]["free"], 0);
}

#[tokio::test]
async fn an_acknowledged_application_survives_kill_9() {
    survives_kill_9(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_application_survives_kill_9_on_postgres() {
    let server = civic_tests::postgres::Postgres::shared();
    survives_kill_9(&["--state", &server.database()]).await;
}

/// Families apply until the host is killed with `extra` options; a host started again on the
/// same state has every application it acknowledged.
async fn survives_kill_9(extra: &[&str]) {
    let ws = Workspace::new();
    let data = tempfile::tempdir().unwrap();
    let manifest = lecce(1000).write(&ws);
    let mut civic = Civic::run_in(data.path(), &[&manifest], extra);

    // A family after another applies until the host is killed; every 201 is remembered, and the
    // count of them is published so the kill can wait for enough of them.
    let url = civic.url("/kita/applications");
    let stop = Arc::new(AtomicBool::new(false));
    let (count, mut counted) = tokio::sync::watch::channel(0usize);
    let applying = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in 0..10_000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let Ok(response) = client().post(&url).json(&form(&format!("Kind {i}"), &["a"])).send().await else {
                    break;
                };
                if response.status() != 201 {
                    break;
                }
                let Ok(application) = response.json::<Value>().await else { break };
                acknowledged.push(application);
                count.send_replace(acknowledged.len());
            }
            acknowledged
        })
    };
    // Killed while the client is in the middle of its stream of writes.
    let enough = tokio::time::timeout(Duration::from_secs(30), counted.wait_for(|n| *n >= 20)).await;
    assert!(enough.is_ok_and(|seen| seen.is_ok()), "20 applications were not acknowledged in 30 s");
    civic.kill();
    stop.store(true, Ordering::Relaxed);
    let acknowledged = applying.await.unwrap();
    assert!(acknowledged.len() >= 20, "only {} applications before the kill", acknowledged.len());

    let civic = Civic::run_in(data.path(), &[&manifest], extra);
    for application in &acknowledged {
        let id = application["id"].as_str().unwrap();
        let (status, stored) = get_json(&civic, &format!("/kita/applications/{id}")).await;
        assert_eq!((status, &stored), (200, application), "application {id} after the restart");
    }
    let free = get_json(&civic, "/kita/facilities").await.1[0]["free"].as_u64().unwrap();
    assert!(free <= 1000 - acknowledged.len() as u64, "every acknowledged place is still taken");
}

#[tokio::test]
async fn both_example_cities_run_the_same_file_with_their_own_rules() {
    let data = tempfile::tempdir().unwrap();
    let civic = Civic::examples(data.path(), &[], &[]);
    let facilities = |host: &'static str| {
        let url = civic.url("/kita/facilities");
        async move {
            let response = client().get(url).header("host", host).send().await.unwrap();
            let listed: Value = response.json().await.unwrap();
            listed.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(facilities("bremerhaven.localhost").await, ["am-deich", "lotsenhaus"]);
    assert_eq!(facilities("santander.localhost").await, ["el-alisal", "cueto"]);

    // A child of four: Bremerhaven takes children up to 78 months, Santander up to 36.
    let apply_in = |host: &'static str, choice: &'static str| {
        let url = civic.url("/kita/applications");
        async move {
            let body =
                json!({ "child_name": "Noa", "birth_date": born_years_ago(4), "guardian": "Eva", "choices": [choice] });
            client().post(url).header("host", host).json(&body).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(apply_in("bremerhaven.localhost", "am-deich").await, 201);
    assert_eq!(apply_in("santander.localhost", "el-alisal").await, 400);
}
