//! Hosts on a shared PostgreSQL database, through the real binary: what one host writes the other
//! reads, increments are exact across hosts, a host killed mid-load loses nothing it
//! acknowledged, and bad URLs or a wrong password stop the start without printing the password.

use civic_tests::postgres::{PASSWORD, Postgres, USER};
use civic_tests::{City, Civic, KEYVALUE, Workspace, civic, client, get};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn kv_city(ws: &Workspace) -> std::path::PathBuf {
    City::new("lecce").component("store", KEYVALUE, r#"keyvalue = ["b"]"#).route("/kv", "store").write(ws)
}

async fn put(civic: &Civic, path: &str, body: String) -> u16 {
    client().put(civic.url(path)).body(body).send().await.map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_one_database_share_keys_and_exact_counters() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let manifest = kv_city(&ws);
    let hosts = Arc::new([Civic::run_on(&db, &[&manifest], &[]), Civic::run_on(&db, &[&manifest], &[])]);
    hosts[0].wait_for_log(&["serving", "state=postgres://civic@127.0.0.1:"], Duration::from_secs(10)).await;

    assert_eq!(put(&hosts[0], "/kv/b/greeting", "written on the first host".into()).await, 204);
    assert_eq!(get(&hosts[1].url("/kv/b/greeting"), None).await, (200, "written on the first host".into()));

    // 500 increments, spread over both hosts from 10 clients at once.
    let tasks: Vec<_> = (0..10)
        .map(|client_no| {
            let hosts = hosts.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..50 {
                    let host = &hosts[(client_no + i) % 2];
                    let response = client().post(host.url("/kv/b/counter/increment?by=1")).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    seen.push(response.text().await.unwrap().parse::<u64>().unwrap());
                }
                seen
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=500).collect::<Vec<_>>(), "500 increments, 500 distinct answers, ending at 500");
    assert_eq!(get(&hosts[0].url("/kv/b/counter"), None).await, (200, "500".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_during_writes_loses_nothing_it_acknowledged() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let manifest = kv_city(&ws);
    let mut first = Civic::run_on(&db, &[&manifest], &[]);

    let url = first.url("/kv/b");
    let stop = Arc::new(AtomicBool::new(false));
    let (count, mut counted) = tokio::sync::watch::channel(0usize);
    let writing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in 0..100_000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let sent = client().put(format!("{url}/key-{i}")).body(format!("value {i}")).send().await;
                match sent {
                    Ok(response) if response.status() == 204 => acknowledged.push(i),
                    _ => break,
                }
                count.send_replace(acknowledged.len());
            }
            acknowledged
        })
    };
    let enough = tokio::time::timeout(Duration::from_secs(30), counted.wait_for(|n| *n >= 50)).await;
    assert!(enough.is_ok_and(|seen| seen.is_ok()), "50 writes were not acknowledged in 30 s");
    first.kill();
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writing.await.unwrap();

    let second = Civic::run_on(&db, &[&manifest], &[]);
    for i in &acknowledged {
        assert_eq!(get(&second.url(&format!("/kv/b/key-{i}")), None).await, (200, format!("value {i}")), "key {i}");
    }
}

#[test]
fn bad_state_urls_and_a_wrong_password_stop_the_start_without_printing_the_password() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let manifest = kv_city(&ws);
    let port = db.rsplit(':').next().unwrap().split('/').next().unwrap().to_owned();
    let wrong = format!("postgres://{USER}:not-the-password@127.0.0.1:{port}/postgres");
    let unreachable = format!("postgres://{USER}:{PASSWORD}@127.0.0.1:1/postgres");
    let cases = [
        ("mysql://civic:hunter2@127.0.0.1/x", "unknown state store `mysql://civic:***@127.0.0.1/x`"),
        (
            "postgres://civic:hunter2@127.0.0.1:99999/x",
            "invalid PostgreSQL URL `postgres://civic:***@127.0.0.1:99999/x`",
        ),
        ("postgres://127.0.0.1/", "invalid PostgreSQL URL"),
        (&unreachable, "cannot connect to the state store postgres://civic@127.0.0.1:1/postgres"),
        (&wrong, "password authentication failed for user \"civic\""),
    ];
    for (url, message) in cases {
        let args = ["run", "--listen", "127.0.0.1:0", "--data-dir", "data", "--state-timeout", "5s", "--state", url];
        let output = civic(&[&args[..], &[manifest.to_str().unwrap()]].concat(), ws.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.contains(message), "{url}: {stderr}");
        for secret in ["hunter2", PASSWORD, "not-the-password"] {
            assert!(!stderr.contains(secret), "{url}: the password is printed: {stderr}");
        }
        assert!(!stderr.contains("listening on"), "{stderr}");
    }
}

#[tokio::test]
async fn listening_on_is_the_first_line_on_postgres_too() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let civic = Civic::run_on(&db, &[&kv_city(&ws)], &[]);
    civic.wait_for_log(&["serving"], Duration::from_secs(10)).await;
    let log = civic.log();
    assert_eq!(log.lines().next(), Some(format!("listening on http://{}", civic.addr()).as_str()), "{log}");
}

