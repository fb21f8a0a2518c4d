//! The SDK leaves the repository: `cargo package -p civic-sdk` makes a whole crate (its WIT
//! inside), and a plugin that `civic new` makes outside the repository, depending on that
//! package unpacked elsewhere, builds and serves.

use civic_tests::{Civic, WASM_TARGET_DIR, Workspace, civic, get};
use std::path::Path;
use std::process::Command;

#[tokio::test]
async fn the_packaged_sdk_builds_a_new_plugin_outside_the_repository() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ws = Workspace::new();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // A target dir of its own: the cargo running this test holds the workspace's.
    let packaged = Command::new(&cargo)
        .args(["package", "-p", "civic-sdk", "--allow-dirty", "--no-verify", "--target-dir"])
        .arg(ws.path().join("target"))
        .current_dir(repo)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(packaged.status.success(), "{}", String::from_utf8_lossy(&packaged.stderr));
    let version = env!("CARGO_PKG_VERSION");
    let crate_file = ws.path().join(format!("target/package/civic-sdk-{version}.crate"));
    std::fs::create_dir_all(ws.path().join("unpacked")).unwrap();
    let unpacked = Command::new("tar").arg("xzf").arg(&crate_file).arg("-C").arg(ws.path().join("unpacked")).status();
    assert!(unpacked.unwrap().success());
    let sdk = ws.path().join(format!("unpacked/civic-sdk-{version}"));
    assert!(sdk.join("wit/platform.wit").is_file(), "the WIT is inside the package");

    let plugin = ws.path().join("elsewhere/dog-tax");
    let made =
        civic(&["new", "dog-tax", "--path", plugin.to_str().unwrap(), "--sdk", sdk.to_str().unwrap()], ws.path());
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let cargo_toml = std::fs::read_to_string(plugin.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml
            .contains(&format!("civic-sdk = {{ path = {:?} }}", sdk.canonicalize().unwrap().display().to_string())),
        "{cargo_toml}"
    );

    // Built where the tests' components were, so the SDK's dependencies are compiled already.
    let data = tempfile::tempdir().unwrap();
    let manifest = plugin.join("city.toml");
    let args = ["--data-dir".as_ref(), data.path().as_os_str(), manifest.as_os_str()];
    let civic = Civic::start("up", &args, &[("CARGO_TARGET_DIR", WASM_TARGET_DIR.as_ref())]);
    assert_eq!(get(&civic.url("/dog-tax/hello?name=Ana"), None).await, (200, "Hello, Ana!\n".into()));
}
