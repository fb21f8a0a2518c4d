//! Live manifest reload through the real binary: `civic run --watch` applies a changed manifest
//! as a diff, rejects a broken one with its error in the log while the old configuration keeps
//! serving, and `POST /v1/reload` does the same on request.

use civic_tests::{
    CENSUS_CERTIFICATE, City, Civic, FAULTY, HELLO_CITY, KINDERGARTEN, LICENSE_PLATE, LOCAL_TAX, PLAIN_PROXY,
    RESIDENCY, Workspace, client, get,
};
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
    let civic = Civic::run_with_admin(&[&manifest], "t0ken-of-at-least-32-characters!");
    let reload_url = format!("http://{}/v1/reload", civic.admin_addr().await);
    let reload = || client().post(&reload_url).bearer_auth("t0ken-of-at-least-32-characters!").send();

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

    // A component that needs more per instance than the pool was built for at start.
    let wide = ws.write("wide.wasm", civic_tests::edit::widened(&std::fs::read(HELLO_CITY).unwrap(), 20));
    lecce(wide.to_str().unwrap(), "Ciao").write(&ws);
    let response = reload().await.unwrap();
    assert_eq!(response.status(), 422);
    let errors = response.text().await.unwrap();
    assert!(errors.contains("core instances") && errors.contains("restart the host to size its pool"), "{errors}");
    assert!(errors.contains("lecce.toml:"), "{errors}");
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Ciao from Lecce!\n".into()));

    lecce(HELLO_CITY, "Salve").write(&ws);
    assert_eq!(reload().await.unwrap().status(), 200);
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Salve from Lecce!\n".into()));
}

