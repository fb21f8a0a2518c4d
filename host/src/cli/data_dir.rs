//! The host's data directory (`--data-dir`): the state database (with `--state sqlite`), the
//! compiled-component cache and the registry cache. One running host owns it at a time, through an exclusive lock on `civic.lock`.

use anyhow::{Context as _, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

/// An open, locked data directory; the lock is released when this is dropped or the process ends.
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock, or says who holds it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path).with_context(|| format!("cannot create the data dir `{}`", path.display()))?;
        let lock_path = path.join("civic.lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .with_context(|| format!("cannot write to the data dir `{}`", path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                bail!(
                    "the data dir `{}` is in use by another civic (pid {}); give each host its own --data-dir",
                    path.display(),
                    holder.trim()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock the data dir `{}`", path.display()));
            }
        }
        lock.set_len(0)?;
        lock.rewind()?;
        write!(lock, "{}", std::process::id())?;
        Ok(Self { path: path.to_path_buf(), _lock: lock })
    }

    /// The key-value database.
    pub fn state_db(&self) -> PathBuf {
        self.path.join("state.sqlite3")
    }

    /// Where compiled components are cached.
    pub fn compile_cache(&self) -> PathBuf {
        self.path.join("cache")
    }

    /// Where what is pulled from registries is kept, by digest.
    pub fn registry_cache(&self) -> PathBuf {
        self.path.join("registry")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_host_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let error = DataDir::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("is in use by another civic"), "{error}");
        assert!(error.contains(&format!("pid {}", std::process::id())), "{error}");
        drop(first);
        DataDir::open(dir.path()).unwrap();
    }
}
