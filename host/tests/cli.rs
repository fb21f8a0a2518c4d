//! The command line itself: help, version and usage errors. (Serving is tested in `tests/`.)

use std::process::Command;

fn civic(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_civic")).args(args).output().expect("cannot run civic")
}

#[test]
fn help_lists_the_commands() {
    let output = civic(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["run", "up", "check"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "{command} missing from:\n{help}");
    }
}

#[test]
fn version_is_the_crate_version() {
    let output = civic(&["--version"]);
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim(), format!("civic {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_manifest_is_required() {
    for command in ["run", "up", "check"] {
        let output = civic(&[command]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("<MANIFEST>..."), "{stderr}");
    }
}

#[test]
fn a_missing_manifest_is_reported_with_its_path() {
    let output = civic(&["check", "no/such/city.toml"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("error: no/such/city.toml: cannot read manifest: No such file"), "{stderr}");
}
