//! The console in a real browser (headless Chromium through WebDriver) against the real binary:
//! signing in and out, both example cities live, Bremerhaven's mashup graph, a swap by upload
//! that goes live, one that is refused with the host's reason, a rollback seen on the page and in
//! `civic status`, a form without its CSRF token refused; the catalogue of a real registry and a
//! swap from it. Screenshots of the main pages land in the tests' output directory
//! (`target/tmp/console-screenshots/`).

use civic_tests::browser::{Browser, PHONE, screenshot};
use civic_tests::registry::Registry;
use civic_tests::{
    City, Civic, FAULTY, HELLO_CITY, PLAIN_PROXY, TAX_ONLY, Workspace, civic, client, client_not_following, get,
};
use fantoccini::{Client, Locator};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const TOKEN: &str = "console-admin-token-xxxxxxxxxxxx";
const SHOTS: &str = env!("CARGO_TARGET_TMPDIR");

/// How long the page may take to get where a test waits for it.
const PAGE_WAIT_MS: u32 = 15_000;

/// Waits until the text of `selector` on the page is `expected`: checked at once and again at
/// every change of the document (a `MutationObserver`), so a live refresh is seen as it lands;
/// at most [`PAGE_WAIT_MS`].
async fn until_text(page: &Client, selector: &str, expected: &str) {
    let (selector_js, expected_js) = (Value::from(selector), Value::from(expected));
    let js = format!(
        r#"const done = arguments[arguments.length - 1];
        const holds = () => document.querySelector({selector_js})?.innerText.trim() === {expected_js};
        if (holds()) return done(true);
        const observer = new MutationObserver(() => {{ if (holds()) {{ observer.disconnect(); done(true); }} }});
        observer.observe(document, {{ subtree: true, childList: true, characterData: true, attributes: true }});
        setTimeout(() => {{ observer.disconnect(); done(false); }}, {PAGE_WAIT_MS});"#
    );
    let held =
        page.execute_async(&js, vec![]).await.unwrap_or_else(|e| panic!("the wait for `{selector}` failed: {e}"));
    assert_eq!(held, Value::Bool(true), "`{selector}` did not read {expected:?} within {PAGE_WAIT_MS} ms");
}

async fn css(page: &Client, selector: &str) -> fantoccini::elements::Element {
    let wait = page.wait().at_most(Duration::from_secs(15));
    wait.for_element(Locator::Css(selector)).await.unwrap_or_else(|e| panic!("no `{selector}` on the page: {e}"))
}

/// The text of `selector`; read again when the page's live refresh replaced it meanwhile.
async fn text(page: &Client, selector: &str) -> String {
    for _ in 0..20 {
        match css(page, selector).await.text().await {
            Ok(text) => return text,
            Err(e) if e.is_stale_element_reference() => continue,
            Err(e) => panic!("cannot read `{selector}`: {e}"),
        }
    }
    panic!("`{selector}` was replaced 20 times while being read")
}

/// What a script finds on the page, read in one go (the live refresh cannot come between).
async fn script(page: &Client, js: &str) -> Value {
    page.execute(js, vec![]).await.unwrap_or_else(|e| panic!("the script failed: {e}"))
}

