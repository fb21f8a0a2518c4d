//! Sandbox budgets and fault isolation, through the real binary: each misbehaving guest gets the
//! right status and a log line naming its city, component and cause, and the next request to the
//! same component is served normally.

use civic_tests::{City, Civic, FAULTY, KEYVALUE, Workspace, client, get, raw_http};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOG_WAIT: Duration = Duration::from_secs(10);

/// The faulty guest at `/faulty` with `limits = { LIMITS }`, and the key-value guest at `/kv`.
fn city(limits: &str) -> City {
    City::new("lecce")
        .component("faulty", FAULTY, &format!("limits = {{ {limits} }}"))
        .component("store", KEYVALUE, &format!("keyvalue = [\"b\"]\nlimits = {{ {limits} }}"))
        .route("/faulty", "faulty")
        .route("/kv", "store")
}

async fn still_standing(civic: &Civic) {
    assert_eq!(get(&civic.url("/faulty/ok"), None).await, (200, "still standing\n".into()));
}

#[tokio::test]
async fn a_guest_past_its_deadline_answers_504_whether_it_computes_or_waits_in_a_host_call() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city(r#"timeout = "300ms""#).write(&ws)]);
    for path in ["/faulty/loop", "/faulty/sleep"] {
        let started = Instant::now();
        let (status, body) = get(&civic.url(path), None).await;
        assert_eq!(status, 504, "{path}: {body}");
        assert_eq!(body, "the `faulty` service took longer than 300ms\n");
        assert!(started.elapsed() < Duration::from_secs(5), "{path} took {:?}", started.elapsed());
        civic
            .wait_for_log(&["component=faulty", &format!("path={path}"), "component past its deadline"], LOG_WAIT)
            .await;
        still_standing(&civic).await;
    }
}

#[tokio::test]
async fn a_guest_that_grows_memory_without_end_fails_inside_and_answers_500() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city(r#"memory = "16MiB""#).write(&ws)]);
    assert_eq!(get(&civic.url("/faulty/grow"), None).await.0, 500);
    civic.wait_for_log(&["component=faulty", "path=/faulty/grow", "component failed"], LOG_WAIT).await;
    still_standing(&civic).await;
}

#[tokio::test]
async fn a_stack_overflow_answers_500() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("").write(&ws)]);
    assert_eq!(get(&civic.url("/faulty/recurse"), None).await.0, 500);
    civic.wait_for_log(&["component=faulty", "path=/faulty/recurse", "component failed"], LOG_WAIT).await;
    still_standing(&civic).await;
}

#[tokio::test]
async fn beyond_max_concurrency_answers_503_at_once() {
    let ws = Workspace::new();
    let civic = Arc::new(Civic::run(&[&city(r#"max_concurrency = 1, timeout = "3s""#).write(&ws)]));
    // One request holds the only place until its deadline; it says so once it is in.
    let holder = {
        let civic = civic.clone();
        tokio::spawn(async move { get(&civic.url("/faulty/sleep"), None).await.0 })
    };
    civic.wait_for_log(&["path=/faulty/sleep", "going to sleep"], LOG_WAIT).await;

    let started = Instant::now();
    let turned_away = client().get(civic.url("/faulty/ok")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "the 503 took {:?}", started.elapsed());
    assert_eq!(turned_away.status(), 503);
    assert_eq!(turned_away.headers()["retry-after"], "1");
    assert_eq!(turned_away.text().await.unwrap(), "the `faulty` service is busy; try again\n");
    civic.wait_for_log(&["component=faulty", "too many requests at once"], LOG_WAIT).await;

    assert_eq!(holder.await.unwrap(), 504);
    still_standing(&civic).await;
}

#[tokio::test]
async fn an_oversized_body_answers_413() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city(r#"max_body = "1KiB""#).write(&ws)]);
    let big = "x".repeat(2048);

    // Declared too large: refused before the component runs.
    let response = client().put(civic.url("/kv/b/declared")).body(big.clone()).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.text().await.unwrap(), "the request body is larger than 1024 bytes\n");

    // Sent in chunks with no length: cut off at the limit, and still 413.
    let chunked = format!(
        "PUT /kv/b/chunked HTTP/1.1\r\nhost: lecce\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let answer = raw_http(civic.addr(), chunked.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(get(&civic.url("/kv/b/chunked"), None).await.0, 404, "nothing was stored");

    // Within the limit all is well.
    assert_eq!(client().put(civic.url("/kv/b/small")).body("x".repeat(1024)).send().await.unwrap().status(), 204);
}

#[tokio::test]
async fn too_many_headers_answer_431() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("").write(&ws)]);
    let mut request = String::from("GET /faulty/ok HTTP/1.1\r\nhost: lecce\r\nconnection: close\r\n");
    for i in 0..150 {
        request += &format!("x-header-{i}: {i}\r\n");
    }
    request += "\r\n";
    let answer = raw_http(civic.addr(), request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    still_standing(&civic).await;
}

#[tokio::test]
async fn a_guest_that_fails_mid_body_cuts_the_answer_short_and_is_logged() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("").write(&ws)]);
    // The head may already be on its way when the guest fails: then the body must end
    // abnormally, never as a short answer that looks whole.
    if let Ok(response) = client().get(civic.url("/faulty/stream-then-trap")).send().await {
        assert_eq!(response.status(), 200);
        assert!(response.text().await.is_err(), "a truncated body must not read as complete");
    }
    civic.wait_for_log(&["component=faulty", "path=/faulty/stream-then-trap", "component failed"], LOG_WAIT).await;
    still_standing(&civic).await;
}
