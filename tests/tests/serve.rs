//! `civic run`: cities, routing, foreign components and failing guests, through the real binary.

use civic_tests::{City, Civic, FAULTY, HELLO_CITY, PLAIN_PROXY, Workspace, get};
use std::time::Duration;

const LOG_WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn two_cities_answer_with_their_own_config_from_the_same_bytes() {
    let ws = Workspace::new();
    let hello = |name, greeting| format!("config = {{ city_name = \"{name}\", greeting = \"{greeting}\" }}");
    let bremerhaven = City::new("bremerhaven")
        .hosts(&["bremerhaven.localhost"])
        .component("hello", HELLO_CITY, &hello("Bremerhaven", "Moin"))
        .route("/hello", "hello")
        .write(&ws);
    let santander = City::new("santander")
        .hosts(&["santander.localhost", "www.santander.example"])
        .component("hello", HELLO_CITY, &hello("Santander", "¡Hola"))
        .route("/hola", "hello")
        .write(&ws);
    let civic = Civic::run(&[&bremerhaven, &santander]);

    let (status, body) = get(&civic.url("/hello"), Some("bremerhaven.localhost")).await;
    assert_eq!((status, body.as_str()), (200, "Moin from Bremerhaven!\n"));
    let (status, body) = get(&civic.url("/hola?name=Ana"), Some("santander.localhost:8080")).await;
    assert_eq!((status, body.as_str()), (200, "¡Hola Ana, welcome to Santander!\n"));
    let (status, body) = get(&civic.url("/hola"), Some("WWW.Santander.Example")).await;
    assert_eq!((status, body.as_str()), (200, "¡Hola from Santander!\n"));

    // Cities never see each other's routes, and an unknown host reaches no city.
    let (status, _) = get(&civic.url("/hola"), Some("bremerhaven.localhost")).await;
    assert_eq!(status, 404);
    let (status, _) = get(&civic.url("/hello"), Some("santander.localhost")).await;
    assert_eq!(status, 404);
    let (status, body) = get(&civic.url("/hello"), Some("elsewhere.localhost")).await;
    assert_eq!(status, 404);
    assert!(body.contains("no city is served at host `elsewhere.localhost`"), "{body}");

    // One compiled component serves both: the host says so in its start-up line.
    civic.wait_for_log(&["serving", "cities=2", "components=2", "distinct=1"], LOG_WAIT).await;
}

#[tokio::test]
async fn connections_are_dealt_to_the_serving_threads_asked_for() {
    let ws = Workspace::new();
    let city = City::new("lecce").component("echo", PLAIN_PROXY, "").route("/echo", "echo").write(&ws);
    let data = tempfile::tempdir().unwrap();
    let civic = Civic::run_in(data.path(), &[&city], &["--threads", "3"]);
    // A connection each: every thread gets some, and every one answers.
    for _ in 0..6 {
        let answer = civic_tests::raw_http(civic.addr(), b"GET /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 203"), "{answer}");
    }
    let serving = civic.thread_names().into_iter().filter(|name| name.starts_with("civic-http-")).count();
    assert_eq!(serving, 3);

    let refused = civic_tests::civic(&["run", "--threads", "0", city.to_str().unwrap()], ws.path());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--threads"), "the option is named");
}

