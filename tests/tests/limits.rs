//! Sandbox budgets and fault isolation, through the real binary: each misbehaving guest gets the
//! right status and a log line naming its city, component and cause, and the next request to the
//! same component is served normally.

use civic_tests::{City, Civic, FAULTY, KEYVALUE, Workspace, civic, client, get, raw_http, raw_http_half_closed};
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
async fn with_the_queue_off_beyond_max_concurrency_answers_503_at_once() {
    let ws = Workspace::new();
    let civic = Arc::new(Civic::run(&[&city(r#"max_concurrency = 1, timeout = "3s", queue = "0s""#).write(&ws)]));
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

/// `count` requests for `path` at once: their statuses (0: no answer).
async fn burst(civic: &Civic, path: &str, count: usize) -> Vec<u16> {
    let url = civic.url(path);
    let requests = (0..count).map(|_| {
        let url = url.clone();
        async move {
            match client().get(&url).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // Read to the end, so the guest is not cut off mid-body.
                    response.bytes().await.map_or(0, |_| status)
                }
                Err(_) => 0,
            }
        }
    });
    futures_util::future::join_all(requests).await
}

#[tokio::test]
async fn a_burst_waits_in_the_queue_and_is_served_and_with_the_queue_off_the_excess_answers_503() {
    let ws = Workspace::new();
    let queued = city(r#"max_concurrency = 8, queue = "200ms""#).write(&ws);
    let civic = Civic::run_with_admin(&[&queued], "s3cret-admin-token-xxxxxxxxxxxxx");
    // 64 at once, 8 at a time for 5 ms each: the last waits about 40 ms of its 200.
    // A request that waited past the bound would have been answered 503.
    let statuses = burst(&civic, "/faulty/nap", 64).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let metrics = client()
        .get(format!("http://{}/metrics", civic.admin_addr().await))
        .bearer_auth("s3cret-admin-token-xxxxxxxxxxxxx")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name}{{component=\"faulty\"}}")));
        line.and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {metrics}"))
    };
    let (waited, seconds) = (count("civic_requests_queued_total"), count("civic_request_queue_seconds_total"));
    assert!((1.0..=56.0).contains(&waited), "{waited} of 64 waited: {metrics}");
    assert!(seconds / waited <= 0.2, "waited {seconds} s in all, past the bound: {metrics}");
    drop(civic);

    let off = city(r#"max_concurrency = 8, queue = "0s""#).write(&ws);
    let civic = Civic::run(&[&off]);
    let statuses = burst(&civic, "/faulty/nap?ms=200", 64).await;
    let turned_away = statuses.iter().filter(|&&s| s == 503).count();
    assert!(statuses.iter().all(|&s| s == 200 || s == 503), "{statuses:?}");
    assert!(turned_away >= 56 - 8, "only {turned_away} of 64 answered 503 without a queue: {statuses:?}");
}

#[tokio::test]
async fn a_component_of_many_core_instances_and_memories_serves_its_max_concurrency_at_once() {
    let ws = Workspace::new();
    // 40 more core instances, memories and tables than the guest itself: more than the 4, 2 and
    // 2 per instance a pool sized without looking at the components would hold.
    let wide = ws.write("wide.wasm", civic_tests::edit::widened(&std::fs::read(FAULTY).unwrap(), 40));
    let manifest = City::new("lecce")
        .component("faulty", wide.to_str().unwrap(), r#"limits = { max_concurrency = 8, queue = "0s" }"#)
        .route("/faulty", "faulty")
        .write(&ws);
    let civic = Civic::run(&[&manifest]);
    civic.wait_for_log(&["serving", "instances=8"], LOG_WAIT).await;
    let statuses = burst(&civic, "/faulty/nap?ms=300", 8).await;
    assert_eq!(statuses, [200; 8]);
}

#[tokio::test]
async fn the_pool_is_sized_from_the_manifests_and_an_empty_pool_answers_503() {
    let ws = Workspace::new();
    let manifest = city(r#"max_concurrency = 3, timeout = "3s""#).write(&ws);
    let civic = Civic::run(&[&manifest]);
    civic.wait_for_log(&["serving", "instances=6"], LOG_WAIT).await;
    drop(civic);

    // One instance for the whole host: while it is taken, the next request finds the pool empty.
    let data = tempfile::tempdir().unwrap();
    let civic = Arc::new(Civic::run_in(data.path(), &[&manifest], &["--max-instances", "1"]));
    let holder = {
        let civic = civic.clone();
        tokio::spawn(async move { get(&civic.url("/faulty/sleep"), None).await.0 })
    };
    civic.wait_for_log(&["path=/faulty/sleep", "going to sleep"], LOG_WAIT).await;
    let turned_away = client().get(civic.url("/kv/b/anything")).send().await.unwrap();
    assert_eq!(turned_away.status(), 503);
    assert_eq!(turned_away.headers()["retry-after"], "1");
    civic.wait_for_log(&["component=store", "no free instance slot"], LOG_WAIT).await;

    assert_eq!(holder.await.unwrap(), 504);
    still_standing(&civic).await;
}

#[test]
fn a_limit_with_which_the_host_could_serve_nothing_stops_the_start() {
    let ws = Workspace::new();
    let manifest = city("").write(&ws);
    for (option, zero) in
        [("--max-instances", "0"), ("--max-concurrency", "0"), ("--memory", "0"), ("--kv-max-keys", "0")]
    {
        let args = ["run", "--listen", "127.0.0.1:0", "--data-dir", "data", option, zero, manifest.to_str().unwrap()];
        let output = civic(&args, ws.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{option} {zero}: {stderr}");
        let message = format!("`{option}` must be at least 1: with 0 the host could serve nothing");
        assert!(stderr.contains(&message), "{option} {zero}: {stderr}");
        assert!(!stderr.contains("listening on"), "{stderr}");
    }
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

// Misbehaving clients.

#[tokio::test]
async fn a_body_shorter_than_its_content_length_answers_400_or_408_and_stores_nothing() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city(r#"timeout = "500ms""#).write(&ws)]);
    let short = |key: &str| format!("PUT /kv/b/{key} HTTP/1.1\r\nhost: lecce\r\ncontent-length: 100\r\n\r\nonly ten b");

    // The client ends the connection's sending side: the body can never be complete.
    let answer = raw_http_half_closed(civic.addr(), short("ended").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.ends_with("the request body ended before it was complete\n"), "{answer}");
    civic.wait_for_log(&["component=store", "path=/kv/b/ended", "the request body broke off"], LOG_WAIT).await;

    // The client keeps the connection open and waits: the rest never comes, and the deadline
    // blames the client, not the component.
    let answer = raw_http(civic.addr(), short("waiting").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("the request body did not arrive within 500ms\n"), "{answer}");
    civic.wait_for_log(&["component=store", "path=/kv/b/waiting", "still sending the request body"], LOG_WAIT).await;

    for key in ["ended", "waiting"] {
        assert_eq!(get(&civic.url(&format!("/kv/b/{key}")), None).await.0, 404, "nothing was stored");
    }
}

#[tokio::test]
async fn bytes_beyond_the_content_length_are_a_bad_next_request() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("").write(&ws)]);
    let long =
        b"PUT /kv/b/long HTTP/1.1\r\nhost: lecce\r\ncontent-length: 5\r\n\r\nhello, and more than declared\r\n\r\n";
    let answer = raw_http(civic.addr(), long);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert!(answer.contains("HTTP/1.1 400"), "the rest is answered as a malformed request: {answer}");
    assert_eq!(get(&civic.url("/kv/b/long"), None).await, (200, "hello".into()), "exactly the declared bytes");
}

#[tokio::test]
async fn a_client_that_disconnects_gives_back_its_place_at_once() {
    use std::io::Write as _;
    let ws = Workspace::new();
    let city = City::new("lecce")
        .component("faulty", FAULTY, r#"limits = { max_concurrency = 1, timeout = "60s" }"#)
        .component("store", KEYVALUE, r#"keyvalue = ["b"]"#)
        .route("/faulty", "faulty")
        .route("/kv", "store");
    let civic = Civic::run(&[&city.write(&ws)]);

    // Gone while the component runs: the component is stopped and its only place is free again.
    let mut waiting = std::net::TcpStream::connect(civic.addr()).unwrap();
    waiting.write_all(b"GET /faulty/sleep HTTP/1.1\r\nhost: lecce\r\n\r\n").unwrap();
    civic.wait_for_log(&["path=/faulty/sleep", "going to sleep"], LOG_WAIT).await;
    drop(waiting);
    civic.wait_for_log(&["component=faulty", "path=/faulty/sleep", "the client went away"], LOG_WAIT).await;
    // The stop is asynchronous: the place is free once the aborted task has been dropped, a
    // moment after the log line, never at its 60 s deadline.
    let started = Instant::now();
    while get(&civic.url("/faulty/ok"), None).await.0 == 503 {
        assert!(started.elapsed() < Duration::from_secs(2), "the place was not given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    still_standing(&civic).await;

    // Gone in the middle of the body: nothing is stored.
    let mut sending = std::net::TcpStream::connect(civic.addr()).unwrap();
    sending.write_all(b"PUT /kv/b/cut HTTP/1.1\r\nhost: lecce\r\ncontent-length: 1000\r\n\r\nonly part").unwrap();
    drop(sending);
    civic.wait_for_log(&["component=store", "path=/kv/b/cut", "the request body broke off"], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/kv/b/cut"), None).await.0, 404);
}

#[tokio::test]
async fn a_slow_request_head_answers_408_and_an_idle_connection_closes_quietly() {
    use std::io::{Read as _, Write as _};
    let ws = Workspace::new();
    let data = tempfile::tempdir().unwrap();
    let civic = Civic::run_in(data.path(), &[&city("").write(&ws)], &["--header-timeout", "300ms"]);
    let read_all = |mut stream: std::net::TcpStream| {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("the host closes the connection");
        (answer, started.elapsed())
    };

    let mut slow = std::net::TcpStream::connect(civic.addr()).unwrap();
    slow.write_all(b"GET /faulty/ok HTTP/1.1\r\nhost: lec").unwrap();
    let (answer, waited) = read_all(slow);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.ends_with("the request head took too long to send\n"), "{answer}");
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    civic.wait_for_log(&["request head", "answered 408"], LOG_WAIT).await;

    let idle = std::net::TcpStream::connect(civic.addr()).unwrap();
    assert_eq!(read_all(idle).0, "", "an idle connection gets no answer");
    still_standing(&civic).await;
}

#[tokio::test]
async fn a_huge_response_streams_through_without_piling_up_in_the_host() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&city("").write(&ws)]);
    still_standing(&civic).await;
    let before = civic.peak_memory();
    let mut response = client().get(civic.url("/faulty/huge")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0usize;
    while let Some(chunk) = response.chunk().await.expect("the whole body arrives") {
        received += chunk.len();
    }
    assert_eq!(received, 256 << 20);
    let grown = civic.peak_memory().saturating_sub(before);
    assert!(grown < 64 << 20, "the host's peak memory grew by {} MiB for a 256 MiB answer", grown >> 20);
    still_standing(&civic).await;
}

// What a guest may reach.

#[tokio::test]
async fn a_guest_sees_files_only_where_granted_and_read_only_unless_writable() {
    let ws = Workspace::new();
    let shared = ws.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("greeting.txt"), "Moin\n").unwrap();
    let grant = |files: &str| {
        City::new("lecce").component("faulty", FAULTY, &format!("files = {{ {files} }}")).route("/faulty", "faulty")
    };

    let civic =
        Civic::run(&[&City::new("lecce").component("faulty", FAULTY, "").route("/faulty", "faulty").write(&ws)]);
    let (status, body) = get(&civic.url("/faulty/read"), None).await;
    assert_eq!(status, 403, "no grant, no files: {body}");
    drop(civic);

    let civic = Civic::run(&[&grant(r#""/data" = "shared""#).write(&ws)]);
    assert_eq!(get(&civic.url("/faulty/read"), None).await, (200, "Moin\n".into()));
    let (status, body) = get(&civic.url("/faulty/write"), None).await;
    assert_eq!(status, 403, "read-only by default: {body}");
    assert!(!shared.join("written.txt").exists());
    drop(civic);

    let civic = Civic::run(&[&grant(r#""/data" = { path = "shared", writable = true }"#).write(&ws)]);
    assert_eq!(get(&civic.url("/faulty/write"), None).await, (200, "written\n".into()));
    assert_eq!(std::fs::read_to_string(shared.join("written.txt")).unwrap(), "written by the guest");
}

#[tokio::test]
async fn a_guest_sees_only_the_environment_variables_granted() {
    let ws = Workspace::new();
    let civic =
        Civic::run(&[&City::new("lecce").component("faulty", FAULTY, "").route("/faulty", "faulty").write(&ws)]);
    assert_eq!(get(&civic.url("/faulty/env"), None).await, (200, String::new()), "the host's own variables stay out");
    drop(civic);

    let granted = r#"env = { TZ = "Europe/Rome", LANG = "it_IT.UTF-8" }"#;
    let city = City::new("lecce").component("faulty", FAULTY, granted).route("/faulty", "faulty");
    let civic = Civic::run(&[&city.write(&ws)]);
    assert_eq!(get(&civic.url("/faulty/env"), None).await, (200, "LANG=it_IT.UTF-8\nTZ=Europe/Rome\n".into()));
}
