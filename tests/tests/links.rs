//! Links between components through the real binary: `civic check` catches what cannot work
//! (missing link, incompatible version, changed signature, cycle) with the manifest line; a
//! callee that fails fails only its request, with 502; a swapped callee serves the next call
//! without relinking; every hop is a span in the log.

use civic_tests::{
    CENSUS_CERTIFICATE, City, Civic, HTTP_P3, KINDERGARTEN, LINK_BENCH, REGISTRY_VIA_TAX, RELOCATION, RESIDENCY,
    TAX_CHANGED, TAX_ONLY, TAX_V2, TEST_TAX, Workspace, born_years_ago, civic, client, get, today,
};
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "links-admin-token-xxxxxxxxxxxxxx";

/// Lecce with the relocation mashup at `/umzug`, linked to the catalogue and to `tax` for taxes;
/// `tax` is `tax_wasm` with `tax_entry`.
fn lecce(tax_wasm: &str, tax_entry: &str) -> City {
    catalogue(mashup("residency"), tax_wasm, tax_entry)
}

/// Lecce with the relocation mashup at `/umzug`, registering with the component `registry`.
fn mashup(registry: &str) -> City {
    let relocation = format!(
        r#"[components.relocation.links]
"civic:registry/registration@1" = "{registry}"
"civic:education/enrollment@1" = "kindergarten"
"civic:tax/assessment@1" = "tax"
"civic:documents/certificates@1" = "certificates""#
    );
    City::new("lecce").component("relocation", RELOCATION, &relocation).route("/umzug", "relocation")
}

/// `city` with the services the relocation mashup is linked to.
fn catalogue(city: City, tax_wasm: &str, tax_entry: &str) -> City {
    city.component(
        "residency",
        RESIDENCY,
        r#"keyvalue = ["registrations"]
config = { city_name = "Lecce", postal_codes = ["73100"] }"#,
    )
    .component(
        "kindergarten",
        KINDERGARTEN,
        r#"keyvalue = ["applications"]
config = { facilities = [{ id = "a", name = "Asilo A", places = 5 }] }"#,
    )
    .component(
        "certificates",
        CENSUS_CERTIFICATE,
        r#"keyvalue = ["certificates"]
config = { issuer = "Comune di Lecce", signing_key = "1111111111111111111111111111111111111111111111111111111111111111" }"#,
    )
    .component("tax", tax_wasm, tax_entry)
}

/// `civic check` on `city`: its exit code and stderr (stdout when it succeeds).
fn check(city: &City) -> (Option<i32>, String) {
    let ws = Workspace::new();
    city.write(&ws);
    let output = civic(&["check", "lecce.toml"], ws.path());
    let shown = if output.status.success() { output.stdout } else { output.stderr };
    (output.status.code(), String::from_utf8(shown).unwrap())
}