#[tokio::test]
async fn an_sdk_response_says_its_length_so_it_ends_at_its_last_byte() {
    let ws = Workspace::new();
    let city = City::new("lecce").component("hello", HELLO_CITY, "").route("/hello", "hello").write(&ws);
    let civic = Civic::run(&[&city]);
    let response = civic_tests::client().get(civic.url("/hello")).send().await.unwrap();
    let length = response.headers().get("content-length").map(|value| value.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(length, Some(body.len().to_string()), "{body}");
}

#[tokio::test]
async fn routes_match_the_longest_prefix_and_the_guest_sees_the_full_path() {
    let ws = Workspace::new();
    let city = City::new("lecce")
        .component("echo", PLAIN_PROXY, "")
        .component("hello", HELLO_CITY, "config = { city_name = \"Lecce\" }")
        .route("/", "echo")
        .route("/services/hello", "hello")
        .write(&ws);
    let civic = Civic::run(&[&city]);

    let (status, body) = get(&civic.url("/services/hello"), None).await;
    assert_eq!((status, body.as_str()), (200, "Hello from Lecce!\n"));
    let (status, body) = get(&civic.url("/services/hello/deeper?x=1"), None).await;
    assert_eq!((status, body.as_str()), (200, "Hello from Lecce!\n"));
    // A sibling that only shares letters with the prefix falls through to `/`.
    let (status, body) = get(&civic.url("/services/helloworld?x=1"), None).await;
    assert_eq!((status, body.as_str()), (203, "plain proxy saw Method::Get /services/helloworld?x=1\n"));
}

#[tokio::test]
async fn a_plain_wasi_http_component_runs_unmodified() {
    let ws = Workspace::new();
    let city = City::new("novi-sad").component("echo", PLAIN_PROXY, "").route("/echo", "echo").write(&ws);
    let civic = Civic::run(&[&city]);

    let response = civic_tests::client().post(civic.url("/echo/a%20b?q=1")).body("x").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 203);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.text().await.unwrap(), "plain proxy saw Method::Post /echo/a%20b?q=1\n");
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let ws = Workspace::new();
    let city = City::new("lecce").component("echo", PLAIN_PROXY, "").route("/echo", "echo").write(&ws);
    let civic = Civic::run(&[&city]);
    for path in ["/", "/ech", "/echoes", "/other/echo"] {
        let (status, body) = get(&civic.url(path), None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body, format!("no route for `{path}`\n"));
    }
}

#[tokio::test]
async fn a_failing_guest_answers_500_and_the_next_request_is_served() {
    let ws = Workspace::new();
    let city = City::new("santander").component("faulty", FAULTY, "").route("/faulty", "faulty").write(&ws);
    let civic = Civic::run(&[&city]);

    for (path, cause) in [
        ("/faulty/panic", "the faulty component panics on purpose"),
        ("/faulty/unreachable", "component failed: wasm trap: wasm `unreachable` instruction executed"),
        ("/faulty/no-response", "the component returned without setting a response"),
    ] {
        let (status, body) = get(&civic.url(path), None).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(body, "the `faulty` service failed; the cause is in the host's log\n");
        civic.wait_for_log(&["city=santander", "component=faulty", cause], LOG_WAIT).await;
        let (status, body) = get(&civic.url("/faulty/ok"), None).await;
        assert_eq!((status, body.as_str()), (200, "still standing\n"), "after {path}");
    }
}

#[tokio::test]
async fn every_request_is_logged_with_its_city_component_status_and_duration() {
    let ws = Workspace::new();
    let city = City::new("bremerhaven").component("hello", HELLO_CITY, "").route("/hello", "hello").write(&ws);
    let civic = Civic::run(&[&city]);
    let response = civic_tests::client().delete(civic.url("/hello/x")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let line = civic
        .wait_for_log(
            &["city=bremerhaven", "component=hello", "method=DELETE", "path=/hello/x", "status=405", "duration_ms="],
            LOG_WAIT,
        )
        .await;
    assert!(line.contains("INFO"), "{line}");
}

#[tokio::test]
async fn the_first_stderr_line_is_the_real_address() {
    let ws = Workspace::new();
    let city = City::new("lecce").component("echo", PLAIN_PROXY, "").route("/", "echo").write(&ws);
    let civic = Civic::run(&[&city]);
    let first = civic.log().lines().next().unwrap_or_default().to_owned();
    assert_eq!(first, format!("listening on http://{}", civic.addr()));
    assert_ne!(civic.addr().port(), 0);
}

#[tokio::test]
async fn rust_log_chooses_what_is_logged() {
    let ws = Workspace::new();
    let city = City::new("lecce")
        .component("faulty", FAULTY, "")
        .component("echo", PLAIN_PROXY, "")
        .route("/faulty", "faulty")
        .route("/echo", "echo")
        .write(&ws);
    let data = ws.path().join("data");
    let civic = Civic::start(
        "run",
        &["--data-dir".as_ref(), data.as_os_str(), city.as_os_str()],
        &[("RUST_LOG", "warn".as_ref())],
    );
    assert_eq!(get(&civic.url("/echo"), None).await.0, 203);
    assert_eq!(get(&civic.url("/faulty/no-response"), None).await.0, 500);
    // Lines arrive in order: once the error is in, an info line for the first request would be too.
    civic.wait_for_log(&["ERROR", "returned without setting a response"], LOG_WAIT).await;
    assert!(!civic.log().contains("served"), "{}", civic.log());
}

#[tokio::test]
async fn compiled_components_are_cached_in_the_data_dir_and_a_bad_entry_is_recompiled() {
    let ws = Workspace::new();
    let city = City::new("lecce").component("hello", HELLO_CITY, "").route("/", "hello").write(&ws);
    let data = ws.path().join("data");
    drop(Civic::run_in(&data, &[&city], &[]));
    let cached: Vec<_> = std::fs::read_dir(data.join("cache")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].extension().is_some_and(|e| e == "cwasm"), "{cached:?}");

    // A damaged cache entry is never trusted: it is compiled again, with a warning.
    std::fs::write(&cached[0], b"not a compiled component").unwrap();
    let civic = Civic::run_in(&data, &[&city], &[]);
    assert_eq!(get(&civic.url("/"), None).await, (200, "Hello from this city!\n".into()));
    assert!(civic.log().contains("ignoring unusable compile cache entry"), "{}", civic.log());
}

