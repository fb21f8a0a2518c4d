//! Files written whole or not at all: to a temporary name beside the file, then renamed over it,
//! so a reader (or a host killed midway) never sees half a file.

use std::path::Path;

/// Writes `bytes` to `path`, creating its directory if needed.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}