#[tokio::test]
async fn a_component_file_rewritten_under_its_manifest_reloads_only_the_cities_that_run_it() {
    let ws = Workspace::new();
    let component = ws.write("hello.wasm", std::fs::read(HELLO_CITY).unwrap());
    let lecce = lecce(component.to_str().unwrap(), "Ciao").hosts(&["lecce.localhost"]).write(&ws);
    let bari = ws.write("bari.toml", greeting_city("bari").toml());
    let token = "t0ken-of-at-least-32-characters!";
    let civic = Civic::run_with_admin(&[&lecce, &bari], token);
    let reload_url = format!("http://{}/v1/reload", civic.admin_addr().await);

    // Lecce's manifest is the same, and parsed again from what was kept; Bari's is not.
    ws.write("hello.wasm", std::fs::read(PLAIN_PROXY).unwrap());
    let response = client().post(&reload_url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let summary: serde_json::Value = response.json().await.unwrap();
    let counts = ["swapped", "unchanged", "manifests_parsed"].map(|k| summary[k].as_u64());
    assert_eq!(counts, [Some(1), Some(1), Some(1)], "{summary}");
    assert_eq!(get(&civic.url("/hello"), Some("lecce.localhost")).await.0, 203, "the new file serves");
    assert_eq!(get(&civic.url("/hello"), Some("bari.localhost")).await, (200, "Hi from bari!\n".into()));
}

/// The cities `ids` greet with their own name at `ID.localhost`.
fn greeting_city(id: &str) -> City {
    let config = format!(r#"config = {{ city_name = "{id}", greeting = "Hi" }}"#);
    City::new(id).hosts(&[&format!("{id}.localhost")]).component("hello", HELLO_CITY, &config).route("/hello", "hello")
}

#[tokio::test]
async fn a_directory_of_manifests_is_served_and_watched_for_manifests_added_and_removed() {
    let ws = Workspace::new();
    for id in ["aachen", "bari", "cork"] {
        ws.write(&format!("cities/{id}.toml"), greeting_city(id).toml());
    }
    // Neither a hidden file nor another kind of file is a manifest.
    ws.write("cities/.draft.toml", "this is not TOML");
    ws.write("cities/README.md", "the cities of this host");
    let data = tempfile::tempdir().unwrap();
    let dir = ws.path().join("cities");
    let civic = Civic::run_in(data.path(), &[&dir], &["--watch"]);
    let hello = |id: &'static str| {
        let url = civic.url("/hello");
        async move { get(&url, Some(&format!("{id}.localhost"))).await }
    };
    for id in ["aachen", "bari", "cork"] {
        assert_eq!(hello(id).await, (200, format!("Hi from {id}!\n")));
    }

    ws.write("cities/dublin.toml", greeting_city("dublin").toml());
    civic.wait_for_log(&["reloaded the manifests", "cities +1 -0"], LOG_WAIT).await;
    assert_eq!(hello("dublin").await, (200, "Hi from dublin!\n".into()));

    std::fs::remove_file(dir.join("bari.toml")).unwrap();
    civic.wait_for_log(&["reloaded the manifests", "cities +0 -1"], LOG_WAIT).await;
    assert_eq!(hello("bari").await.0, 404);
    assert_eq!(hello("cork").await, (200, "Hi from cork!\n".into()));
}

#[tokio::test]
async fn a_link_swapped_to_a_new_checkout_reloads_what_changed_in_it() {
    // As git-sync keeps the manifests: `current` links to the latest checkout, swapped at once.
    let ws = Workspace::new();
    for (revision, greeting) in [("rev-1", "Ciao"), ("rev-2", "Salve")] {
        ws.write(
            &format!("{revision}/cities/lecce.toml"),
            lecce(HELLO_CITY, greeting).hosts(&["lecce.localhost"]).toml(),
        );
        ws.write(&format!("{revision}/cities/bari.toml"), greeting_city("bari").toml());
    }
    let link = |revision: &str| {
        let next = ws.path().join("current-next");
        std::os::unix::fs::symlink(ws.path().join(revision), &next).unwrap();
        std::fs::rename(&next, ws.path().join("current")).unwrap();
    };
    link("rev-1");
    let data = tempfile::tempdir().unwrap();
    let dir = ws.path().join("current/cities");
    let civic = Civic::run_in(data.path(), &[&dir], &["--watch"]);
    assert_eq!(get(&civic.url("/hello"), Some("lecce.localhost")).await, (200, "Ciao from Lecce!\n".into()));

    // The new checkout changes Lecce only: Bari's manifest is read and compared, not parsed.
    link("rev-2");
    let line = civic.wait_for_log(&["reloaded the manifests", "1 of 2 manifests parsed again"], LOG_WAIT).await;
    assert!(line.contains("1 replaced, 1 unchanged"), "{line}");
    assert_eq!(get(&civic.url("/hello"), Some("lecce.localhost")).await, (200, "Salve from Lecce!\n".into()));
}

#[tokio::test]
async fn a_swap_during_a_reload_waits_for_it_and_is_not_lost() {
    let ws = Workspace::new();
    let manifest = lecce(HELLO_CITY, "Ciao").write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], "t0ken-of-at-least-32-characters!");
    let admin = civic.admin_addr().await;
    // The new manifest gives `hello` a new slot (new config) and adds components that take a
    // while to compile, so the swap below arrives while the reload is under way.
    let mut city = lecce(HELLO_CITY, "Salve");
    for (name, wasm) in [
        ("kindergarten", KINDERGARTEN),
        ("local-tax", LOCAL_TAX),
        ("license-plate", LICENSE_PLATE),
        ("census-certificate", CENSUS_CERTIFICATE),
        ("residency", RESIDENCY),
    ] {
        city = city.component(name, wasm, "");
    }
    city.write(&ws);
    let reload = tokio::spawn(
        client().post(format!("http://{admin}/v1/reload")).bearer_auth("t0ken-of-at-least-32-characters!").send(),
    );
    civic.wait_for_log(&["applying the manifests"], LOG_WAIT).await;
    let swap = client()
        .put(format!("http://{admin}/v1/cities/lecce/components/hello"))
        .bearer_auth("t0ken-of-at-least-32-characters!")
        .body(std::fs::read(PLAIN_PROXY).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(swap.status(), 200);
    assert_eq!(reload.await.unwrap().unwrap().status(), 200);
    let version: serde_json::Value = swap.json().await.unwrap();
    assert_eq!(version["version"], 2, "{version}");
    // Had the swap gone into the slot the reload was replacing, the reload would have undone it.
    assert_eq!(get(&civic.url("/hello"), None).await, (203, "plain proxy saw Method::Get /hello\n".into()));
}

#[tokio::test]
async fn watch_follows_a_configmap_update_that_swaps_its_data_link() {
    use std::os::unix::fs::symlink;
    // What the kubelet mounts: the files in a directory of their revision, `..data` pointing at
    // it, and each manifest a link through `..data`.
    let ws = Workspace::new();
    let mount = ws.path().join("cities");
    let first = "..2026_12_01_10_00_00.000000001";
    ws.write(&format!("cities/{first}/lecce.toml"), lecce(HELLO_CITY, "Ciao").toml());
    symlink(first, mount.join("..data")).unwrap();
    symlink("..data/lecce.toml", mount.join("lecce.toml")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let civic = Civic::run_in(data.path(), &[&mount], &["--watch"]);
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Ciao from Lecce!\n".into()));

    // An update: the next revision's directory, then a new link renamed over `..data` in one step.
    // Same size and the same modification time as the old file: only the file itself is new.
    let second = "..2026_12_01_10_05_00.000000002";
    let new = ws.write(&format!("cities/{second}/lecce.toml"), lecce(HELLO_CITY, "Moin").toml());
    let touched =
        std::process::Command::new("touch").arg("-r").arg(mount.join(first).join("lecce.toml")).arg(&new).status();
    assert!(touched.unwrap().success());
    symlink(second, mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join(first)).unwrap();

    civic.wait_for_log(&["reloaded the manifests", "1 replaced"], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Moin from Lecce!\n".into()));
}
