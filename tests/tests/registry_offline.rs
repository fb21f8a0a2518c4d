//! A registry that goes away, through the real binary: a city pinned by digest starts from the
//! data dir's cache with the registry down; a city that names a tag falls back to the digest the
//! tag last resolved to, and says so. Its own test binary: it stops its registry.

use civic_tests::registry::Registry;
use civic_tests::{City, Civic, HELLO_CITY, Workspace, civic, get};
use std::time::Duration;

#[tokio::test]
async fn with_the_registry_down_a_pinned_city_starts_from_the_cache_and_a_tag_from_what_it_was() {
    let mut registry = Registry::start(None);
    let ws = Workspace::new();
    let output = civic(&["push", HELLO_CITY, &registry.reference("civic/hello:1")], ws.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let pinned = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let config = r#"config = { city_name = "Lecce", greeting = "Ciao" }"#;
    let by_digest =
        City::new("lecce").hosts(&["lecce.localhost"]).component("hello", &pinned, config).route("/hello", "hello");
    let by_tag = City::new("bari")
        .hosts(&["bari.localhost"])
        .component("hello", &registry.reference("civic/hello:1"), config)
        .route("/hello", "hello");
    let manifests = [by_digest.write(&ws), by_tag.write(&ws)];
    let manifests: Vec<_> = manifests.iter().map(|m| m.as_path()).collect();
    let data = tempfile::tempdir().unwrap();

    // The first start fills the cache.
    let first = Civic::run_in(data.path(), &manifests, &[]);
    assert_eq!(get(&first.url("/hello"), Some("lecce.localhost")).await.0, 200);
    drop(first);

    registry.stop();
    let again = Civic::run_in(data.path(), &manifests, &[]);
    assert_eq!(get(&again.url("/hello"), Some("lecce.localhost")).await, (200, "Ciao from Lecce!\n".into()));
    assert_eq!(get(&again.url("/hello"), Some("bari.localhost")).await.0, 200);
    let warning = again
        .wait_for_log(
            &["cannot reach the registry", "using the digest the tag last resolved to"],
            Duration::from_secs(10),
        )
        .await;
    assert!(warning.contains("civic/hello:1"), "the tag is named: {warning}");

    // Without a cache (another data dir), the tag cannot resolve: the start fails, saying why.
    let output = civic(&["check", manifests[1].to_str().unwrap()], ws.path());
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot reach the registry"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