async fn path(page: &Client) -> String {
    let url = page.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Clicks `selector` and waits for the page it leads to, so nothing is read off the old one.
async fn follow(page: &Client, selector: &str) {
    page.execute("window.civicLeaving = true", vec![]).await.unwrap();
    for attempt in 1.. {
        match css(page, selector).await.click().await {
            Ok(()) => break,
            Err(e) if e.is_stale_element_reference() && attempt < 20 => continue,
            Err(e) => panic!("cannot click `{selector}`: {e}"),
        }
    }
    // Answers true once the new document has loaded; on the old one (still marked) it answers
    // false as it goes away, or at the deadline, and is asked again in the next document.
    let arrived = format!(
        r#"const done = arguments[arguments.length - 1];
        if (window.civicLeaving) {{
            addEventListener('pagehide', () => done(false));
            setTimeout(() => done(false), {PAGE_WAIT_MS});
        }} else if (document.readyState === 'complete') {{
            done(true);
        }} else {{
            addEventListener('load', () => done(true));
        }}"#
    );
    for attempt in 1..=5 {
        match page.execute_async(&arrived, vec![]).await {
            Ok(Value::Bool(true)) => return,
            // Still the old page, or the script was cut off as it unloaded.
            _ if attempt < 5 => continue,
            other => panic!("clicking `{selector}` led to no new page: {other:?}"),
        }
    }
}

/// Fills the sign-in form with `token` and sends it.
async fn sign_in(page: &Client, token: &str) {
    css(page, "#token").await.send_keys(token).await.unwrap();
    follow(page, "form[action='/sign-in'] button").await;
}

/// The notice the page shows after an action, once there is one.
async fn notice(page: &Client) -> String {
    text(page, ".notice").await
}

fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

/// `civic status` against the host: the version it lists for `component` of `city`.
fn status_version(admin: &str, ws: &Workspace, city: &str, component: &str) -> String {
    let token = ws.write("token", TOKEN);
    let output = civic(&["status", "--admin", admin, "--admin-token-file", token.to_str().unwrap()], ws.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().find(|line| line.split_whitespace().take(2).eq([city, component]));
    line.unwrap_or_else(|| panic!("no {city} {component} in\n{stdout}")).split_whitespace().nth(2).unwrap().to_owned()
}

#[tokio::test]
async fn an_operator_reads_both_cities_swaps_and_rolls_back_in_the_browser() {
    let (data, ws) = (tempfile::tempdir().unwrap(), Workspace::new());
    let admin_args = ["--admin".as_ref(), "127.0.0.1:0".as_ref()];
    let civic = Civic::examples(data.path(), &admin_args, &[("CIVIC_ADMIN_TOKEN", TOKEN.as_ref())]);
    let admin_addr = civic.admin_addr().await.to_string();
    let admin = format!("http://{admin_addr}");
    let browser = Browser::shared();
    let page = browser.session().await;

    // Not signed in: the console asks for the token first, and refuses a wrong one.
    page.goto(&format!("{admin}/")).await.unwrap();
    assert_eq!(path(&page).await, "/sign-in?next=%2F");
    sign_in(&page, "not-the-token").await;
    assert!(text(&page, "#sign-in-error").await.contains("not this host's admin token"));
    civic.wait_for_log(&["console: sign-in refused, wrong token"], Duration::from_secs(10)).await;
    let html = page.source().await.unwrap();
    assert!(!html.contains("not-the-token") && !html.contains(TOKEN), "a token is never shown");
    screenshot(&page, SHOTS, "sign-in-refused").await;

    // Signed in: both cities, as the admin API lists them.
    sign_in(&page, TOKEN).await;
    css(&page, "tr[data-city='santander']").await;
    assert_eq!(path(&page).await, "/");
    let api = |path: &str| {
        let request = client().get(format!("{admin}{path}")).bearer_auth(TOKEN);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let cities = api("/v1/cities").await;
    assert_eq!(cities["total"], 2, "{cities}");
    for city in cities["items"].as_array().unwrap() {
        let row = format!("tr[data-city='{}']", city["id"].as_str().unwrap());
        assert_eq!(text(&page, &format!("{row} th a")).await, city["name"].as_str().unwrap());
        assert_eq!(text(&page, &format!("{row} td[data-label='Components']")).await, city["components"].to_string());
    }
    // A component whose latest answer failed is counted against its city without a reload:
    // id-status cannot reach its registry (nothing stands in for it on 127.0.0.1:9100 here).
    for _ in 0..3 {
        assert_eq!(get(&civic.url("/hello"), Some("bremerhaven.localhost")).await.0, 200);
    }
    let (status, _) = get(&civic.url("/ausweis/documents/L01X00T47"), Some("bremerhaven.localhost")).await;
    assert_eq!(status, 502);
    until_text(&page, "tr[data-city='bremerhaven'] td.failing", "1").await;
    assert_eq!(text(&page, "tr[data-city='santander'] td.failing").await, "0");
    screenshot(&page, SHOTS, "cities").await;
    page.set_window_size(PHONE.0, PHONE.1).await.unwrap();
    screenshot(&page, SHOTS, "cities-phone").await;
    page.set_window_size(1280, 900).await.unwrap();

    // Bremerhaven's page: every component as the admin API lists it, counters following traffic.
    follow(&page, "a[href='/cities/bremerhaven']").await;
    let listed = api("/v1/components?city=bremerhaven").await;
    for component in listed["items"].as_array().unwrap() {
        let row = format!("tr[data-component='{}']", component["name"].as_str().unwrap());
        assert_eq!(text(&page, &format!("{row} td.version")).await, component["version"].to_string());
        let sha256 = component["sha256"].as_str().unwrap();
        assert_eq!(text(&page, &format!("{row} code")).await, sha256[..12]);
    }
    assert_eq!(get(&civic.url("/hello"), Some("bremerhaven.localhost")).await.0, 200);
    until_text(&page, "tr[data-component='hello'] td.requests", "4").await;
    assert_eq!(text(&page, "tr[data-component='hello'] .health").await, "ok");
    assert_eq!(text(&page, "tr[data-component='id-status'] .health").await, "failing");

    // Bremerhaven's mashup graph: the relocation mashup's four links, each to the component the
    // city links its contract to, and no box over another box or a label.
    css(&page, "svg g.link").await;
    css(&page, "svg a.node.failing[data-component='id-status']").await;
    let failing =
        script(&page, "return [...document.querySelectorAll('svg a.node.failing')].map(n => n.dataset.component)")
            .await;
    assert_eq!(failing, serde_json::json!(["id-status"]));
    let links = script(
        &page,
        "return [...document.querySelectorAll(\"svg g.link[data-from='relocation']\")]
            .map(link => [link.dataset.contract, link.dataset.to, link.querySelector('text').textContent])",
    )
    .await;
    let mut wired = BTreeSet::new();
    for link in links.as_array().unwrap() {
        assert_eq!(link[2], link[0], "each arrow is labelled with its contract");
        wired.insert((link[0].as_str().unwrap().to_owned(), link[1].as_str().unwrap().to_owned()));
    }
    let expected = [
        ("civic:documents/certificates@1", "census-certificate"),
        ("civic:education/enrollment@1", "kindergarten"),
        ("civic:registry/registration@1", "residency"),
        ("civic:tax/assessment@1", "local-tax"),
    ];
    assert_eq!(wired, expected.iter().map(|(c, to)| (c.to_string(), to.to_string())).collect());
    let rectangles = |selector: &str| {
        format!(
            "return [...document.querySelectorAll('{selector}')]
                .map(e => e.getBoundingClientRect()).map(r => [r.x, r.y, r.width, r.height])"
        )
    };
    let read = |value: Value| -> Vec<(f64, f64, f64, f64)> {
        let number = |v: &Value| v.as_f64().unwrap();
        value.as_array().unwrap().iter().map(|r| (number(&r[0]), number(&r[1]), number(&r[2]), number(&r[3]))).collect()
    };
    let boxes = read(script(&page, &rectangles("svg a.node rect")).await);
    assert_eq!(boxes.len(), listed["items"].as_array().unwrap().len());
    for (i, a) in boxes.iter().enumerate() {
        assert!(boxes[i + 1..].iter().all(|b| !overlap(*a, *b)), "two boxes overlap: {boxes:?}");
    }
    let labels = read(script(&page, &rectangles("svg g.link text")).await);
    for (i, label) in labels.iter().enumerate() {
        assert!(boxes.iter().all(|b| !overlap(*label, *b)), "a label {label:?} lies over a box");
        assert!(labels[i + 1..].iter().all(|b| !overlap(*label, *b)), "two labels overlap: {labels:?}");
    }
    screenshot(&page, SHOTS, "bremerhaven-graph").await;

    // A new version uploaded on the component's page goes live.
    follow(&page, "svg a.node[data-component='hello']").await;
    css(&page, "#wasm").await.send_keys(PLAIN_PROXY).await.unwrap();
    follow(&page, "#swap-upload").await;
    assert!(notice(&page).await.starts_with("Swapped: version 2 "), "{}", notice(&page).await);
    assert_eq!(text(&page, "#serving-version").await, "2");
    assert_eq!(get(&civic.url("/hello"), Some("bremerhaven.localhost")).await.0, 203);
    assert_eq!(status_version(&admin_addr, &ws, "bremerhaven", "hello"), "2");

    // One that does not serve HTTP is refused, in words, and changes nothing.
    css(&page, "#wasm").await.send_keys(TAX_ONLY).await.unwrap();
    follow(&page, "#swap-upload").await;
    let refused = text(&page, ".notice.refused").await;
    assert!(refused.contains("because it does not export what the current version serves"), "{refused}");
    assert!(refused.ends_with("Nothing changed."), "{refused}");
    assert_eq!(text(&page, "#serving-version").await, "2");
    screenshot(&page, SHOTS, "component-swap-refused").await;

    // The rollback button brings version 1 back: on the page and in `civic status`.
    assert_eq!(text(&page, "#rollback").await, "Roll back to version 1");
    follow(&page, "#rollback").await;
    assert!(notice(&page).await.starts_with("Rolled back: version 1 "), "{}", notice(&page).await);
    assert_eq!(text(&page, "#serving-version").await, "1");
    assert_eq!(status_version(&admin_addr, &ws, "bremerhaven", "hello"), "1");
    assert_eq!(get(&civic.url("/hello"), Some("bremerhaven.localhost")).await.0, 200);
    screenshot(&page, SHOTS, "component").await;

    // A form without the session's CSRF token is refused and changes nothing.
    page.execute("document.querySelector(\"form.action input[name='csrf']\").remove()", vec![]).await.unwrap();
    follow(&page, "#rollback").await;
    assert_eq!(text(&page, "h1").await, "Form refused");
    civic.wait_for_log(&["refused a form without this session's CSRF token"], Duration::from_secs(10)).await;
    assert_eq!(status_version(&admin_addr, &ws, "bremerhaven", "hello"), "1");

    // The other pages, for the screenshots: this host is alone, and no catalogue is configured.
    page.goto(&format!("{admin}/cluster")).await.unwrap();
    assert!(text(&page, "main").await.contains("This host runs alone"));
    screenshot(&page, SHOTS, "cluster-alone").await;
    page.goto(&format!("{admin}/catalog")).await.unwrap();
    assert!(text(&page, "main").await.contains("--catalog"));

    // Signed out, the pages ask for the token again.
    follow(&page, ".sign-out button").await;
    css(&page, "#token").await;
    page.goto(&format!("{admin}/cities/santander")).await.unwrap();
    assert_eq!(path(&page).await, "/sign-in?next=%2Fcities%2Fsantander");
    page.close().await.unwrap();
}

#[tokio::test]
async fn the_catalogue_shows_who_uses_what_and_a_city_adopts_another_version_from_it() {
    let registry = Registry::shared();
    let ws = Workspace::new();
    let push = |wasm: &str, tag: &str, version: &str| {
        let reference = registry.reference(&format!("civic/hello:{tag}"));
        let annotation = format!("org.opencontainers.image.version={version}");
        let output = civic(&["push", wasm, &reference, "--annotation", &annotation], ws.path());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let first = push(HELLO_CITY, "1.0", "1.0.0");
    push(PLAIN_PROXY, "2.0", "2.0.0");
    let city = |id: &str, name: &str| {
        let config = format!(r#"config = {{ city_name = "{name}", greeting = "Ciao" }}"#);
        City::new(id).hosts(&[&format!("{id}.localhost")]).component("hello", &first, &config).route("/hello", "hello")
    };
    let (lecce, bari) = (city("lecce", "Lecce").write(&ws), city("bari", "Bari").write(&ws));
    let data = tempfile::tempdir().unwrap();
    let catalog = ["--admin", "127.0.0.1:0", "--catalog", &registry.host()];
    let args: Vec<&std::ffi::OsStr> = ["--data-dir".as_ref(), data.path().as_os_str()]
        .into_iter()
        .chain(catalog.iter().map(|a| a.as_ref()))
        .chain([lecce.as_os_str(), bari.as_os_str()])
        .collect();
    let civic = Civic::start("run", &args, &[("CIVIC_ADMIN_TOKEN", TOKEN.as_ref())]);
    let admin = format!("http://{}", civic.admin_addr().await);
    let browser = Browser::shared();
    let page = browser.session().await;
    page.goto(&format!("{admin}/catalog")).await.unwrap();
    sign_in(&page, TOKEN).await;

    // Both cities serve 1.0 of the one service; nobody serves 2.0 yet.
    let service = format!("article[data-repository='{}/civic/hello']", registry.host());
    assert!(text(&page, &format!("{service} .repository")).await.ends_with("used by 2 cities"));
    assert_eq!(
        text(&page, &format!("{service} tr[data-tag='1.0'] .used-by")).await,
        "2 cities: bari (hello), lecce (hello)"
    );
    assert_eq!(text(&page, &format!("{service} tr[data-tag='2.0'] .used-by")).await, "no city");
    screenshot(&page, SHOTS, "catalogue").await;

    // Lecce swaps in 2.0, chosen from the catalogue on its component's page.
    page.goto(&format!("{admin}/cities/lecce/components/hello")).await.unwrap();
    let offer = css(&page, "#offer").await;
    let second = registry.reference("civic/hello:2.0");
    let option = offer.find(Locator::Css(&format!("option[value^='{second}@sha256:']"))).await.unwrap();
    option.click().await.unwrap();
    follow(&page, "#swap-reference").await;
    let swapped = notice(&page).await;
    assert!(
        swapped.starts_with("Swapped: version 2 ") && swapped.contains(&format!("from {second}@sha256:")),
        "{swapped}"
    );
    assert_eq!(get(&civic.url("/hello"), Some("lecce.localhost")).await.0, 203);
    assert_eq!(get(&civic.url("/hello"), Some("bari.localhost")).await.0, 200);

    page.goto(&format!("{admin}/catalog")).await.unwrap();
    assert_eq!(text(&page, &format!("{service} tr[data-tag='1.0'] .used-by")).await, "1 city: bari (hello)");
    assert_eq!(text(&page, &format!("{service} tr[data-tag='2.0'] .used-by")).await, "1 city: lecce (hello)");

    // A reference the registry does not have is refused with the registry's answer.
    page.goto(&format!("{admin}/cities/bari/components/hello")).await.unwrap();
    css(&page, "#reference").await.send_keys(&registry.reference("civic/hello:9.9")).await.unwrap();
    follow(&page, "#swap-reference").await;
    let refused = text(&page, ".notice.refused").await;
    assert!(refused.contains("has no tag `9.9`"), "{refused}");
    page.close().await.unwrap();
}

/// The sign-in over plain HTTP, as a script or an attacker would try it.
#[tokio::test]
async fn sessions_are_strict_cookies_wrong_tokens_are_limited_and_the_api_still_wants_its_bearer() {
    let (data, ws) = (tempfile::tempdir().unwrap(), Workspace::new());
    let manifest = City::new("lecce")
        .component("hello", HELLO_CITY, r#"config = { city_name = "Lecce", greeting = "Ciao" }"#)
        .route("/hello", "hello")
        .write(&ws);
    let args: Vec<&std::ffi::OsStr> = vec![
        "--data-dir".as_ref(),
        data.path().as_os_str(),
        "--admin".as_ref(),
        "127.0.0.1:0".as_ref(),
        manifest.as_os_str(),
    ];
    let civic = Civic::start("run", &args, &[("CIVIC_ADMIN_TOKEN", TOKEN.as_ref())]);
    let admin = format!("http://{}", civic.admin_addr().await);
    let http = client_not_following();
    let sign_in = |token: &str, proto: &str| {
        let request = http.post(format!("{admin}/sign-in")).header("x-forwarded-proto", proto);
        request.form(&[("token", token), ("next", "/catalog")]).send()
    };

    // Behind a TLS proxy the cookie is Secure too; it is strict, HTTP-only and expires.
    let signed = sign_in(TOKEN, "https").await.unwrap();
    assert_eq!((signed.status().as_u16(), signed.headers()["location"].to_str().unwrap()), (303, "/catalog"));
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800", "Secure"] {
        assert!(cookie.split("; ").any(|a| a == attribute), "{attribute} missing in {cookie}");
    }
    let plain = sign_in(TOKEN, "http").await.unwrap();
    assert!(!plain.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
    let session = cookie.split(';').next().unwrap().to_owned();

    // A session is not a bearer token: the API is unchanged.
    let api = http.get(format!("{admin}/v1/components")).header("cookie", &session).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 401);
    let page = http.get(format!("{admin}/")).header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");

    // A POST from another site, even with the cookie, changes nothing.
    let forged = http
        .post(format!("{admin}/cities/lecce/components/hello/rollback"))
        .header("cookie", &session)
        .header("origin", "http://evil.example")
        .form(&[("csrf", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);

    // Signing out ends the session on the host, not just in the browser.
    let form = http.get(format!("{admin}/")).header("cookie", &session).send().await.unwrap().text().await.unwrap();
    let csrf = form.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let out = http.post(format!("{admin}/sign-out")).header("cookie", &session).form(&[("csrf", &csrf)]).send();
    assert_eq!(out.await.unwrap().status().as_u16(), 303);
    let after = http.get(format!("{admin}/")).header("cookie", &session).send().await.unwrap();
    assert_eq!((after.status().as_u16(), after.headers()["location"].to_str().unwrap()), (303, "/sign-in?next=%2F"));

    // Five wrong tokens from one address, then a wrong one waits; the right one never does.
    for _ in 0..5 {
        assert_eq!(sign_in("guess", "http").await.unwrap().status().as_u16(), 401);
    }
    let limited = sign_in("guess", "http").await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.text().await.unwrap().contains("Too many wrong tokens from your address"));
    assert_eq!(sign_in(TOKEN, "http").await.unwrap().status().as_u16(), 303);
    assert!(civic.log().matches("sign-in refused, wrong token").count() >= 5);
}

#[tokio::test]
async fn among_many_cities_the_console_pages_them_and_finds_one_on_a_later_page() {
    let ws = Workspace::new();
    let ids: Vec<String> = (0..130).map(|i| format!("town-{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let host = format!("{id}.localhost");
        let mut city = City::new(id).hosts(&[&host]).component("hello", HELLO_CITY, "").route("/hello", "hello");
        if i == 117 {
            city = city.component("tax", TAX_ONLY, "");
        }
        if i == 88 {
            city = city.component("faulty", FAULTY, "").route("/faulty", "faulty");
        }
        city.write(&ws);
    }
    let civic = Civic::run_with_admin(&[ws.path()], TOKEN);
    let admin = format!("http://{}", civic.admin_addr().await);
    let browser = Browser::shared();
    let page = browser.session().await;
    page.goto(&format!("{admin}/")).await.unwrap();
    sign_in(&page, TOKEN).await;

    // The first page: 50 cities, the count of all, and a small page however many there are.
    css(&page, "tr[data-city='town-000']").await;
    let rows = script(&page, "return document.querySelectorAll('tr[data-city]').length").await;
    assert_eq!(rows, 50);
    assert!(text(&page, "p.count").await.starts_with("50 of 130 cities"), "{}", text(&page, "p.count").await);
    assert!(page.source().await.unwrap().len() < 200_000);
    assert!(page.find(Locator::Css("tr[data-city='town-117']")).await.is_err(), "on a later page");

    // The next page follows on from the first.
    follow(&page, "a[rel='next']").await;
    css(&page, "tr[data-city='town-050']").await;
    assert!(page.find(Locator::Css("tr[data-city='town-049']")).await.is_err());

    // The search finds a city of the third page by its id, and its page has only its components.
    follow(&page, "a[href='/']").await;
    css(&page, "#city-search").await.send_keys("Town-117").await.unwrap();
    follow(&page, "form[role='search'] button").await;
    css(&page, "tr[data-city='town-117']").await;
    assert_eq!(script(&page, "return document.querySelectorAll('tr[data-city]').length").await, 1);
    assert_eq!(text(&page, "tr[data-city='town-117'] td[data-label='Components']").await, "2");
    follow(&page, "a[href='/cities/town-117']").await;
    css(&page, "tr[data-component='tax']").await;
    assert_eq!(script(&page, "return document.querySelectorAll('tr[data-component]').length").await, 2);

    // A failing component is found without paging: the list says how many cities, and filters them.
    page.goto(&format!("{admin}/")).await.unwrap();
    css(&page, "tr[data-city='town-000']").await;
    assert!(page.find(Locator::Css("a[href='/?health=failing']")).await.is_err(), "nothing fails yet");
    let (status, _) = get(&civic.url("/faulty/panic"), Some("town-088.localhost")).await;
    assert_eq!(status, 500);
    page.goto(&format!("{admin}/")).await.unwrap();
    assert_eq!(text(&page, "a[href='/?health=failing']").await, "1 city has a failing component");
    screenshot(&page, SHOTS, "cities-paged").await;
    follow(&page, "a[href='/?health=failing']").await;
    css(&page, "tr[data-city='town-088']").await;
    assert_eq!(script(&page, "return document.querySelectorAll('tr[data-city]').length").await, 1);
    assert_eq!(text(&page, "tr[data-city='town-088'] td.failing").await, "1");
}
