//! `civic check` and the errors a city sees for a bad manifest.
//!
//! `tests/ui/NAME.toml` is checked and its stderr compared with `tests/ui/NAME.err`; run with
//! `BLESS=1` to rewrite the `.err` files after an intended change, then review the diff.

use civic_tests::{Civic, HELLO_CITY, WASM_TARGET_DIR, Workspace, civic, toml_path};
use std::path::Path;
use std::process::Command;

#[test]
fn ui() {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(tests_dir.join("ui"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the ui cases went missing");
    let mut failures = Vec::new();
    for case in &cases {
        let relative = case.strip_prefix(tests_dir).unwrap().to_str().unwrap();
        let output = civic(&["check", relative], tests_dir);
        let stderr = String::from_utf8(output.stderr).unwrap();
        if output.status.code() != Some(1) {
            failures.push(format!("{relative}: expected exit code 1, got {:?}\n{stderr}", output.status));
            continue;
        }
        let expected_path = case.with_extension("err");
        if bless {
            std::fs::write(&expected_path, &stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if stderr != expected {
            failures.push(format!("{relative}:\n--- expected\n{expected}\n--- actual\n{stderr}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} ui cases differ (BLESS=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn city(ws: &Workspace, file: &str, id: &str, hosts: &str, source: &Path) -> std::path::PathBuf {
    ws.write(
        file,
        format!(
            "manifest_version = 1\n[city]\nid = \"{id}\"\nname = \"{id}\"\nhosts = {hosts}\n\
             [components.hello]\nsource = {}\n[[routes]]\npath = \"/\"\ncomponent = \"hello\"\n",
            toml_path(source)
        ),
    )
}

/// `civic check` on manifests of `dir`, named relative to it as a user would.
fn check(manifests: &[&Path], dir: &Path) -> (Option<i32>, String, String) {
    let mut command = vec!["check"];
    command.extend(manifests.iter().map(|p| p.strip_prefix(dir).unwrap().to_str().unwrap()));
    let output = civic(&command, dir);
    (output.status.code(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

#[test]
fn a_valid_city_checks_ok() {
    let ws = Workspace::new();
    let a = city(&ws, "a.toml", "bremerhaven", "[\"a.localhost\"]", Path::new(HELLO_CITY));
    let b = city(&ws, "b.toml", "santander", "[\"b.localhost\"]", Path::new(HELLO_CITY));
    let (code, stdout, stderr) = check(&[&a, &b], ws.path());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "ok: 2 cities, 2 components (1 distinct), 2 routes\n");
}

#[test]
fn the_examples_check_ok_once_their_plugins_are_built() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // The directory holds both cities (and the legacy registry's data, which is no manifest).
    for args in [&["check", "examples/bremerhaven.toml", "examples/santander.toml"][..], &["check", "examples"]] {
        // The plugins were built by tests/build.rs into this target dir; point cargo at it.
        let output = Command::new(civic_tests::civic_bin())
            .args(args)
            .current_dir(repo)
            .env("CARGO_TARGET_DIR", WASM_TARGET_DIR)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "ok: 2 cities, 17 components (9 distinct), 17 routes, 8 links\n",
            "{args:?}"
        );
    }
}

#[test]
fn a_directory_without_manifests_is_an_error_naming_it() {
    let ws = Workspace::new();
    let a = city(&ws, "a.toml", "bremerhaven", "[\"a.localhost\"]", Path::new(HELLO_CITY));
    ws.write("empty/notes.md", "no manifest here");
    let (code, _, stderr) = check(&[&a, &ws.path().join("empty")], ws.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error: empty: is a directory without manifests (no `*.toml` file in it)"), "{stderr}");
}

#[test]
fn an_unbuilt_plugin_crate_says_how_to_build_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let empty_target = Workspace::new();
    let output = Command::new(civic_tests::civic_bin())
        .args(["check", "examples/bremerhaven.toml"])
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", empty_target.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--> examples/bremerhaven.toml:12:10"), "{stderr}");
    assert!(stderr.contains("plugin crate `examples/../plugins/hello-city` is not built yet"), "{stderr}");
    assert!(stderr.contains("`civic up` builds it"), "{stderr}");
}

#[test]
fn a_core_module_is_not_a_component() {
    let ws = Workspace::new();
    let module = ws.write("module.wasm", wat::parse_str("(module)").unwrap());
    let manifest = city(&ws, "city.toml", "lecce", "[]", &module);
    let (code, _, stderr) = check(&[&manifest], ws.path());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("component `hello` cannot be loaded"), "{stderr}");
    assert!(stderr.contains("module.wasm` is not a WebAssembly component but a core module"), "{stderr}");
    assert!(stderr.contains("build it for the `wasm32-wasip2` target"), "{stderr}");
    assert!(stderr.contains("--> city.toml:7:10"), "{stderr}");
}

#[test]
fn an_import_the_host_lacks_is_named() {
    let ws = Workspace::new();
    let component = ws.write(
        "foreign.wasm",
        wat::parse_str(r#"(component (import "wasi:nn/graph@0.2.0-rc-2024-10-28" (instance (export "load" (func)))))"#)
            .unwrap(),
    );
    let manifest = city(&ws, "city.toml", "lecce", "[]", &component);
    let (code, _, stderr) = check(&[&manifest], ws.path());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("foreign.wasm` imports something this host does not provide"), "{stderr}");
    assert!(stderr.contains("wasi:nn/graph@0.2.0-rc-2024-10-28"), "{stderr}");
}

#[test]
fn a_component_that_exports_nothing_is_refused() {
    let ws = Workspace::new();
    let component = ws.write("silent.wasm", wat::parse_str("(component)").unwrap());
    let manifest = city(&ws, "city.toml", "lecce", "[]", &component);
    let (code, _, stderr) = check(&[&manifest], ws.path());
    assert_eq!(code, Some(1));
    let message = "silent.wasm` exports neither a `wasi:http` handler nor a contract, so it can serve nothing";
    assert!(stderr.contains(message), "{stderr}");
}

#[test]
fn cities_and_hosts_are_unique_across_manifests() {
    let ws = Workspace::new();
    let wasm = Path::new(HELLO_CITY);
    let a = city(&ws, "a.toml", "lecce", "[\"lecce.example\"]", wasm);
    let again = city(&ws, "again.toml", "lecce", "[\"other.example\"]", wasm);
    let (code, _, stderr) = check(&[&a, &again], ws.path());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("error: city `lecce` is loaded twice"), "{stderr}");
    assert!(stderr.contains("--> again.toml:3:6"), "{stderr}");
    assert!(stderr.contains("first loaded from a.toml:3:6"), "{stderr}");

    let b = city(&ws, "b.toml", "santander", "[\"LECCE.example\"]", wasm);
    let (code, _, stderr) = check(&[&a, &b], ws.path());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("host `lecce.example` is already claimed by city `lecce`"), "{stderr}");

    let c = city(&ws, "c.toml", "santander", "[]", wasm);
    let (code, _, stderr) = check(&[&a, &c], ws.path());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("city `santander` has no `hosts`, but 2 cities share this host"), "{stderr}");
}

#[test]
fn run_refuses_an_invalid_manifest_and_serves_nothing() {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(civic_tests::civic_bin())
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("ui/unknown-component.toml")
        .current_dir(tests_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert_eq!(stderr, std::fs::read_to_string(tests_dir.join("ui/unknown-component.err")).unwrap());
}

#[test]
fn run_serves_the_examples_with_civic_up() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let data = Workspace::new();
    // `civic up` builds the plugin crates: in this target dir they are built already, so this
    // checks the wiring (cargo metadata, artifact path, serving) without a slow rebuild.
    let civic = Civic::start(
        "up",
        &[
            "--data-dir".as_ref(),
            data.path().as_os_str(),
            repo.join("examples/bremerhaven.toml").as_os_str(),
            repo.join("examples/santander.toml").as_os_str(),
        ],
        &[("CARGO_TARGET_DIR", WASM_TARGET_DIR.as_ref())],
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = runtime.block_on(civic_tests::get(&civic.url("/hello"), Some("santander.localhost")));
    assert_eq!((status, body.as_str()), (200, "¡Hola from Santander!\n"));
    let (status, body) =
        runtime.block_on(civic_tests::get(&civic.url("/hello?name=Jan"), Some("bremerhaven.localhost")));
    assert_eq!((status, body.as_str()), (200, "Moin Jan, welcome to Bremerhaven!\n"));
}
