//! Components from an OCI registry, through the real binary and a real registry: `civic push`
//! publishes a plugin in the Wasm artifact layout with its metadata, a city serves it by digest,
//! a moved tag is picked up by a reload, `civic catalog` lists what was pushed, `civic pull` and
//! `civic inspect` fetch it, and every kind of bad artifact is refused with its own error.

use civic_tests::registry::{Registry, push_raw, sha256};
use civic_tests::{City, Civic, HELLO_CITY, KINDERGARTEN, PLAIN_PROXY, TAX_ONLY, Workspace, civic, client, get};
use serde_json::Value;

/// `civic ARGS…`: success, stdout, stderr.
fn run(args: &[&str], ws: &Workspace) -> (bool, String, String) {
    let output = civic(args, ws.path());
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// `civic push WASM REFERENCE`; the pushed reference, pinned.
fn push(ws: &Workspace, wasm: &str, reference: &str, extra: &[&str]) -> String {
    let (ok, out, err) = run(&[&["push", wasm, reference], extra].concat(), ws);
    assert!(ok, "{err}");
    let pinned = out.trim().to_owned();
    assert!(pinned.starts_with(&format!("{reference}@sha256:")), "{pinned}");
    pinned
}

fn city_from(source: &str) -> City {
    let config = r#"config = { city_name = "Lecce", greeting = "Ciao" }"#;
    City::new("lecce").component("hello", source, config).route("/hello", "hello")
}

#[tokio::test]
async fn a_pushed_plugin_serves_by_digest_and_its_tag_follows_on_reload() {
    let registry = Registry::shared();
    let ws = Workspace::new();
    let pinned = push(&ws, HELLO_CITY, &registry.reference("civic/hello:1.0"), &[]);

    let manifest = city_from(&pinned).write(&ws);
    let civic = Civic::run(&[&manifest]);
    assert_eq!(get(&civic.url("/hello"), None).await, (200, "Ciao from Lecce!\n".into()));

    // By tag: a reload resolves the tag again, and a moved tag swaps the component.
    let tagged = registry.reference("civic/greeter:live");
    push(&ws, HELLO_CITY, &tagged, &[]);
    let manifest = city_from(&tagged).write(&ws);
    let civic = Civic::run_with_admin(&[&manifest], "t0ken-of-at-least-32-characters!");
    assert_eq!(get(&civic.url("/hello"), None).await.0, 200);
    push(&ws, PLAIN_PROXY, &tagged, &[]);
    let reload = client()
        .post(format!("http://{}/v1/reload", civic.admin_addr().await))
        .bearer_auth("t0ken-of-at-least-32-characters!")
        .send();
    let summary: Value = reload.await.unwrap().json().await.unwrap();
    assert_eq!(summary["swapped"], 1, "{summary}");
    assert_eq!(get(&civic.url("/hello"), None).await.0, 203);
}

#[tokio::test]
async fn push_publishes_the_wasm_artifact_layout_and_the_catalogue_lists_it() {
    let registry = Registry::shared();
    let ws = Workspace::new();
    let vendor = "org.opencontainers.image.vendor=City of Lecce";
    let pinned =
        push(&ws, KINDERGARTEN, &registry.reference("catalogue/kindergarten:0.1.0"), &["--annotation", vendor]);

    // The layout, as the registry has it.
    let digest = pinned.rsplit('@').next().unwrap();
    let url = format!("http://{}/v2/catalogue/kindergarten/manifests/{digest}", registry.host());
    let response =
        client().get(url).header("accept", "application/vnd.oci.image.manifest.v1+json").send().await.unwrap();
    let manifest: Value = response.json().await.unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["layers"][0]["digest"], sha256(&std::fs::read(KINDERGARTEN).unwrap()));
    assert_eq!(manifest["layers"][0]["annotations"]["org.opencontainers.image.title"], "kindergarten.wasm");
    let annotations = &manifest["annotations"];
    assert!(
        annotations["org.opencontainers.image.description"].as_str().unwrap().contains("kindergarten places"),
        "{annotations}"
    );
    assert_eq!(annotations["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(annotations["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(annotations["org.opencontainers.image.vendor"], "City of Lecce", "--annotation wins");
    assert_eq!(annotations["org.opencontainers.image.source"], "https://github.com/civic-host/civic");
    assert!(annotations["org.opencontainers.image.created"].is_string());
    let config_url = format!(
        "http://{}/v2/catalogue/kindergarten/blobs/{}",
        registry.host(),
        manifest["config"]["digest"].as_str().unwrap()
    );
    let config: Value = client().get(config_url).send().await.unwrap().json().await.unwrap();
    assert_eq!((config["architecture"].as_str(), config["os"].as_str()), (Some("wasm"), Some("wasip2")));
    assert_eq!(config["layerDigests"][0], manifest["layers"][0]["digest"]);
    let exports: Vec<_> =
        config["component"]["exports"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(exports.contains(&"civic:education/enrollment@1.0.0"), "{config}");
    assert!(exports.iter().any(|e| e.starts_with("wasi:http/incoming-handler@")), "{config}");

    // The catalogue: what was pushed, with its metadata and contracts, from configs alone.
    push(&ws, TAX_ONLY, &registry.reference("catalogue/tax-only:2.0.0"), &[]);
    let (ok, out, err) = run(&["catalog", &format!("{}/catalogue", registry.host()), "--json"], &ws);
    assert!(ok, "{err}");
    let catalogue: Value = serde_json::from_str(&out).unwrap();
    let services = catalogue["services"].as_array().unwrap();
    let kita = services.iter().find(|s| s["reference"] == pinned).unwrap_or_else(|| panic!("{catalogue}"));
    assert_eq!((kita["title"].as_str(), kita["version"].as_str()), (Some("kindergarten"), Some("0.1.0")));
    assert_eq!(kita["vendor"], "City of Lecce");
    assert!(kita["imports"].as_array().unwrap().iter().any(|i| i == "wasi:keyvalue/store@0.2.0-draft"), "{kita}");
    let tax = services.iter().find(|s| s["reference"].as_str().unwrap().contains("tax-only:2.0.0")).unwrap();
    assert!(tax["exports"].as_array().unwrap().iter().any(|e| e == "civic:tax/assessment@1.0.0"), "{tax}");
    let (ok, text, _) = run(&["catalog", &registry.host()], &ws);
    assert!(ok && text.contains("contracts: serves civic:education/enrollment@1.0.0"), "{text}");

    // Pulled and inspected, by tag or digest, verified.
    let out_file = ws.path().join("pulled.wasm");
    let (ok, _, err) = run(&["pull", &pinned, "-o", out_file.to_str().unwrap()], &ws);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&out_file).unwrap(), std::fs::read(KINDERGARTEN).unwrap());
    let (ok, wit, err) = run(&["inspect", &registry.reference("catalogue/kindergarten:0.1.0")], &ws);
    assert!(ok, "{err}");
    assert!(wit.contains("export civic:education/enrollment@1.0.0;"), "{wit}");
}

#[tokio::test]
async fn bad_registry_sources_are_refused_each_with_its_own_error() {
    let registry = Registry::shared();
    let ws = Workspace::new();
    let pinned = push(&ws, HELLO_CITY, &registry.reference("errors/hello:1"), &[]);
    let wrong = format!("{}@sha256:{}", registry.reference("errors/hello:1"), "0".repeat(64));
    let host = registry.host();
    let wasm = std::fs::read(HELLO_CITY).unwrap();
    push_raw(
        &host,
        "errors/container",
        "1",
        "application/vnd.oci.image.config.v1+json",
        &[("application/vnd.oci.image.layer.v1.tar+gzip", b"not a component")],
    )
    .await;
    push_raw(
        &host,
        "errors/two",
        "1",
        "application/vnd.wasm.config.v0+json",
        &[("application/wasm", &wasm), ("application/wasm", &wasm)],
    )
    .await;
    // An older layout that Spin pushed is read.
    push_raw(
        &host,
        "errors/older",
        "1",
        "application/vnd.wasm.config.v1+json",
        &[("application/vnd.wasm.content.layer.v1+wasm", &wasm)],
    )
    .await;
    let cases = [
        (wrong.clone(), "has no manifest with this digest"),
        (registry.reference("errors/hello:missing"), "has no tag `missing`"),
        (
            registry.reference("errors/container:1"),
            "is not a Wasm component: its layer is `application/vnd.oci.image.layer.v1.tar+gzip`",
        ),
        (registry.reference("errors/two:1"), "has 2 layers; a Wasm component artifact has one"),
        (format!("oci://{host}/Errors/hello:1"), "invalid registry reference"),
        (format!("ftp://{host}/errors/hello:1"), "unknown source scheme `ftp://`"),
    ];
    for (source, error) in &cases {
        let manifest = city_from(source).write(&ws);
        let (ok, _, err) = run(&["check", manifest.to_str().unwrap()], &ws);
        assert!(!ok, "{source} passed");
        assert!(err.contains(error), "{source}: {err}");
        assert!(err.contains("--> ") && err.contains("lecce.toml:"), "located: {err}");
    }
    for source in [pinned, registry.reference("errors/older:1")] {
        let manifest = city_from(&source).write(&ws);
        let (ok, out, err) = run(&["check", manifest.to_str().unwrap()], &ws);
        assert!(ok, "{source}: {err}");
        assert!(out.starts_with("ok: 1 city"), "{out}");
    }
    // A `sha256` pin still checks the component's own bytes.
    let pinned_bytes =
        format!("{}\nsha256 = \"{}\"", r#"config = { city_name = "Lecce", greeting = "Ciao" }"#, "1".repeat(64));
    let manifest =
        City::new("lecce").component("hello", &registry.reference("errors/hello:1"), &pinned_bytes).write(&ws);
    let (ok, _, err) = run(&["check", manifest.to_str().unwrap()], &ws);
    assert!(!ok && err.contains("sha256 mismatch"), "{err}");
}
