//! Components of WASI 0.3 (`wasi:http/handler@0.3.0`, on the component model's async features)
//! through the real binary: without `--experimental-wasip3` a manifest error that names the
//! switch; with it, served like a 0.2 component — a fresh instance per request, the same budgets,
//! grants, logs and metrics — with bodies streamed both ways, and swapped to and from 0.2.
//! (Links between the releases: tests/links.rs.)

use civic_tests::{City, Civic, HTTP_P3, LINK_BENCH, TEST_TAX, Workspace, backend, civic, client, get, raw_http};
use std::time::Duration;

const SWITCH: &str = "--experimental-wasip3";
const TOKEN: &str = "wasip3-admin-token-xxxxxxxxxxxxx";
const HELLO: &str = "hello from wasi:http 0.3\n";

/// Lecce with the 0.3 component `p3` at `/p3` (its `civic:tax` link to the 0.2 `flat`), and
/// `more` in its manifest entry.
fn lecce(more: &str) -> City {
    let entry = format!("links = {{ \"civic:tax/assessment@1\" = \"flat\" }}\n{more}");
    City::new("lecce").component("p3", HTTP_P3, &entry).component("flat", TEST_TAX, "").route("/p3", "p3")
}

/// `civic run` with the switch on (from the environment, as a container would set it) and the
/// admin API on.
fn run(manifest: &std::path::Path, data: &std::path::Path) -> Civic {
    let args =
        ["--data-dir".as_ref(), data.as_os_str(), "--admin".as_ref(), "127.0.0.1:0".as_ref(), manifest.as_os_str()];
    Civic::start("run", &args, &[("CIVIC_EXPERIMENTAL_WASIP3", "true".as_ref()), ("CIVIC_ADMIN_TOKEN", TOKEN.as_ref())])
}

#[test]
fn without_the_switch_a_wasip3_component_is_a_manifest_error_that_names_it() {
    let ws = Workspace::new();
    let city = lecce("");
    city.write(&ws);
    let source = city.toml().lines().position(|l| l == "[components.p3]").unwrap() + 2;
    let refusal = "is a component of WASI 0.3: it exports `wasi:http/handler@0.3.0`. This host serves those only \
                   when started with `--experimental-wasip3` (or CIVIC_EXPERIMENTAL_WASIP3=true)";
    let data = ws.path().join("data");
    let run = ["run", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap(), "lecce.toml"];
    for args in [&["check", "lecce.toml"][..], &run] {
        let output = civic(args, ws.path());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(refusal), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("--> lecce.toml:{source}:10")), "{args:?}: {stderr}");
        assert!(!stderr.contains("requires the component model async feature"), "not wasmtime's words: {stderr}");
    }

    let output = civic(&["check", SWITCH, "lecce.toml"], ws.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout, "ok: 1 city, 2 components (2 distinct), 1 routes, 1 links\n");

    let output = civic(&["inspect", HTTP_P3], ws.path());
    let wit = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    assert!(wit.starts_with("// A component of WASI 0.3"), "{wit}");
    assert!(wit.contains("export wasi:http/handler@0.3.0;"), "{wit}");
    assert!(wit.contains("handle: async func(request: request) -> result<response, error-code>;"), "{wit}");
}

#[tokio::test]
async fn a_wasip3_component_runs_under_the_same_budgets_and_grants() {
    let upstream = backend(|_| Some(("204 No Content", ""))).await;
    let ws = Workspace::new();
    let entry = format!(
        "config = {{ greeting = \"ciao\" }}\nkeyvalue = [\"visits\"]\noutbound = [\"http://{upstream}\"]\n\
         limits = {{ timeout = \"1s\", memory = \"32MiB\", max_body = \"1MiB\" }}"
    );
    let manifest = lecce(&entry).write(&ws);
    let civic = run(&manifest, &ws.path().join("data"));

    assert_eq!(get(&civic.url("/p3/hello"), None).await, (200, HELLO.into()));
    assert_eq!(get(&civic.url("/p3/config/greeting"), None).await, (200, "ciao".into()));
    assert_eq!(get(&civic.url("/p3/visits"), None).await, (200, "visit 1\n".into()));
    assert_eq!(get(&civic.url("/p3/visits"), None).await, (200, "visit 2\n".into()));

    // A fresh instance for every request, also for requests at the same time: never reused,
    // though the async model would allow one instance to take several.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = civic.url("/p3/calls");
        calls.spawn(async move { get(&url, None).await });
    }
    let calls = calls.join_all().await;
    assert!(calls.iter().all(|call| *call == (200, "call 1 of this instance\n".into())), "{calls:?}");

    // Outbound requests only to the origins its entry lists.
    let allowed = format!("/p3/fetch?url=http://{upstream}/status");
    assert_eq!(get(&civic.url(&allowed), None).await, (200, "upstream answered 204\n".into()));
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let denied = get(&civic.url(&format!("/p3/fetch?url=http://{other}/")), None).await;
    assert_eq!(denied, (502, "upstream refused: ErrorCode::HttpRequestDenied\n".into()));
    civic.wait_for_log(&["component=p3", "outgoing request denied"], Duration::from_secs(5)).await;

    // The deadline, the memory limit and the body limit.
    let spun = get(&civic.url("/p3/spin"), None).await;
    assert_eq!(spun, (504, "the `p3` service took longer than 1s\n".into()));
    civic.wait_for_log(&["component=p3", "component past its deadline"], Duration::from_secs(5)).await;
    assert_eq!(get(&civic.url("/p3/grow?mib=8"), None).await, (200, "held 8 MiB\n".into()));
    let grown = get(&civic.url("/p3/grow?mib=64"), None).await;
    assert_eq!(grown, (500, "the `p3` service failed; the cause is in the host's log\n".into()));
    civic.wait_for_log(&["component=p3", "memory allocation of 67108864 bytes failed"], Duration::from_secs(5)).await;
    let counted = client().post(civic.url("/p3/count")).body(vec![7u8; 700_000]).send().await.unwrap();
    assert_eq!(counted.text().await.unwrap(), "700000 bytes\n");
    // Refused from its declared length, or while it streams in when it declares none: 2 MiB in
    // chunks of 64 KiB.
    let head = "POST /p3/count HTTP/1.1\r\nhost: lecce\r\nconnection: close\r\n";
    let chunk = format!("10000\r\n{}\r\n", "x".repeat(64 << 10));
    for request in [
        format!("{head}content-length: 3145728\r\n\r\n"),
        format!("{head}transfer-encoding: chunked\r\n\r\n{}0\r\n\r\n", chunk.repeat(32)),
    ] {
        let addr = civic.addr();
        let answer = tokio::task::spawn_blocking(move || raw_http(addr, request.as_bytes())).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.ends_with("the request body is larger than 1048576 bytes\n"), "{answer}");
    }

    // The same log lines and metrics as any component.
    civic.wait_for_log(&["component=p3", "path=/p3/spin", "status=504", "served"], Duration::from_secs(5)).await;
    let admin = civic.admin_addr().await;
    let metrics = client().get(format!("http://{admin}/metrics?city=lecce")).bearer_auth(TOKEN).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for line in [
        r#"civic_requests_total{city="lecce",component="p3"} 20"#,
        r#"civic_request_errors_total{city="lecce",component="p3"} 3"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
}

