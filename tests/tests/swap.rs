//! Hot swap through the admin API and the `civic swap`/`rollback`/`status` clients, with the real
//! binary: a token is required, bad versions are refused with nothing changed, and under load
//! every request is answered by exactly one version.

use civic_tests::{City, Civic, FAULTY, HELLO_CITY, PLAIN_PROXY, TAX_ONLY, Workspace, civic, client, get};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-admin-token-xxxxxxxxxxxxx";
const HELLO: &str = "Ciao from Lecce!\n";
const PLAIN: &str = "plain proxy saw Method::Get /hello\n";

struct Host {
    civic: Civic,
    admin: String,
    ws: Workspace,
}

/// `hello` (hello-city) at `/hello`, with `more` in its manifest entry, and the admin API on.
async fn host(more: &str) -> Host {
    let ws = Workspace::new();
    let more = format!("config = {{ city_name = \"Lecce\", greeting = \"Ciao\" }}\n{more}");
    let manifest = City::new("lecce").component("hello", HELLO_CITY, &more).route("/hello", "hello").write(&ws);
    ws.write("token", format!("{TOKEN}\n"));
    let civic = Civic::run_with_admin(&[&manifest], TOKEN);
    let admin = civic.admin_addr().await.to_string();
    Host { civic, admin, ws }
}

impl Host {
    /// `civic ARGS… --admin ADDR --admin-token-file FILE`: exit success, stdout, stderr.
    fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let token = self.ws.path().join("token");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--admin", &self.admin, "--admin-token-file", token.to_str().unwrap()]);
        let output = civic(&all, self.ws.path());
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        (output.status.success(), text(output.stdout), text(output.stderr))
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    async fn hello(&self) -> (u16, String) {
        get(&self.civic.url("/hello"), None).await
    }
}

