//! `civic new` creates a plugin crate that `civic up` builds and serves, wherever it is created;
//! `civic inspect` prints a component's imports and exports as WIT.

use civic_tests::{Civic, KINDERGARTEN, WASM_TARGET_DIR, Workspace, civic, client, get};
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_plugin_builds_and_serves_with_one_command_each() {
    let ws = Workspace::new();
    let dir = ws.path().join("services/dog-tax");
    let output = civic(&["new", "dog-tax", "--path", dir.to_str().unwrap()], ws.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("civic up"), "it says how to serve it");
    for file in ["Cargo.toml", "src/lib.rs", "city.toml", ".gitignore", ".cargo/config.toml"] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }

    // `civic up` builds it (in the tests' wasm target dir, where the SDK is already compiled).
    let data = tempfile::tempdir().unwrap();
    let manifest = dir.join("city.toml");
    let args = ["--data-dir".as_ref(), data.path().as_os_str(), manifest.as_os_str()];
    let civic = Civic::start("up", &args, &[("CARGO_TARGET_DIR", WASM_TARGET_DIR.as_ref())]);
    assert_eq!(get(&civic.url("/dog-tax/hello?name=Ana"), None).await, (200, "Hello, Ana!\n".into()));
    let echoed = client().post(civic.url("/dog-tax/echo")).json(&json!({ "text": "hi" })).send().await.unwrap();
    assert_eq!(echoed.json::<Value>().await.unwrap(), json!({ "text": "hi" }));
    let refused = client().post(civic.url("/dog-tax/echo")).json(&json!({ "text": "" })).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["invalid-params"][0]["name"], "text");

    // Built from its own directory, with its own cargo configuration: the small stack.
    let wasm = std::fs::read(std::path::Path::new(WASM_TARGET_DIR).join("wasm32-wasip2/release/dog_tax.wasm")).unwrap();
    assert_eq!(stack_tops(&wasm), [64 << 10], "a 64 KiB stack, first in memory");
}

/// The initial `__stack_pointer` of each core module in a component: its first global, a mutable
/// i32, which starts at the top of the stack when the stack comes first in memory.
fn stack_tops(component: &[u8]) -> Vec<i32> {
    let mut tops = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let wasmparser::Payload::GlobalSection(globals) = payload.unwrap() else { continue };
        let Some(first) = globals.into_iter().next() else { continue };
        let first = first.unwrap();
        if first.ty.mutable
            && first.ty.content_type == wasmparser::ValType::I32
            && let Ok(wasmparser::Operator::I32Const { value }) = first.init_expr.get_operators_reader().read()
        {
            tops.push(value);
        }
    }
    tops
}

#[test]
fn new_refuses_a_bad_name_or_a_directory_in_use() {
    let ws = Workspace::new();
    let output = civic(&["new", "Dog Tax"], ws.path());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Dog Tax"), "the bad name is named");

    ws.write("taken/notes.txt", "mine");
    let output = civic(&["new", "dog-tax", "--path", "taken"], ws.path());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists and is not empty"));
    assert_eq!(std::fs::read_to_string(ws.path().join("taken/notes.txt")).unwrap(), "mine", "nothing is lost");
}

#[test]
fn inspect_prints_imports_and_exports_as_wit() {
    let ws = Workspace::new();
    let output = civic(&["inspect", KINDERGARTEN], ws.path());
    let wit = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(wit.starts_with("package root:component;"), "{wit}");
    assert!(wit.contains("export wasi:http/incoming-handler@"), "{wit}");
    assert!(wit.contains("import wasi:keyvalue/store@0.2.0-draft;"), "{wit}");
    assert!(wit.contains("package wasi:keyvalue@0.2.0-draft {"), "the interfaces it uses are printed too: {wit}");

    let core = ws.write("core.wasm", wat::parse_str("(module)").unwrap());
    let output = civic(&["inspect", core.to_str().unwrap()], ws.path());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a WebAssembly component: it is a core module"));
}