#[tokio::test]
async fn bodies_of_50_mib_stream_both_ways_with_the_hosts_memory_flat() {
    let ws = Workspace::new();
    let manifest = lecce("limits = { memory = \"16MiB\", max_concurrency = 1, max_body = \"64MiB\" }").write(&ws);
    let civic = run(&manifest, &ws.path().join("data"));
    assert_eq!(get(&civic.url("/p3/stream?mib=1"), None).await.1.len(), 1 << 20);
    let before = civic.peak_memory();
    for _ in 0..2 {
        let mut response = client().get(civic.url("/p3/stream?mib=50")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut length = 0;
        while let Some(chunk) = response.chunk().await.expect("the whole body") {
            assert!(chunk.iter().all(|&b| b == b'x'));
            length += chunk.len();
        }
        assert_eq!(length, 50 << 20);
    }
    // And the other way: a 50 MiB request body reaches the component as it arrives.
    let upload = client().post(civic.url("/p3/count")).body(vec![7u8; 50 << 20]).send().await.unwrap();
    assert_eq!(upload.text().await.unwrap(), format!("{} bytes\n", 50 << 20));
    let grown = civic.peak_memory().saturating_sub(before);
    assert!(grown < 16 << 20, "the host held {} MiB more while it streamed 150 MiB", grown >> 20);

    // A client that leaves in the middle frees the instance: with room for one at a time, the
    // next request is served (once the host has seen the connection close).
    let mut leaving = client().get(civic.url("/p3/stream?mib=50")).send().await.unwrap();
    assert!(leaving.chunk().await.unwrap().is_some());
    drop(leaving);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut next = get(&civic.url("/p3/hello"), None).await;
    for _ in 0..500 {
        if next.0 != 503 || std::time::Instant::now() > deadline {
            break;
        }
        next = get(&civic.url("/p3/hello"), None).await;
    }
    assert_eq!(next, (200, HELLO.into()));
}

#[tokio::test]
async fn a_swap_moves_a_route_between_wasi_releases() {
    let ws = Workspace::new();
    // `p3` starts as a 0.2 component with the same link, then becomes the 0.3 one, and back.
    let city = City::new("lecce")
        .component("p3", LINK_BENCH, "links = { \"civic:tax/assessment@1\" = \"flat\" }")
        .component("flat", TEST_TAX, "")
        .route("/p3", "p3");
    let civic = run(&city.write(&ws), &ws.path().join("data"));
    let admin = civic.admin_addr().await;
    let swap = |wasm: &str| {
        let request = client().put(format!("http://{admin}/v1/cities/lecce/components/p3")).bearer_auth(TOKEN);
        request.body(std::fs::read(wasm).unwrap()).send()
    };
    let zero_two = "300 per member, call 1 of this instance";
    assert_eq!(get(&civic.url("/p3/linked"), None).await, (200, zero_two.into()));

    let swapped = swap(HTTP_P3).await.unwrap();
    assert_eq!(swapped.status(), 200, "{}", swapped.text().await.unwrap());
    assert_eq!(get(&civic.url("/p3/hello"), None).await, (200, HELLO.into()));

    let back = client().post(format!("http://{admin}/v1/cities/lecce/components/p3/rollback")).bearer_auth(TOKEN);
    let back = back.send().await.unwrap();
    assert_eq!(back.status(), 200, "{}", back.text().await.unwrap());
    assert_eq!(get(&civic.url("/p3/linked"), None).await, (200, zero_two.into()));
}