#[tokio::test]
async fn a_database_of_the_previous_release_migrates_and_keeps_its_data() {
    let server = Postgres::shared();
    let db = server.database();
    // What the release before the cluster wrote: schema version 1, the citizens' data only.
    server.sql(
        &db,
        "CREATE TABLE civic_schema (version integer NOT NULL); INSERT INTO civic_schema VALUES (1);
         CREATE TABLE civic_kv (city text NOT NULL, component text NOT NULL, bucket text NOT NULL,
             key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (city, component, bucket, key));
         INSERT INTO civic_kv VALUES ('lecce', 'store', 'b', convert_to('greeting', 'UTF8'),
             convert_to('kept since version 1', 'UTF8'));",
    );
    let ws = Workspace::new();
    let civic = Civic::run_on(&db, &[&kv_city(&ws)], &[]);
    civic.wait_for_log(&["migrated the state store's schema", "from=1", "to=4"], Duration::from_secs(10)).await;
    assert_eq!(get(&civic.url("/kv/b/greeting"), None).await, (200, "kept since version 1".into()));
}

#[tokio::test]
async fn a_cluster_of_the_previous_release_keeps_each_components_bytes_once() {
    let server = Postgres::shared();
    let db = server.database();
    // What the release before wrote: schema version 2, the bytes in every version's row (here
    // the same four bytes, of one sha256, for two cities' components).
    let aa = "aa".repeat(32);
    server.sql(
        &db,
        &format!(
            "CREATE TABLE civic_schema (version integer NOT NULL); INSERT INTO civic_schema VALUES (2);
         CREATE TABLE civic_kv (city text NOT NULL, component text NOT NULL, bucket text NOT NULL,
             key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (city, component, bucket, key));
         CREATE TABLE civic_versions (city text NOT NULL, component text NOT NULL, number bigint NOT NULL,
             sha256 text NOT NULL, wasm bytea, reference text, origin text NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(), created_by text NOT NULL,
             PRIMARY KEY (city, component, number), CHECK (wasm IS NOT NULL OR reference IS NOT NULL));
         CREATE TABLE civic_desired (city text NOT NULL, component text NOT NULL, number bigint NOT NULL,
             previous bigint, manifest_sha256 text NOT NULL, changed_at timestamptz NOT NULL DEFAULT now(),
             changed_by text NOT NULL, PRIMARY KEY (city, component));
         CREATE TABLE civic_hosts (id text PRIMARY KEY, address text NOT NULL, admin text,
             started_at timestamptz NOT NULL, seen_at timestamptz NOT NULL);
         CREATE TABLE civic_served (host text NOT NULL REFERENCES civic_hosts (id) ON DELETE CASCADE,
             city text NOT NULL, component text NOT NULL, number bigint NOT NULL, sha256 text NOT NULL,
             since timestamptz NOT NULL, refused text, PRIMARY KEY (host, city, component));
         INSERT INTO civic_versions (city, component, number, sha256, wasm, origin, created_by) VALUES
             ('bari', 'old', 1, '{aa}', '\\x0061736d', 'manifest', 'h'),
             ('pisa', 'old', 1, '{aa}', '\\x0061736d', 'manifest', 'h');
         INSERT INTO civic_desired (city, component, number, manifest_sha256, changed_by) VALUES
             ('bari', 'old', 1, '{aa}', 'h'), ('pisa', 'old', 1, '{aa}', 'h');"
        ),
    );
    let ws = Workspace::new();
    let civic = Civic::run_on(&db, &[&kv_city(&ws)], &[]);
    civic.wait_for_log(&["migrated the state store's schema", "from=2", "to=4"], Duration::from_secs(10)).await;
    assert_eq!(
        server
            .query(&db, &format!("SELECT string_agg(encode(wasm, 'hex'), ',') FROM civic_blobs WHERE sha256 = '{aa}'")),
        "0061736d"
    );
    let columns =
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'civic_versions' AND column_name = 'wasm'";
    assert_eq!(server.query(&db, columns), "0", "the bytes are no longer in each version");
    let carried = format!("SELECT count(*) FROM civic_desired WHERE sha256 = '{aa}'");
    assert_eq!(server.query(&db, &carried), "2", "each desired version carries its sha256");
    // Every desired version has its own change number, and this host's slot one after them.
    assert_eq!(server.query(&db, "SELECT count(DISTINCT change) FROM civic_desired"), "3");
    // Joined, the host says it has applied every change: no row per component needed.
    civic.wait_for_log(&["joined the cluster"], Duration::from_secs(10)).await;
    let caught_up = "SELECT bool_and(seen_change = (SELECT max(change) FROM civic_desired)) FROM civic_hosts";
    assert_eq!(server.query(&db, caught_up), "t");
    assert_eq!(server.query(&db, "SELECT count(*) FROM civic_served"), "0");
}

#[test]
fn a_schema_version_no_civic_wrote_stops_the_start() {
    let server = Postgres::shared();
    let ws = Workspace::new();
    let manifest = kv_city(&ws);
    for (version, message) in
        [(-1, "schema version -1, which no civic writes"), (99, "schema version 99, written by a newer civic")]
    {
        let db = server.database();
        server.sql(
            &db,
            &format!(
                "CREATE TABLE civic_schema (version integer NOT NULL); INSERT INTO civic_schema VALUES ({version});"
            ),
        );
        let args = ["run", "--listen", "127.0.0.1:0", "--data-dir", "data", "--state", &db, manifest.to_str().unwrap()];
        let output = civic(&args, ws.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
}
