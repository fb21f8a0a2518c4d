//! A registry behind basic authentication, through the real binary: credentials from a Docker
//! config file (as oras, wkg and Spin read them) let `civic push` and `civic check` in; without
//! them the registry refuses, and the error says where credentials come from.

use civic_tests::registry::Registry;
use civic_tests::{City, HELLO_CITY, Workspace, civic_bin};
use std::process::Command;

#[test]
fn credentials_from_a_docker_config_file_open_a_registry_that_refuses_without() {
    let registry = Registry::start(Some(("city-bot", "p4ssw0rd")));
    let ws = Workspace::new();
    let reference = registry.reference("private/hello:1");
    // `base64("city-bot:p4ssw0rd")`.
    let auths = format!(r#"{{"auths": {{"{}": {{"auth": "Y2l0eS1ib3Q6cDRzc3cwcmQ="}}}}}}"#, registry.host());
    ws.write("docker/config.json", auths);
    ws.write("empty/config.json", r#"{"auths": {}}"#);
    let civic = |docker_config: &str, args: &[&str]| {
        let output = Command::new(civic_bin())
            .args(args)
            .current_dir(ws.path())
            .env("DOCKER_CONFIG", ws.path().join(docker_config))
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (ok, _, err) = civic("empty", &["push", HELLO_CITY, &reference]);
    assert!(!ok, "pushed without credentials");
    assert!(err.contains("the registry refused") && err.contains("Docker config file"), "{err}");

    let (ok, out, err) = civic("docker", &["push", HELLO_CITY, &reference]);
    assert!(ok, "{err}");
    assert!(out.trim().starts_with(&format!("{reference}@sha256:")), "{out}");

    let manifest = City::new("lecce").component("hello", &reference, "").route("/hello", "hello").write(&ws);
    let (ok, _, err) = civic("docker", &["check", manifest.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = civic("empty", &["check", manifest.to_str().unwrap()]);
    assert!(!ok && err.contains("the registry refused"), "{err}");
    assert!(!err.contains("p4ssw0rd"), "{err}");
}
