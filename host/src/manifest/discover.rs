//! Which manifests a command line names: a file is itself; a directory is every `*.toml` file in
//! it (not below it), in name order. Hidden entries are skipped, which also skips the `..data`
//! and `..2026_…` entries a Kubernetes ConfigMap mount keeps beside its files.

use super::{Diagnostic, Diagnostics};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// What tells that a file changed without reading it: its inode, modification time and size.
/// The inode is what catches a Kubernetes ConfigMap update, which swaps a `..data` symlink to a
/// new directory rather than writing the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    inode: u64,
    modified: (i64, i64),
    size: u64,
}

impl Stamp {
    /// The stamp of the file at `path` (following symlinks), if it can be read.
    pub fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|meta| Self::from(&meta))
    }
}

impl From<&Metadata> for Stamp {
    fn from(meta: &Metadata) -> Self {
        Self { inode: meta.ino(), modified: (meta.mtime(), meta.mtime_nsec()), size: meta.len() }
    }
}

/// The manifest files `args` name, in order; a directory without manifests is an error naming it.
pub fn discover(args: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    Ok(discover_stamped(args)?.into_iter().map(|(path, _)| path).collect())
}

/// [`discover`], with each file's stamp read on the way (`None` when it cannot be read): one
/// look at each file, which is what a watch over 100,000 manifests can afford.
pub fn discover_stamped(args: &[PathBuf]) -> Result<Vec<(PathBuf, Option<Stamp>)>, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut files = Vec::new();
    for arg in args {
        let meta = std::fs::metadata(arg);
        if !meta.as_ref().is_ok_and(Metadata::is_dir) {
            files.push((arg.clone(), meta.ok().as_ref().map(Stamp::from)));
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

fn manifests_in(dir: &Path) -> std::io::Result<Vec<(PathBuf, Option<Stamp>)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') || !name.ends_with(".toml") {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap's files are links into its `..data` directory.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => found.push((path, Some(Stamp::from(&meta)))),
            _ => {}
        }
    }
    // By bytes: they share `dir`, so this is name order, without comparing paths by component.
    found.sort_by(|(a, _), (b, _)| a.as_os_str().cmp(b.as_os_str()));
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
