//! The Kubernetes base (`deploy/kubernetes`) serves the example cities: its manifests are the
//! examples with each plugin crate's path replaced by its component's path inside the image.
//! `BLESS=1` rewrites them after a change to the examples.

use std::path::Path;

/// `source = "../plugins/local-tax"` → `source = "/opt/civic/plugins/local_tax.wasm"`.
fn with_image_paths(manifest: &str) -> String {
    let lines = manifest.lines().map(|line| match line.strip_prefix("source = \"../plugins/") {
        Some(rest) => format!("source = \"/opt/civic/plugins/{}.wasm\"", rest.trim_end_matches('"').replace('-', "_")),
        None => line.to_owned(),
    });
    lines.map(|line| line + "\n").collect()
}

#[test]
fn the_kubernetes_cities_are_the_examples_with_the_images_plugin_paths() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let deployed = repo.join("deploy/kubernetes/cities");
    let kustomization = std::fs::read_to_string(repo.join("deploy/kubernetes/kustomization.yaml")).unwrap();
    let mut examples: Vec<_> = std::fs::read_dir(repo.join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 2, "the examples went missing");
    for example in examples {
        let name = example.file_name().unwrap().to_str().unwrap();
        let expected = with_image_paths(&std::fs::read_to_string(&example).unwrap());
        let path = deployed.join(name);
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(actual, expected, "{} differs from {name} (BLESS=1 rewrites it)", path.display());
        assert!(kustomization.contains(&format!("cities/{name}")), "the ConfigMap leaves out {name}");
    }
}
