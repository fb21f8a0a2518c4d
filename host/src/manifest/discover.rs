//! Which manifests a command line names: a file is itself; a directory is every `*.toml` file in
//! it (not below it), in name order. Hidden entries are skipped, which also skips the `..data`
//! and `..2026_…` entries a Kubernetes ConfigMap mount keeps beside its files.

use super::{Diagnostic, Diagnostics};
use std::path::{Path, PathBuf};

/// The manifest files `args` name, in order; a directory without manifests is an error naming it.
pub fn discover(args: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut files = Vec::new();
    for arg in args {
        if !arg.is_dir() {
            files.push(arg.clone());
            continue;
        }
        match manifests_in(arg) {
            Ok(found) if found.is_empty() => {
                diagnostics.push(Diagnostic::file(arg, "is a directory without manifests (no `*.toml` file in it)"))
            }
            Ok(found) => files.extend(found),
            Err(e) => diagnostics.push(Diagnostic::file(arg, format!("cannot list the directory: {e}"))),
        }
    }
    diagnostics.into_result(files)
}

fn manifests_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // `is_file` follows symlinks: a ConfigMap's files are links into its `..data` directory.
        if !name.starts_with('.') && name.ends_with(".toml") && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_its_manifests_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.toml", "a.toml", ".hidden.toml", "notes.md"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("..data")).unwrap();
        std::fs::create_dir_all(dir.path().join("nested.toml")).unwrap();
        let single = PathBuf::from("city.toml");
        let found = discover(&[single.clone(), dir.path().to_path_buf()]).unwrap();
        assert_eq!(found, [single, dir.path().join("a.toml"), dir.path().join("b.toml")]);
    }

    #[test]
    fn a_directory_without_manifests_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = discover(&[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert!(error.contains("without manifests"), "{error}");
    }
}
