//! Three hosts on one PostgreSQL database, through the real binary: a swap or a rollback through
//! any host reaches the others within two seconds, a load spread over them sees no failure while
//! versions change, a host that starts late serves the latest version at once, a host killed
//! under load loses nothing acknowledged, and `/v1/cluster` and `civic status` show the hosts,
//! whether they agree, and forget a host that stopped.

use civic_tests::postgres::Postgres;
use civic_tests::{
    City, Civic, FAULTY, HELLO_CITY, KEYVALUE, PLAIN_PROXY, Workspace, civic, client, console_session, get,
};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "cluster-t0ken-xxxxxxxxxxxxxxxxxx";
const HELLO: (u16, &str) = (200, "Ciao from Lecce!\n");
const PLAIN: (u16, &str) = (203, "plain proxy saw Method::Get /hello\n");

/// How long a change may take to reach every host.
const SPREAD: Duration = Duration::from_secs(2);

struct Hosts {
    ws: Workspace,
    manifest: std::path::PathBuf,
    db: String,
    hosts: Vec<Civic>,
    _server: Arc<Postgres>,
}

impl Hosts {
    /// Three hosts on a fresh database, serving `hello` at `/hello` and a key-value store at `/kv`.
    fn start(extra: &[&str]) -> Self {
        let server = Postgres::shared();
        let db = server.database();
        let ws = Workspace::new();
        let manifest = City::new("lecce")
            .component("hello", HELLO_CITY, r#"config = { city_name = "Lecce", greeting = "Ciao" }"#)
            .component("store", KEYVALUE, r#"keyvalue = ["b"]"#)
            .route("/hello", "hello")
            .route("/kv", "store")
            .write(&ws);
        let mut hosts = Self { ws, manifest, db, hosts: Vec::new(), _server: server };
        for _ in 0..3 {
            hosts.add(extra);
        }
        hosts
    }

    fn add(&mut self, extra: &[&str]) -> &Civic {
        self.hosts.push(Civic::run_clustered(&self.db, &[&self.manifest], TOKEN, extra));
        self.hosts.last().unwrap()
    }

    async fn admin(&self, host: usize, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.hosts[host].admin_addr().await);
        let mut request = client().request(method, url).bearer_auth(TOKEN);
        if let Some(wasm) = body {
            request = request.body(std::fs::read(wasm).unwrap());
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// Swaps `hello` through host `via` to `wasm`; the cluster's new version number.
    async fn swap(&self, via: usize, wasm: &str) -> u64 {
        let (status, answer) =
            self.admin(via, reqwest::Method::PUT, "/v1/cities/lecce/components/hello", Some(wasm)).await;
        assert_eq!(status, 200, "{answer}");
        answer["version"].as_u64().unwrap()
    }

    /// How many lines each host has logged, to wait for what comes after.
    fn marks(&self) -> Vec<usize> {
        self.hosts.iter().map(Civic::log_lines).collect()
    }

    /// Waits until every host but `via` logs, after `marks`, that it serves version `number` of
    /// `hello`; how long that took from `started`.
    async fn spread(&self, marks: &[usize], started: Instant, via: usize, number: u64) -> Duration {
        let needle = format!("version={number} ");
        for (i, host) in self.hosts.iter().enumerate().filter(|(i, _)| *i != via) {
            let needles = ["serving the cluster's version", "component=hello", &needle];
            host.wait_for_log_after(marks[i], &needles, SPREAD * 5).await;
        }
        started.elapsed()
    }

    async fn hello(&self, host: usize) -> (u16, String) {
        get(&self.hosts[host].url("/hello"), None).await
    }

    fn status(&self, host: usize) -> String {
        let token = self.ws.write("token", TOKEN);
        let admin = self.hosts[host].log().lines().find_map(|l| l.strip_prefix("admin on http://").map(str::to_owned));
        let admin = admin.expect("an admin line");
        let output =
            civic(&["status", "--admin", &admin, "--admin-token-file", token.to_str().unwrap()], self.ws.path());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }
}

fn same(answer: &(u16, String), expected: (u16, &str)) -> bool {
    answer.0 == expected.0 && answer.1 == expected.1
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_and_a_rollback_through_one_host_reach_the_others_within_two_seconds() {
    let hosts = Hosts::start(&[]);
    for i in 0..3 {
        assert!(same(&hosts.hello(i).await, HELLO), "host {i}");
    }
    let mut spreads = Vec::new();
    for (round, wasm) in [PLAIN_PROXY, HELLO_CITY, PLAIN_PROXY].into_iter().enumerate() {
        let via = round % 3;
        let (marks, started) = (hosts.marks(), Instant::now());
        let number = hosts.swap(via, wasm).await;
        assert_eq!(number, round as u64 + 2, "the cluster numbers its versions");
        let took = hosts.spread(&marks, started, via, number).await;
        assert!(took < SPREAD, "swap {round} took {took:?} to reach every host");
        spreads.push(took);
        let expected = if wasm == PLAIN_PROXY { PLAIN } else { HELLO };
        for i in 0..3 {
            assert!(same(&hosts.hello(i).await, expected), "host {i} after swap {round}");
        }
    }
    // A rollback through another host puts the version before back everywhere.
    let (marks, started) = (hosts.marks(), Instant::now());
    let (status, answer) =
        hosts.admin(1, reqwest::Method::POST, "/v1/cities/lecce/components/hello/rollback", None).await;
    assert_eq!((status, answer["version"].as_u64()), (200, Some(3)), "{answer}");
    let took = hosts.spread(&marks, started, 1, 3).await;
    assert!(took < SPREAD, "the rollback took {took:?} to reach every host");
    for i in 0..3 {
        assert!(same(&hosts.hello(i).await, HELLO), "host {i} after the rollback");
    }
    eprintln!("spread of each change: {spreads:?}, rollback {took:?}");

    // The history has every version, who made it and when.
    let (status, history) =
        hosts.admin(2, reqwest::Method::GET, "/v1/cities/lecce/components/hello/versions", None).await;
    assert_eq!(status, 200);
    let numbers: Vec<_> =
        history["versions"].as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [4, 3, 2, 1]);
    assert_eq!(history["versions"][0]["origin"], "upload");
    assert_eq!(history["versions"][3]["origin"], "manifest");
    let serving: Vec<_> = history["versions"].as_array().unwrap().iter().filter(|v| v["serving"] == true).collect();
    assert_eq!(serving.len(), 1);
    assert_eq!(serving[0]["version"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn under_load_over_three_hosts_twenty_swaps_fail_no_request_and_a_late_host_serves_the_latest() {
    let mut hosts = Hosts::start(&[]);
    let swapping = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicUsize::new(0));
    let urls: Vec<String> = hosts.hosts.iter().map(|h| h.url("/hello")).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (urls, swapping, answered) = (urls.clone(), swapping.clone(), answered.clone());
            tokio::spawn(async move {
                let client = client();
                let mut i = c;
                while swapping.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let response = client.get(&urls[i % 3]).send().await.expect("no failed request");
                    let answer = (response.status().as_u16(), response.text().await.expect("a whole body"));
                    assert!(same(&answer, HELLO) || same(&answer, PLAIN), "an answer from no version: {answer:?}");
                    answered.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    let (mut last, mut marks, mut started) = (0, hosts.marks(), Instant::now());
    for round in 0..20 {
        (marks, started) = (hosts.marks(), Instant::now());
        last = hosts.swap(round % 3, if round % 2 == 0 { PLAIN_PROXY } else { HELLO_CITY }).await;
    }
    hosts.spread(&marks, started, 19 % 3, last).await;
    swapping.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client saw a failure");
    }
    assert!(answered.load(Ordering::Relaxed) >= 20, "too few requests during the swaps");
    assert_eq!(last, 21);
    for i in 0..3 {
        assert!(same(&hosts.hello(i).await, HELLO), "host {i} after the last swap");
    }

    // A host that starts now serves the cluster's version, not its manifest's, at once.
    hosts.add(&[]);
    let late = hosts.hosts.len() - 1;
    assert!(same(&hosts.hello(late).await, HELLO));
    let (status, components) = hosts.admin(late, reqwest::Method::GET, "/v1/components", None).await;
    assert_eq!(status, 200);
    let hello = components["items"].as_array().unwrap().iter().find(|c| c["name"] == "hello").cloned();
    assert_eq!(hello.unwrap()["version"], 21);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_under_load_leaves_the_others_serving_and_nothing_acknowledged_lost() {
    let mut hosts = Hosts::start(&[]);
    let urls: Vec<String> = hosts.hosts.iter().map(|h| h.url("/kv/b")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (count, mut counted) = tokio::sync::watch::channel(0usize);
    let writing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut acknowledged, mut dead) = (Vec::new(), [false; 3]);
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in 0..100_000usize {
                if (stop.load(Ordering::Relaxed) && acknowledged.len() >= 100) || Instant::now() > deadline {
                    break;
                }
                let host = i % 3;
                if dead[host] {
                    continue;
                }
                match client().put(format!("{}/key-{i}", urls[host])).body(format!("value {i}")).send().await {
                    Ok(response) if response.status() == 204 => acknowledged.push(i),
                    Ok(response) => panic!("host {host} answered {}", response.status()),
                    Err(_) => dead[host] = true,
                }
                count.send_replace(acknowledged.len());
            }
            (acknowledged, dead)
        })
    };
    let enough = tokio::time::timeout(Duration::from_secs(30), counted.wait_for(|n| *n >= 30)).await;
    assert!(enough.is_ok_and(|seen| seen.is_ok()), "30 writes were not acknowledged in 30 s");
    hosts.hosts[2].kill();
    stop.store(true, Ordering::Relaxed);
    let (acknowledged, dead) = writing.await.unwrap();
    assert_eq!(dead, [false, false, true], "the other two kept serving");
    for i in &acknowledged {
        assert_eq!(
            get(&format!("{}/key-{i}", hosts.hosts[i % 2].url("/kv/b")), None).await,
            (200, format!("value {i}"))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_view_shows_the_hosts_and_whether_they_agree_and_forgets_a_stopped_host() {
    let mut hosts = Hosts::start(&["--host-timeout", "6s"]);
    let (status, view) = hosts.admin(0, reqwest::Method::GET, "/v1/cluster", None).await;
    assert_eq!(status, 200);
    assert_eq!((view["clustered"].as_bool(), view["agree"].as_bool()), (Some(true), Some(true)), "{view}");
    assert_eq!(view["hosts"].as_array().unwrap().len(), 3, "{view}");
    let status_text = hosts.status(1);
    assert!(status_text.contains("the 3 hosts agree on every version"), "{status_text}");

    // A host that hangs does not follow: the others say so, and for how long.
    hosts.hosts[2].signal("-STOP");
    let marks = hosts.marks();
    let number = hosts.swap(0, PLAIN_PROXY).await;
    let needle = format!("version={number} ");
    hosts.hosts[1].wait_for_log_after(marks[1], &["serving the cluster's version", &needle], SPREAD * 5).await;
    let status_text = hosts.status(0);
    assert!(status_text.contains("the hosts DISAGREE on 1 components"), "{status_text}");
    assert!(status_text.contains("lecce/hello: the cluster wants version 2"), "{status_text}");
    assert!(status_text.contains("has not applied it yet"), "the hung host: {status_text}");
    let one_pending = |view: &Value| view["items"][0]["pending"].as_array().is_some_and(|p| p.len() == 1);
    view_when(&hosts.hosts[0], "the hung host alone is pending", one_pending).await;
    // The console's cluster page tells people the same.
    let admin = format!("http://{}", hosts.hosts[0].admin_addr().await);
    let session = console_session(&admin, TOKEN).await;
    let page = client().get(format!("{admin}/cluster")).header("cookie", session).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("The hosts do not all serve the versions the cluster wants: "), "{page}");
    assert_eq!(page.matches("<tr data-host=").count(), 3, "{page}");
    assert!(page.contains("<tr class=\"disagree\">") && page.contains("(this host)"), "{page}");
    assert!(page.contains(": not yet"), "the hung host has not applied it: {page}");
    hosts.hosts[2].signal("-CONT");
    hosts.hosts[2].wait_for_log_after(marks[2], &["serving the cluster's version", &needle], SPREAD * 5).await;

    // Killed, it stops heartbeating and is forgotten after the host timeout.
    hosts.hosts[2].kill();
    let forgotten = Instant::now() + Duration::from_secs(30);
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticks.tick().await;
        let (_, view) = hosts.admin(0, reqwest::Method::GET, "/v1/cluster", None).await;
        if view["hosts"].as_array().is_some_and(|h| h.len() == 2) {
            assert_eq!(view["agree"], true, "the two left agree: {view}");
            break;
        }
        assert!(Instant::now() < forgotten, "the stopped host was not forgotten: {view}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_that_refuses_the_clusters_version_says_so_until_it_serves_the_desired_one_again() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    // The same city on both; the second checks `/panic` before it serves a version.
    let lecce = |more: &str| {
        City::new("lecce").component("hello", HELLO_CITY, &format!("config = {{ city_name = \"Lecce\" }}\n{more}"))
    };
    let plain = lecce("").route("/hello", "hello").write(&ws);
    let strict = ws.write("strict.toml", lecce(r#"health = "/panic""#).route("/hello", "hello").toml());
    let hosts = [Civic::run_clustered(&db, &[&plain], TOKEN, &[]), Civic::run_clustered(&db, &[&strict], TOKEN, &[])];
    for host in &hosts {
        host.wait_for_log(&["joined the cluster"], SPREAD * 5).await;
    }
    let served = || server.query(&db, "SELECT count(*) FROM civic_served");
    assert_eq!(served(), "0", "both serve what the cluster wants");

    // FAULTY panics at `/panic`: the strict host refuses it, keeps version 1, and stores why.
    let marks: Vec<usize> = hosts.iter().map(Civic::log_lines).collect();
    swap_via(&hosts[0], FAULTY).await;
    hosts[1].wait_for_log_after(marks[1], &["cannot serve the cluster's version"], SPREAD * 5).await;
    let refusal = |view: &Value| {
        let hosts = view["items"][0]["hosts"].as_array().cloned().unwrap_or_default();
        hosts.into_iter().find(|s| !s["refused"].is_null())
    };
    let view = view_when(&hosts[0], "no refusal shown", |view| refusal(view).is_some()).await;
    let refusal = refusal(&view).unwrap_or_default();
    assert_eq!((view["agree"].as_bool(), view["disagreeing"].as_u64()), (Some(false), Some(1)), "{view}");
    assert_eq!(refusal["version"], 1, "it kept what it served: {view}");
    assert!(refusal["refused"].as_str().is_some_and(|why| why.contains("/panic")), "{view}");
    assert_eq!(served(), "1", "one row, for the one refusal");

    // Back to hello-city through the strict host: both serve it, and the row is gone.
    let marks: Vec<usize> = hosts.iter().map(Civic::log_lines).collect();
    swap_via(&hosts[1], HELLO_CITY).await;
    hosts[0].wait_for_log_after(marks[0], &["serving the cluster's version"], SPREAD * 5).await;
    view_when(&hosts[1], "the hosts do not agree again", |view| view["agree"] == true).await;
    assert_eq!(served(), "0");
}

/// Swaps Lecce's `hello` to `wasm` through `host`.
async fn swap_via(host: &Civic, wasm: &str) {
    let url = format!("http://{}/v1/cities/lecce/components/hello", host.admin_addr().await);
    let response = client().put(&url).bearer_auth(TOKEN).body(std::fs::read(wasm).unwrap()).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// `host`'s view of the cluster once `holds` holds of it, looked at every 100 ms for a while.
async fn view_when(host: &Civic, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SPREAD * 5;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticks.tick().await;
        let view = cluster_view(host).await;
        if holds(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "{what}: {view}");
    }
}

async fn cluster_view(host: &Civic) -> Value {
    let url = format!("http://{}/v1/cluster", host.admin_addr().await);
    client().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_whose_manifest_gives_a_new_source_records_the_next_version_which_every_host_serves() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let lecce = |wasm: &str| {
        City::new("lecce").component("hello", wasm, r#"config = { city_name = "Lecce", greeting = "Ciao" }"#)
    };
    let before = lecce(HELLO_CITY).route("/hello", "hello").write(&ws);
    let first = Civic::run_clustered(&db, &[&before], TOKEN, &[]);
    first.wait_for_log(&["joined the cluster"], SPREAD * 5).await;
    assert!(same(&get(&first.url("/hello"), None).await, HELLO));

    let after = ws.write("after.toml", lecce(PLAIN_PROXY).route("/hello", "hello").toml());
    let mark = first.log_lines();
    let second = Civic::run_clustered(&db, &[&after], TOKEN, &[]);
    second.wait_for_log(&["joined the cluster"], SPREAD * 5).await;
    assert!(same(&get(&second.url("/hello"), None).await, PLAIN));
    first.wait_for_log_after(mark, &["serving the cluster's version", "version=2 "], SPREAD * 5).await;
    assert!(same(&get(&first.url("/hello"), None).await, PLAIN));
    let versions = "SELECT string_agg(number || ':' || origin, ',' ORDER BY number) FROM civic_versions";
    assert_eq!(server.query(&db, versions), "1:manifest,2:manifest");
    assert_eq!(server.query(&db, "SELECT number || '/' || previous FROM civic_desired"), "2/1");
}