#[tokio::test]
async fn the_admin_api_wants_its_token() {
    let host = host("").await;
    for auth in [None, Some("Bearer wrong"), Some("s3cret-admin-token-xxxxxxxxxxxxx"), Some("Basic czNjcmV0")] {
        let mut request = client().get(host.admin_url("/v1/components"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
    }
    let healthz = client().get(host.admin_url("/healthz")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!((healthz.status().as_u16(), healthz.text().await.unwrap()), (200, "ok\n".into()));

    // Without a token the admin API does not start, and neither does the host.
    let ws = Workspace::new();
    let manifest = City::new("lecce").component("hello", HELLO_CITY, "").route("/", "hello").write(&ws);
    let output = civic(&["run", "--admin", "127.0.0.1:0", manifest.to_str().unwrap()], ws.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no admin token: set CIVIC_ADMIN_TOKEN or pass --admin-token-file FILE"), "{stderr}");
}

#[tokio::test]
async fn swap_status_and_rollback_through_the_cli() {
    let host = host("").await;
    assert_eq!(host.hello().await, (200, HELLO.into()));

    let (ok, out, err) = host.cli(&["swap", "lecce", "hello", PLAIN_PROXY]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""version":2"#), "{out}");
    assert_eq!(host.hello().await, (203, PLAIN.into()));

    let (ok, out, err) = host.cli(&["status"]);
    assert!(ok, "{err}");
    let row = out.lines().find(|l| l.starts_with("lecce")).unwrap_or_else(|| panic!("{out}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[..3], ["lecce", "hello", "2"], "{out}");
    assert_eq!(columns[5..], ["2", "0"], "two requests served, no errors: {out}");

    let (ok, out, err) = host.cli(&["rollback", "lecce", "hello"]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""version":1"#), "{out}");
    assert_eq!(host.hello().await, (200, HELLO.into()));
    host.civic.wait_for_log(&["city=\"lecce\"", "rolled back"], Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_bad_version_is_refused_and_nothing_changes() {
    let host = host(r#"health = "/panic""#).await;
    let ws = &host.ws;
    let garbage = ws.write("garbage.wasm", b"\x00asm garbage");
    let core = ws.write("core.wasm", wat::parse_str("(module)").unwrap());
    // More core instances and memories per instance than the pool was built for at start.
    let wide = ws.write("wide.wasm", civic_tests::edit::widened(&std::fs::read(PLAIN_PROXY).unwrap(), 20));
    let cases = [
        (&["swap", "lecce", "hello", wide.to_str().unwrap()][..], "422", "restart the host to size its pool for it"),
        (&["swap", "lecce", "hello", garbage.to_str().unwrap()], "422", "is not a WebAssembly component"),
        (&["swap", "lecce", "hello", core.to_str().unwrap()], "422", "but a core module"),
        (&["swap", "lecce", "hello", TAX_ONLY], "422", "does not export `wasi:http/incoming-handler"),
        (&["swap", "lecce", "hello", FAULTY], "422", "answered its health route `/panic` with 500"),
        (&["swap", "rome", "hello", PLAIN_PROXY], "404", "no component `hello` in city `rome`"),
        (&["swap", "lecce", "kita", PLAIN_PROXY], "404", "no component `kita` in city `lecce`"),
        (&["rollback", "lecce", "hello"], "409", "has no earlier version"),
    ];
    for (args, status, reason) in cases {
        let (ok, _, err) = host.cli(args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(status) && err.contains(reason), "{args:?}: {err}");
        assert_eq!(host.hello().await, (200, HELLO.into()), "{args:?} changed what serves");
    }
    let metrics = client().get(host.admin_url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    // By default per component, summed over cities; with `?city=` per component of that city.
    let scoped = client().get(host.admin_url("/metrics?city=lecce")).bearer_auth(TOKEN).send().await.unwrap();
    let scoped = scoped.text().await.unwrap();
    for (kind, count) in [("compile", 2), ("exports", 1), ("health", 1), ("pool", 1), ("links", 0), ("imports", 0)] {
        let line = format!(r#"civic_swaps_rejected_total{{component="hello",kind="{kind}"}} {count}"#);
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
        let line = format!(r#"civic_swaps_rejected_total{{city="lecce",component="hello",kind="{kind}"}} {count}"#);
        assert!(scoped.lines().any(|l| l == line), "{line}: {scoped}");
    }
    for line in [
        r#"civic_swaps_total{component="hello"} 0"#,
        r#"civic_requests_total{component="hello"} 8"#,
        r#"civic_city_requests_total{city="lecce"} 8"#,
        r#"civic_components{component="hello"} 1"#,
        "civic_cities 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }
    assert!(!metrics.contains(r#"city="lecce",component"#), "no series per slot by default: {metrics}");
    assert!(scoped.contains(r#"civic_requests_total{city="lecce",component="hello"} 8"#), "{scoped}");
    let unknown = client().get(host.admin_url("/metrics?city=nowhere")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    // A version that passes the health route goes live.
    let (ok, _, err) = host.cli(&["swap", "lecce", "hello", PLAIN_PROXY]);
    assert!(ok, "{err}");
    assert_eq!(host.hello().await, (203, PLAIN.into()));
}

#[tokio::test]
async fn a_refusal_names_the_check_that_failed() {
    let host = host(r#"health = "/panic""#).await;
    let garbage = host.ws.write("garbage.wasm", b"\x00asm garbage");
    let cases = [
        ("PUT", "/v1/cities/lecce/components/hello", Some(garbage.to_str().unwrap()), 422, "compile"),
        ("PUT", "/v1/cities/lecce/components/hello", Some(TAX_ONLY), 422, "exports"),
        ("PUT", "/v1/cities/lecce/components/hello", Some(FAULTY), 422, "health"),
        ("PUT", "/v1/cities/rome/components/hello", Some(PLAIN_PROXY), 404, "not-found"),
        ("POST", "/v1/cities/lecce/components/hello/rollback", None, 409, "no-earlier-version"),
    ];
    for (method, path, wasm, status, kind) in cases {
        let mut request = client().request(method.parse().unwrap(), host.admin_url(path)).bearer_auth(TOKEN);
        if let Some(wasm) = wasm {
            request = request.body(std::fs::read(wasm).unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{path} {wasm:?}");
        let refusal: serde_json::Value = response.json().await.unwrap();
        assert_eq!(refusal["kind"], kind, "{path} {wasm:?}: {refusal}");
        assert!(refusal["error"].as_str().is_some_and(|e| !e.is_empty()), "{refusal}");
    }
}

#[tokio::test]
async fn under_load_every_request_is_answered_by_exactly_one_version() {
    let host = Arc::new(host("").await);
    let versions = [std::fs::read(HELLO_CITY).unwrap(), std::fs::read(PLAIN_PROXY).unwrap()];
    let swapping = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(120);

    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (host, swapping, answered) = (host.clone(), swapping.clone(), answered.clone());
            tokio::spawn(async move {
                let client = client();
                while swapping.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let response = client.get(host.civic.url("/hello")).send().await.expect("no failed request");
                    let status = response.status().as_u16();
                    let body = response.text().await.expect("a whole body");
                    assert!(
                        (status, body.as_str()) == (200, HELLO) || (status, body.as_str()) == (203, PLAIN),
                        "a reply from neither version: {status} {body:?}"
                    );
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let admin = client();
    for round in 0..30 {
        let response = admin
            .put(host.admin_url("/v1/cities/lecce/components/hello"))
            .bearer_auth(TOKEN)
            .body(versions[(round + 1) % 2].clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    swapping.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client saw a failure");
    }
    assert!(answered.load(Ordering::Relaxed) >= 30, "too few requests ran during the swaps");
    assert!(Instant::now() < deadline, "the swaps took too long");
    assert_eq!(host.hello().await, (200, HELLO.into()), "30 swaps end on the first version");
}
