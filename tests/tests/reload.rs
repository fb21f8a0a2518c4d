//! Live manifest reload through the real binary: `civic run --watch` applies a changed manifest
//! as a diff, rejects a broken one with its error in the log while the old configuration keeps
//! serving, and `POST /v1/reload` does the same on request.

use civic_tests::{City, Civic, FAULTY, HELLO_CITY, PLAIN_PROXY, Workspace, client, get};
use std::time::Duration;

const LOG_WAIT: Duration = Duration::from_secs(60);

/// Lecce with `hello` (hello-city, or `hello_source`) greeting with `greeting`, plus `more`.
fn lecce(hello_source: &str, greeting: &str) -> City {
    let config = format!(r#"config = {{ city_name = "Lecce", greeting = "{greeting}" }}"#);
    City::new("lecce").component("hello", hello_source, &config).route("/hello", "hello")
}

#[tokio::test]
async fn watch_applies_a_changed_manifest_as_a_diff_and_rejects_a_broken_one() {
    let ws = Workspace::new();
    let data = tempfile::tempdir().unwrap();
    let manifest = lecce(HELLO_CITY, "Ciao").component("echo", PLAIN_PROXY, "").route("/echo", "echo").write(&ws);
    let civic = Civic::run_in(data.path(), &[&manifest], &["--watch"]);
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Ciao from Lecce!\n".into()));
    assert_eq!(get(&civic.url("/echo"), None).await.0, 203);

    // New config for one component: only that one gets a new slot.
    lecce(HELLO_CITY, "Salve").component("echo", PLAIN_PROXY, "").route("/echo", "echo").write(&ws);
    let summary = "components: 0 added, 0 swapped, 1 replaced, 1 unchanged, 0 removed";
    civic.wait_for_log(&["reloaded the manifests", summary], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Salve from Lecce!\n".into()));

    // A broken manifest: its error is logged with its place, and nothing changes.
    let broken = lecce(HELLO_CITY, "Hallo").toml() + "\n[components.echo]\nsource = 42\n";
    ws.write("lecce.toml", broken);
    civic.wait_for_log(&["reload rejected"], LOG_WAIT).await;
    civic.wait_for_log(&["lecce.toml:", ":10"], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Salve from Lecce!\n".into()));
    assert_eq!(get(&civic.url("/echo"), None).await.0, 203, "the old configuration keeps serving");

    // A component removed, one added, one left alone.
    lecce(HELLO_CITY, "Salve").component("faulty", FAULTY, "").route("/faulty", "faulty").write(&ws);
    let summary = "components: 1 added, 0 swapped, 0 replaced, 1 unchanged, 1 removed";
    civic.wait_for_log(&["reloaded the manifests", summary], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/echo"), None).await.0, 404);
    assert_eq!(get(&civic.url("/faulty/ok"), None).await, (200, "still standing\n".into()));

    // A new source with the same settings is swapped into the same slot.
    lecce(PLAIN_PROXY, "Salve").component("faulty", FAULTY, "").route("/faulty", "faulty").write(&ws);
    let summary = "components: 0 added, 1 swapped, 0 replaced, 1 unchanged, 0 removed";
    civic.wait_for_log(&["reloaded the manifests", summary], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/hello"), None).await, (203, "plain proxy saw Method::Get /hello\n".into()));
}

#[tokio::test]
async fn post_reload_applies_the_manifests_or_answers_their_errors() {
    let ws = Workspace::new();
    let manifest = lecce(HELLO_CITY, "Ciao").write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], "t0ken");
    let reload_url = format!("http://{}/v1/reload", civic.admin_addr().await);
    let reload = || client().post(&reload_url).bearer_auth("t0ken").send();

    let response = reload().await.unwrap();
    assert_eq!(response.status(), 200);
    let summary: serde_json::Value = response.json().await.unwrap();
    assert_eq!((summary["unchanged"].as_u64(), summary["added"].as_u64()), (Some(1), Some(0)), "{summary}");

    ws.write("lecce.toml", lecce(HELLO_CITY, "Ciao").toml().replace("manifest_version = 1", "manifest_version = 9"));
    let response = reload().await.unwrap();
    assert_eq!(response.status(), 422);
    let errors = response.text().await.unwrap();
    assert!(errors.contains("unsupported manifest_version `9`") && errors.contains("lecce.toml:1:"), "{errors}");
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Ciao from Lecce!\n".into()));

    lecce(HELLO_CITY, "Salve").write(&ws);
    assert_eq!(reload().await.unwrap().status(), 200);
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Salve from Lecce!\n".into()));
}
