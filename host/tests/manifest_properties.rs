//! Property tests of the manifest parser: whatever a city writes, `parse` never panics, and every
//! rejection is an error that points into the file (`--> file:line:column`).

use civic_host::manifest;
use proptest::prelude::*;
use proptest::sample::Index;

/// A manifest that uses every kind of value, for the edits below to break.
const MANIFEST: &str = r#"manifest_version = 1

[city]
id = "lecce"
name = "Lecce"
hosts = ["lecce.localhost", "comune.lecce.it"]

[components.kita]
source = "kita.wasm"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
config = { places = 40, open = true, name = "Kita Sud" }
keyvalue = ["applications", "places"]
limits = { memory = "64MiB", timeout = "5s", max_concurrency = 10, max_body = "1MiB" }
files = { "/templates" = "templates", "/outbox" = { path = "outbox", writable = true } }

[[routes]]
path = "/kita"
component = "kita"
"#;

/// Replaces `removed` characters at `at` with `inserted`.
fn edit(text: &str, (at, removed, inserted): &(Index, usize, String)) -> String {
    let chars: Vec<char> = text.chars().collect();
    let start = at.index(chars.len() + 1);
    let end = (start + removed).min(chars.len());
    chars[..start].iter().chain(inserted.chars().collect::<Vec<_>>().iter()).chain(&chars[end..]).collect()
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.toml");
    std::fs::write(&path, text).unwrap();
    if let Err(diagnostics) = manifest::parse(std::slice::from_ref(&path)) {
        let rendered = diagnostics.to_string();
        let errors = rendered.matches("error: ").count() - 1;
        let located = rendered.matches(&format!("--> {}:", path.display())).count();
        prop_assert!(errors > 0, "a rejection with no error: {rendered}");
        prop_assert_eq!(located, errors, "every error points into the file:\n{}", rendered);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn edits_of_a_valid_manifest_parse_or_fail_with_located_errors(
        edits in prop::collection::vec((any::<Index>(), 0usize..12, r#"[a-z0-9_ ="'\[\]{},.#/\n-]{0,10}"#), 1..5)
    ) {
        let text = edits.iter().fold(MANIFEST.to_owned(), |text, e| edit(&text, e));
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_parses_or_fails_with_located_errors(text in "manifest_version = 1\n(\\PC|\n){0,200}") {
        check(&text)?;
    }
}

#[test]
fn the_unedited_manifest_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.toml");
    std::fs::write(&path, MANIFEST).unwrap();
    if let Err(diagnostics) = manifest::parse(&[path]) {
        panic!("{diagnostics}");
    }
}