#[tokio::test]
async fn guest_output_is_logged_in_whole_lines() {
    let ws = Workspace::new();
    let city = City::new("lecce").component("faulty", FAULTY, "").route("/faulty", "faulty").write(&ws);
    let civic = Civic::run(&[&city]);
    assert_eq!(get(&civic.url("/faulty/pieces"), None).await, (200, "printed\n".into()));
    // The unfinished last line is logged when the instance ends.
    civic.wait_for_log(&["path=/faulty/pieces", "civic::guest: the end"], LOG_WAIT).await;
    let log = civic.log();
    let records: Vec<_> =
        log.lines().filter(|l| l.contains("path=/faulty/pieces") && l.contains("civic::guest:")).collect();
    assert_eq!(records.len(), 3, "a whole line, an empty one, the end:\n{log}");
    assert!(records[0].contains("civic::guest: start a print 1234 context=\"stdout\""), "{log}");
    assert!(records[1].contains("civic::guest:  context=\"stdout\""), "the empty line is kept:\n{log}");
}

#[tokio::test]
async fn the_probes_are_the_hosts_own_and_readiness_ends_at_sigterm() {
    let ws = Workspace::new();
    // Even a city routed at `/` does not get the host's paths.
    let city = City::new("lecce").component("echo", PLAIN_PROXY, "").route("/", "echo").write(&ws);
    let data = ws.path().join("data");
    let mut civic = Civic::run_in(&data, &[&city], &["--drain-delay", "3s"]);
    assert_eq!(get(&civic.url("/.well-known/civic/health"), None).await, (200, "ok\n".into()));
    assert_eq!(get(&civic.url("/.well-known/civic/ready"), None).await, (200, "ready\n".into()));
    assert_eq!(get(&civic.url("/.well-known/civic/other"), None).await.0, 404);
    assert_eq!(get(&civic.url("/.well-known/civicx"), None).await.0, 203, "a sibling path is the city's");

    civic.terminate();
    civic.wait_for_log(&["shutting down: not ready any more"], LOG_WAIT).await;
    let (status, reason) = get(&civic.url("/.well-known/civic/ready"), None).await;
    assert_eq!((status, reason.as_str()), (503, "not ready: the host is shutting down\n"));
    assert_eq!(get(&civic.url("/echo"), None).await.0, 203, "it serves on through the drain delay");
    let exited = civic.wait_exit(Duration::from_secs(30)).await;
    assert!(exited.is_some_and(|status| status.success()), "{exited:?}");
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_is_answered_before_the_host_exits() {
    let ws = Workspace::new();
    let city = City::new("lecce")
        .component("faulty", FAULTY, r#"limits = { timeout = "2s" }"#)
        .route("/faulty", "faulty")
        .write(&ws);
    let mut civic = Civic::run(&[&city]);
    let url = civic.url("/faulty/sleep");
    let in_flight =
        tokio::spawn(async move { civic_tests::client().get(url).send().await.map(|r| r.status().as_u16()) });
    civic.wait_for_log(&["path=/faulty/sleep", "going to sleep"], LOG_WAIT).await;
    civic.terminate();
    // It was cut off by its own deadline, not by the shutdown: a whole answer.
    assert_eq!(in_flight.await.unwrap().expect("an answer, not a broken connection"), 504);
    let exited = civic.wait_exit(Duration::from_secs(30)).await;
    assert!(exited.is_some_and(|status| status.success()), "{exited:?}");
}
