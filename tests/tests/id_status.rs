//! The id-status plugin through the real binary, against a local stand-in for a city's legacy
//! document registry that speaks XML: clean JSON for a known document, and a clear 404, 502 or
//! 504 — never a hang — when the registry does not know it, fails, talks nonsense or is slow.
//! Only the origins in the manifest's `outbound` list can be reached.

use civic_tests::{City, Civic, ID_STATUS, Workspace, backend, client, get};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A legacy registry on 127.0.0.1: `GET /documents/NUMBER` answers by the number.
async fn legacy_registry() -> SocketAddr {
    backend(|path| match path.trim_start_matches("/documents/") {
        "L01X00T47" => Some((
            "200 OK",
            "<?xml version=\"1.0\"?><dokument><nummer>L01X00T47</nummer><art>PERSONALAUSWEIS</art>\
             <status>ABHOLBEREIT</status><behoerde>Bürgerbüro Mitte</behoerde><stand>2026-11-20</stand></dokument>",
        )),
        "BROKEN001" => Some(("500 Internal Server Error", "<fehler>Datenbank nicht erreichbar</fehler>")),
        "GARBLED01" => Some(("200 OK", "<dokument><nummer>GARBLED01</nummer><art>")),
        // A registry that hangs: it never answers.
        "SLOW00001" => None,
        _ => Some(("404 Not Found", "<fehler>unbekannt</fehler>")),
    })
    .await
}

fn city(id: &str, registry: SocketAddr, outbound: &str) -> City {
    let entry = format!("config = {{ registry_url = \"http://{registry}\", timeout_ms = 500 }}\n{outbound}");
    City::new(id)
        .hosts(&[&format!("{id}.localhost")])
        .component("id-status", ID_STATUS, &entry)
        .route("/ausweis", "id-status")
}

async fn ask(civic: &Civic, host: &str, number: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response =
        client().get(civic.url(&format!("/ausweis/documents/{number}"))).header("host", host).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap(), started.elapsed())
}

#[tokio::test]
async fn the_legacy_registry_answers_as_clean_json_or_a_clear_error() {
    let registry = legacy_registry().await;
    let ws = Workspace::new();
    let allowed = city("lecce", registry, &format!("outbound = [\"http://{registry}\"]")).write(&ws);
    let denied = city("bari", registry, "").write(&ws);
    let civic = Civic::run(&[&allowed, &denied]);

    let (status, document, _) = ask(&civic, "lecce.localhost", "l01x00t47").await;
    assert_eq!(status, 200);
    assert_eq!(
        document,
        json!({ "number": "L01X00T47", "kind": "id-card", "status": "ready-for-pickup", "office": "Bürgerbüro Mitte", "updated": "2026-11-20" })
    );
    let (status, problem, _) = ask(&civic, "lecce.localhost", "UNKNOWN99").await;
    assert_eq!((status, problem["detail"].as_str()), (404, Some("the registry knows no document `UNKNOWN99`")));
    for failing in ["BROKEN001", "GARBLED01"] {
        let (status, problem, _) = ask(&civic, "lecce.localhost", failing).await;
        assert_eq!(status, 502, "{failing}: {problem}");
    }
    civic.wait_for_log(&["component=id-status", "GARBLED01 is unusable"], Duration::from_secs(10)).await;

    let (status, problem, took) = ask(&civic, "lecce.localhost", "SLOW00001").await;
    assert_eq!((status, problem["detail"].as_str()), (504, Some("the document registry did not answer within 500ms")));
    assert!(took < Duration::from_secs(5), "the slow registry held the answer for {took:?}");

    let (status, problem, _) = ask(&civic, "lecce.localhost", "no-such!").await;
    assert_eq!((status, problem["invalid-params"][0]["name"].as_str()), (400, Some("number")));

    // A city whose manifest does not list the registry cannot reach it.
    let (status, _, _) = ask(&civic, "bari.localhost", "L01X00T47").await;
    assert_eq!(status, 502);
    civic.wait_for_log(&["city=bari", "outgoing request denied"], Duration::from_secs(10)).await;
    assert_eq!(get(&civic.url("/ausweis/documents/L01X00T47"), Some("lecce.localhost")).await.0, 200, "still serving");
}

#[tokio::test]
async fn a_registry_that_is_down_answers_502() {
    // Bind and drop a listener: nothing listens on that port any more.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("lecce", gone, &format!("outbound = [\"http://{gone}\"]")).write(&ws)]);
    let (status, problem, _) = ask(&civic, "lecce.localhost", "L01X00T47").await;
    assert_eq!((status, problem["detail"].as_str()), (502, Some("the document registry cannot be reached")));
}