/// `file:line:column` of the first `needle` in `city`'s manifest.
fn location(city: &City, needle: &str) -> String {
    let text = city.toml();
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` is not in the manifest"));
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("--> lecce.toml:{line}:{column}")
}

#[test]
fn check_accepts_a_well_linked_city() {
    let (code, stdout) = check(&lecce(TEST_TAX, ""));
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout, "ok: 1 city, 5 components (5 distinct), 1 routes, 4 links\n");
}

#[test]
fn check_names_a_missing_link() {
    let city = lecce(TEST_TAX, "").component("orphan", RELOCATION, "");
    let (code, stderr) = check(&city);
    assert_eq!(code, Some(1));
    for interface in ["registry/registration", "education/enrollment", "tax/assessment", "documents/certificates"] {
        let message =
            format!("error: city `lecce`, component `orphan`: nothing serves its import `civic:{interface}@1.0.0`");
        assert!(stderr.contains(&message), "{message}\n{stderr}");
    }
    let orphan_source = city.toml().lines().position(|l| l == "[components.orphan]").unwrap() + 2;
    assert!(stderr.contains(&format!("--> lecce.toml:{orphan_source}:10")), "{stderr}");
    assert!(stderr.contains(r#"note: link it: `links = { "civic:tax/assessment@1" = "COMPONENT" }`"#), "{stderr}");
    assert!(stderr.contains("note: `tax` of this city export it"), "{stderr}");
}

#[test]
fn check_names_an_incompatible_version() {
    let city = lecce(TAX_V2, "");
    let (code, stderr) = check(&city);
    assert_eq!(code, Some(1));
    let message = "error: city `lecce`, component `relocation`: imports `civic:tax/assessment@1.0.0`, but `tax` \
                   exports `civic:tax/assessment@2.0.0`, which is not semver-compatible with it";
    assert!(stderr.contains(message), "{stderr}");
    assert!(stderr.contains(&location(&city, "\"tax\"\n")), "{stderr}");
    assert_eq!(stderr.matches("error: city").count(), 1, "{stderr}");
}

#[test]
fn check_names_a_changed_signature_down_to_the_field() {
    let city = lecce(TAX_CHANGED, "");
    let (code, stderr) = check(&city);
    assert_eq!(code, Some(1));
    let message = "error: city `lecce`, component `relocation`: function `assess` of `civic:tax/assessment@1.0.0` \
                   has another signature in `tax`: at parameter `household`, field `members`, `relocation` has u32 \
                   and `tax` has string";
    assert!(stderr.contains(message), "{stderr}");
    assert!(stderr.contains(&location(&city, "\"tax\"\n")), "{stderr}");
}

#[test]
fn check_refuses_cycles_unknown_targets_and_bad_keys() {
    let city = City::new("lecce")
        .component("a", TEST_TAX, "links = { \"civic:tax/assessment@1\" = \"b\" }")
        .component(
            "b",
            TEST_TAX,
            "links = { \"civic:tax/assessment@1\" = \"a\", \"civic:tax/assessment\" = \"nobody\" }",
        )
        .route("/", "a");
    let (code, stderr) = check(&city);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("error: link cycle: `a` → `b` → `a`"), "{stderr}");
    assert!(stderr.contains("note: a component cannot reach itself through links"), "{stderr}");
    assert!(stderr.contains("error: `b` links `civic:tax/assessment` to unknown component `nobody`"), "{stderr}");
    assert!(stderr.contains("error: invalid link `civic:tax/assessment`: expected a versioned interface"), "{stderr}");
}

#[test]
fn check_refuses_a_link_for_an_interface_the_component_does_not_import() {
    let city = lecce(TEST_TAX, "links = { \"civic:education/enrollment@1\" = \"kindergarten\" }");
    let (code, stderr) = check(&city);
    assert_eq!(code, Some(1));
    let message = "error: city `lecce`, component `tax`: links `civic:education/enrollment@1`, but does not import it";
    assert!(stderr.contains(message), "{stderr}");
}

/// A move of one adult into Lecce, with `dog` as the household's dog.
fn move_with_dog(dog: &str) -> Value {
    json!({
        "persons": [{ "given_name": "Enzo", "family_name": "Rizzo", "birth_date": born_years_ago(40) }],
        "address": { "street": "Via Roma", "house_number": "3", "postal_code": "73100" },
        "moved_in": today(),
        "dogs": [{ "name": dog }],
    })
}

/// The `tax` step of a relocation's receipt.
fn tax_step(receipt: &str) -> Value {
    let receipt: Value = serde_json::from_str(receipt).unwrap();
    receipt["steps"].as_array().unwrap().iter().find(|s| s["step"] == "tax").unwrap().clone()
}

async fn relocate(civic: &Civic, dog: &str) -> (u16, String) {
    let response = client().post(civic.url("/umzug/moves")).json(&move_with_dog(dog)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_failing_callee_fails_its_request_with_502_and_nothing_else() {
    let ws = Workspace::new();
    let manifest = lecce(TEST_TAX, "limits = { timeout = \"300ms\" }").write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], TOKEN);

    let (status, body) = relocate(&civic, "panic").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body, "the `tax` service, which `relocation` relies on, failed\n");
    civic
        .wait_for_log(&["linked call failed", "callee=tax", "function=assess", "it failed"], Duration::from_secs(5))
        .await;

    // Out of its own budget (300 ms), not the caller's (30 s).
    let (status, _) = relocate(&civic, "spin").await;
    assert_eq!(status, 502);
    civic.wait_for_log(&["linked call failed", "callee=tax", "it ran past its deadline"], Duration::from_secs(5)).await;

    // The host, the caller and the callee all keep serving.
    let (status, body) = relocate(&civic, "Bello").await;
    assert_eq!(status, 201, "{body}");
    let tax = tax_step(&body);
    assert_eq!(tax["result"]["lines"][0]["tax"], "flat-test-tax");
    assert_eq!(tax["result"]["lines"][0]["reason"], "per member, call 1 of this instance");

    // Operators see it per callee (in the city's scoped scrape); the caller's requests count the two 502s.
    let (status, metrics) = admin(&civic, reqwest::Method::GET, "/metrics?city=lecce", None).await;
    assert_eq!(status, 200);
    for line in [
        r#"civic_linked_calls_total{city="lecce",component="tax"} 3"#,
        r#"civic_linked_call_failures_total{city="lecce",component="tax"} 2"#,
        r#"civic_linked_calls_total{city="lecce",component="residency"} 3"#,
        r#"civic_linked_call_failures_total{city="lecce",component="residency"} 0"#,
        r#"civic_request_errors_total{city="lecce",component="relocation"} 2"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
}

#[tokio::test]
async fn a_busy_callee_answers_503_so_the_client_can_retry() {
    let ws = Workspace::new();
    let manifest = lecce(TEST_TAX, r#"limits = { timeout = "3s", max_concurrency = 1 }"#).write(&ws);
    let civic = Civic::run(&[&manifest]);
    // One move takes `tax`'s only place and spins there until its deadline. Once it has passed
    // the registration, the step before the tax, a second move finds `tax` busy.
    let (spun, busy) = tokio::join!(relocate(&civic, "spin"), async {
        civic.wait_for_log(&["callee=residency", "linked call"], Duration::from_secs(5)).await;
        for _ in 0..100 {
            let (status, body) = relocate(&civic, "Bello").await;
            if status != 201 {
                return (status, body);
            }
        }
        panic!("`tax` never looked busy");
    });
    assert_eq!(busy, (503, "the `tax` service is busy; try again\n".to_owned()));
    assert_eq!(spun.0, 502, "{}", spun.1);
    civic.wait_for_log(&["callee=tax", "it is busy", "answering 503"], Duration::from_secs(5)).await;
    // With its place free again, the same move goes through.
    let (status, body) = relocate(&civic, "Bello").await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_component_without_an_http_api_serves_its_contract_but_cannot_be_routed() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&lecce(TAX_ONLY, "").write(&ws)]);
    let (status, body) = relocate(&civic, "Bello").await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains(r#""tax":"contract-only-tax""#), "{body}");

    for (routed, needs) in [
        (lecce(TAX_ONLY, "").route("/tax", "tax"), "is routed at `/tax`"),
        (lecce(TAX_ONLY, "health = \"/health\""), "has the health path `/health`"),
    ] {
        let (code, stderr) = check(&routed);
        assert_eq!(code, Some(1));
        let message =
            format!("error: component `tax` {needs}, but `{TAX_ONLY}` does not export `wasi:http/incoming-handler`");
        assert!(stderr.contains(&message), "{message}\n{stderr}");
        assert!(stderr.contains("note: a component that only serves contracts needs no route"), "{stderr}");
    }
}

#[tokio::test]
async fn a_callee_is_instantiated_once_per_request_and_never_reused_by_the_next() {
    let ws = Workspace::new();
    let city = City::new("lecce")
        .component("caller", LINK_BENCH, r#"links = { "civic:tax/assessment@1" = "tax" }"#)
        .component("tax", TEST_TAX, "")
        .route("/bench", "caller");
    let civic = Civic::run(&[&city.write(&ws)]);
    for _ in 0..2 {
        let (status, body) = get(&civic.url("/bench/linked?calls=3"), None).await;
        assert_eq!((status, body.as_str()), (200, "900 per member, call 3 of this instance"));
    }
}

#[tokio::test]
async fn a_callee_reached_by_two_paths_is_one_instance_per_request() {
    let ws = Workspace::new();
    let city = catalogue(mashup("registry"), TEST_TAX, "").component(
        "registry",
        REGISTRY_VIA_TAX,
        r#"links = { "civic:tax/assessment@1" = "tax" }"#,
    );
    let civic = Civic::run(&[&city.write(&ws)]);
    for _ in 0..2 {
        let (status, body) = relocate(&civic, "Bello").await;
        assert_eq!(status, 201, "{body}");
        let receipt: Value = serde_json::from_str(&body).unwrap();
        let step =
            |name: &str| receipt["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap().clone();
        // relocation → registry → tax first, then relocation → tax: the same instance of `tax`.
        assert_eq!(step("registration")["result"]["number"], "via tax: per member, call 1 of this instance");
        assert_eq!(step("tax")["result"]["lines"][0]["reason"], "per member, call 2 of this instance");
    }
}

#[tokio::test]
async fn every_hop_is_a_span_under_its_request() {
    let ws = Workspace::new();
    let civic = Civic::run(&[&lecce(TEST_TAX, "").write(&ws)]);
    assert_eq!(relocate(&civic, "Bello").await.0, 201);
    for (callee, interface, function) in [
        ("residency", "civic:registry/registration@1.0.0", "register"),
        ("tax", "civic:tax/assessment@1.0.0", "assess"),
        ("certificates", "civic:documents/certificates@1.0.0", "issue-residence-certificate"),
    ] {
        let line = civic
            .wait_for_log(
                &[
                    "request{city=lecce component=relocation method=POST path=/umzug/moves}",
                    &format!("link{{caller=relocation callee={callee} interface={interface} function={function}}}"),
                    "linked call duration_us=",
                ],
                Duration::from_secs(5),
            )
            .await;
        assert!(!line.is_empty());
    }
}

#[tokio::test]
async fn a_swapped_callee_answers_the_next_call_without_relinking() {
    let ws = Workspace::new();
    let manifest = lecce(TEST_TAX, "").write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], TOKEN);
    let admin = civic.admin_addr().await;
    let tax_of = |body: String| tax_step(&body);
    assert_eq!(tax_of(relocate(&civic, "Bello").await.1)["result"]["lines"][0]["tax"], "flat-test-tax");

    // A version that would break the link is refused, and the link keeps working.
    let put = |wasm: &'static str| {
        let url = format!("http://{admin}/v1/cities/lecce/components/tax");
        async move {
            let response =
                client().put(url).bearer_auth(TOKEN).body(std::fs::read(wasm).unwrap()).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, reason) = put(TAX_CHANGED).await;
    assert_eq!(status, 422, "{reason}");
    assert!(reason.contains("field `members`, `relocation` has u32 and `tax` has string"), "{reason}");
    let refusal: Value = serde_json::from_str(&reason).unwrap();
    assert_eq!(refusal["kind"], "links", "a failed link check is told from a failed health check: {reason}");

    // The real local tax rules, swapped into the `tax` slot (with the test tax's empty config,
    // so it says its rates are not set): the relocation component is untouched.
    let (status, reason) = put(civic_tests::LOCAL_TAX).await;
    assert_eq!(status, 200, "{reason}");
    let tax = tax_of(relocate(&civic, "Bello").await.1);
    assert_eq!((&tax["status"], &tax["problem"]["status"]), (&json!("failed"), &json!(503)), "{tax}");
    civic.wait_for_log(&["config `rates` is not set"], Duration::from_secs(5)).await;
}

/// `POST` (or `PUT` with `wasm`) to the admin API at `path`: status and body.
async fn admin(civic: &Civic, method: reqwest::Method, path: &str, wasm: Option<&str>) -> (u16, String) {
    let url = format!("http://{}{path}", civic.admin_addr().await);
    let mut request = client().request(method, url).bearer_auth(TOKEN);
    if let Some(wasm) = wasm {
        request = request.body(std::fs::read(wasm).unwrap());
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_reload_relinks_the_mashup() {
    let ws = Workspace::new();
    let fees = r#"config = { waste_base_cents = 6200, waste_per_member_cents = 1800, dog_cents = 3000 }"#;
    let city = lecce(TEST_TAX, "").component("fees", civic_tests::HOUSEHOLD_FEES, fees);
    let manifest = city.write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], TOKEN);
    let tax_line = |body: String| tax_step(&body)["result"]["lines"][0]["tax"].clone();
    assert_eq!(tax_line(relocate(&civic, "Bello").await.1), "flat-test-tax");

    std::fs::write(
        &manifest,
        city.toml().replace(r#""civic:tax/assessment@1" = "tax""#, r#""civic:tax/assessment@1" = "fees""#),
    )
    .unwrap();
    let (status, body) = admin(&civic, reqwest::Method::POST, "/v1/reload", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tax_line(relocate(&civic, "Bello").await.1), "waste-fee");
}

#[tokio::test]
async fn a_rollback_that_would_break_a_link_is_refused() {
    let ws = Workspace::new();
    // `tax` starts as hello-city, which serves no contract; nothing links to it yet.
    let manifest = catalogue(City::new("lecce"), civic_tests::HELLO_CITY, "").route("/hello", "tax").write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], TOKEN);
    let (status, body) = admin(&civic, reqwest::Method::PUT, "/v1/cities/lecce/components/tax", Some(TEST_TAX)).await;
    assert_eq!(status, 200, "{body}");
    // The mashup arrives, linked to the tax component as it is now (the manifest entry of `tax`
    // is unchanged, so it keeps its swapped version).
    let linked = lecce(civic_tests::HELLO_CITY, "").route("/hello", "tax");
    std::fs::write(&manifest, linked.toml()).unwrap();
    let (status, body) = admin(&civic, reqwest::Method::POST, "/v1/reload", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(relocate(&civic, "Bello").await.0, 201);

    let (status, reason) = admin(&civic, reqwest::Method::POST, "/v1/cities/lecce/components/tax/rollback", None).await;
    assert_eq!(status, 422, "{reason}");
    assert!(
        reason.contains("links `civic:tax/assessment@1` to `tax`, which does not export `civic:tax/assessment@1.0.0`"),
        "{reason}"
    );
    assert_eq!(relocate(&civic, "Bello").await.0, 201, "the mashup still works");
}

#[tokio::test]
async fn components_of_wasi_0_2_and_0_3_call_each_other_through_links() {
    let ws = Workspace::new();
    // `tax` is a component of WASI 0.3: the 0.2 mashup calls its contract, and its own HTTP API
    // calls the 0.2 `flat` through a link of its own.
    let city = lecce(HTTP_P3, r#"links = { "civic:tax/assessment@1" = "flat" }"#);
    let manifest = city.component("flat", TEST_TAX, "").route("/p3", "tax").write(&ws);
    let civic = Civic::run_on("sqlite", &[&manifest], &["--experimental-wasip3"]);

    let (status, body) = relocate(&civic, "Bello").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(tax_step(&body)["result"]["lines"][0]["reason"], "assessed by wasi:http 0.3", "{body}");
    civic
        .wait_for_log(&["caller=relocation", "callee=tax", "function=assess", "linked call"], Duration::from_secs(5))
        .await;

    let (status, body) = get(&civic.url("/p3/tax"), None).await;
    assert_eq!((status, body.as_str()), (200, "200 cents: per member, call 1 of this instance\n"));
    civic.wait_for_log(&["caller=tax", "callee=flat", "function=assess", "linked call"], Duration::from_secs(5)).await;
}
