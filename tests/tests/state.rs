//! Durable key-value state through `wasi:keyvalue`, driven over HTTP through the real binary.

use civic_tests::{City, Civic, KEYVALUE, Workspace, client, get};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A city running the key-value guest as `store` at `/kv`, allowed to open `buckets`.
fn kv_city(id: &str, buckets: &str) -> City {
    City::new(id).component("store", KEYVALUE, &format!("keyvalue = {buckets}")).route("/kv", "store")
}

async fn put(civic: &Civic, path: &str, body: &str, host: Option<&str>) -> u16 {
    let mut request = client().put(civic.url(path)).body(body.to_owned());
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn post(civic: &Civic, path: &str, body: &str) -> (u16, String) {
    let response = client().post(civic.url(path)).body(body.to_owned()).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn buckets_are_isolated_by_city_and_component() {
    let ws = Workspace::new();
    let lecce = City::new("lecce")
        .hosts(&["lecce.localhost"])
        .component("store", KEYVALUE, r#"keyvalue = ["b"]"#)
        .component("other", KEYVALUE, r#"keyvalue = ["b"]"#)
        .route("/kv", "store")
        .route("/other/kv", "other")
        .write(&ws);
    let santander = kv_city("santander", r#"["b"]"#).hosts(&["santander.localhost"]).write(&ws);
    let civic = Civic::run(&[&lecce, &santander]);

    assert_eq!(put(&civic, "/kv/b/x", "lecce's", Some("lecce.localhost")).await, 204);
    assert_eq!(get(&civic.url("/kv/b/x"), Some("lecce.localhost")).await, (200, "lecce's".into()));
    // The same bucket name in another component, or in another city, is another bucket.
    assert_eq!(get(&civic.url("/other/kv/b/x"), Some("lecce.localhost")).await.0, 404);
    assert_eq!(get(&civic.url("/kv/b/x"), Some("santander.localhost")).await.0, 404);
    assert_eq!(put(&civic, "/kv/b/x", "santander's", Some("santander.localhost")).await, 204);
    assert_eq!(get(&civic.url("/kv/b/x"), Some("lecce.localhost")).await, (200, "lecce's".into()));
    assert_eq!(get(&civic.url("/kv/b/x"), Some("santander.localhost")).await, (200, "santander's".into()));
}

#[tokio::test]
async fn an_undeclared_bucket_is_access_denied_as_an_error_value() {
    let ws = Workspace::new();
    let city = kv_city("lecce", r#"["applications"]"#).write(&ws);
    let civic = Civic::run(&[&city]);

    assert_eq!(get(&civic.url("/kv/secrets/x"), None).await, (403, "access-denied".into()));
    civic.wait_for_log(&["component=store", "bucket=secrets", "bucket access denied"], Duration::from_secs(10)).await;
    // The guest did not trap: the same instance type keeps serving its own bucket.
    assert_eq!(put(&civic, "/kv/applications/x", "1", None).await, 204);
}

#[tokio::test]
async fn concurrent_increments_end_at_the_exact_count_and_never_repeat() {
    let ws = Workspace::new();
    let city = kv_city("lecce", r#"["plates"]"#).write(&ws);
    let civic = Arc::new(Civic::run(&[&city]));

    let (clients, each) = (25, 20);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let civic = civic.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..each {
                    let (status, body) = post(&civic, "/kv/plates/next/increment?by=1", "").await;
                    assert_eq!(status, 200, "{body}");
                    seen.push(body.parse::<u64>().unwrap());
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
    assert_eq!(seen, (1..=clients * each).collect::<Vec<u64>>(), "every increment got its own number");
    assert_eq!(get(&civic.url("/kv/plates/next"), None).await, (200, (clients * each).to_string()));
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let ws = Workspace::new();
    let city = kv_city("bremerhaven", r#"["applications"]"#).write(&ws);
    let data = ws.path().join("data");
    let mut civic = Civic::run_in(&data, &[&city], &[]);
    let url = civic.url("/kv/applications");

    // Several clients write distinct keys; each remembers what the host acknowledged.
    const KILL_AFTER: usize = 300;
    let acked = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (url, acked, enough) = (url.clone(), acked.clone(), enough.clone());
            tokio::spawn(async move {
                let client = client();
                let mut acknowledged = Vec::new();
                for i in 0..5_000 {
                    let key = format!("w{writer}-{i}");
                    match client.put(format!("{url}/{key}")).body(format!("value of {key}")).send().await {
                        Ok(response) if response.status() == 204 => {
                            acknowledged.push(key);
                            if acked.fetch_add(1, Ordering::Relaxed) + 1 == KILL_AFTER {
                                enough.notify_one();
                            }
                        }
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Kill the host mid-stream, once a few hundred writes went through.
    tokio::time::timeout(Duration::from_secs(60), enough.notified()).await.expect("the writes are too slow");
    civic.kill();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() >= KILL_AFTER, "only {} writes were acknowledged", acknowledged.len());

    let restarted = Civic::run_in(&data, &[&city], &[]);
    let (status, listing) = get(&restarted.url("/kv/applications"), None).await;
    assert_eq!(status, 200);
    let stored: BTreeSet<String> = serde_json::from_str(&listing).unwrap();
    let missing: Vec<_> = acknowledged.iter().filter(|key| !stored.contains(*key)).collect();
    assert!(missing.is_empty(), "{} acknowledged writes were lost: {missing:?}", missing.len());
    for key in acknowledged.iter().step_by(37) {
        assert_eq!(
            get(&restarted.url(&format!("/kv/applications/{key}")), None).await,
            (200, format!("value of {key}"))
        );
    }
}

#[tokio::test]
async fn limits_are_error_values_with_a_clear_message() {
    let ws = Workspace::new();
    let city = kv_city("lecce", r#"["b"]"#).write(&ws);
    let data = ws.path().join("data");
    let civic = Civic::run_in(&data, &[&city], &["--kv-max-key", "16B", "--kv-max-value", "32B", "--kv-max-keys", "3"]);

    let long_key = "k".repeat(17);
    assert_eq!(
        get(&civic.url(&format!("/kv/b/{long_key}")), None).await,
        (500, "the key is 17 bytes; the limit is 16".into())
    );
    let response = client().put(civic.url("/kv/b/big")).body("v".repeat(33)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(response.text().await.unwrap(), "the value is 33 bytes; the limit is 32");
    let (status, body) = post(&civic, "/kv/b", r#"{"a": "1", "b": "2", "c": "3", "d": "4"}"#).await;
    assert_eq!((status, body.as_str()), (500, "the call names 4 keys; the limit is 3"));

    // Within the limits everything works, and listing pages through more keys than a page holds.
    for key in ["a", "b", "c", "d", "e", "f", "g"] {
        assert_eq!(put(&civic, &format!("/kv/b/{key}"), "v", None).await, 204);
    }
    assert_eq!(get(&civic.url("/kv/b"), None).await, (200, r#"["a","b","c","d","e","f","g"]"#.into()));
}

/// `civic run` that must fail at start-up: its exit code and stderr.
fn failed_start(data: &std::path::Path, city: &std::path::Path) -> (Option<i32>, String) {
    let output = std::process::Command::new(civic_tests::civic_bin())
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg(city)
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8(output.stderr).unwrap())
}

#[tokio::test]
async fn a_corrupt_or_unusable_data_dir_stops_the_start_with_its_path() {
    let ws = Workspace::new();
    let city = kv_city("lecce", r#"["b"]"#).write(&ws);

    let corrupt = ws.path().join("corrupt");
    ws.write("corrupt/state.sqlite3", vec![0x5a; 8192]);
    let (code, stderr) = failed_start(&corrupt, &city);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open the state database") || stderr.contains("cannot use the state database"),
        "{stderr}"
    );
    assert!(stderr.contains("corrupt/state.sqlite3"), "{stderr}");
    assert!(stderr.contains("not a database"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert_eq!(std::fs::read(corrupt.join("state.sqlite3")).unwrap(), vec![0x5a; 8192], "the file was left alone");

    let not_a_dir = ws.write("plain-file", "x");
    let (code, stderr) = failed_start(&not_a_dir, &city);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot create the data dir `{}`", not_a_dir.display())), "{stderr}");
}

#[tokio::test]
async fn a_data_dir_in_use_by_another_host_is_refused_and_the_first_keeps_serving() {
    let ws = Workspace::new();
    let city = kv_city("lecce", r#"["b"]"#).write(&ws);
    let data = ws.path().join("data");
    let first = Civic::run_in(&data, &[&city], &[]);
    assert_eq!(put(&first, "/kv/b/x", "1", None).await, 204);

    let (code, stderr) = failed_start(&data, &city);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is in use by another civic (pid"), "{stderr}");
    assert!(stderr.contains("give each host its own --data-dir"), "{stderr}");

    assert_eq!(get(&first.url("/kv/b/x"), None).await, (200, "1".into()));
}
