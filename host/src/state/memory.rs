//! A backend that keeps everything in memory and forgets it on exit: for `civic check`, which
//! runs no guest, and for tests of the layers above the store.

use super::{Backend, Namespace, StoreError, Write, add_to_counter, parse_counter};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Keys of every namespace, in one ordered map.
#[derive(Default)]
pub struct MemoryBackend {
    entries: Mutex<BTreeMap<(Namespace, String), Vec<u8>>>,
}

impl MemoryBackend {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Namespace, String), Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-written: every change is one call.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    async fn get_many(&self, ns: &Namespace, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let entries = self.entries();
        Ok(keys.iter().map(|key| entries.get(&(ns.clone(), key.clone())).cloned()).collect())
    }

    async fn write(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut entries = self.entries();
        for write in writes {
            match write {
                Write::Set(key, value) => entries.insert((ns.clone(), key), value),
                Write::Delete(key) => entries.remove(&(ns.clone(), key)),
            };
        }
        Ok(())
    }

    async fn increment(&self, ns: &Namespace, key: &str, delta: u64) -> Result<u64, StoreError> {
        let mut entries = self.entries();
        let slot = (ns.clone(), key.to_owned());
        let current = entries.get(&slot).map(|v| parse_counter(v)).transpose()?.unwrap_or(0);
        let sum = add_to_counter(current, delta)?;
        entries.insert(slot, sum.to_string().into_bytes());
        Ok(sum)
    }

    async fn list_keys(&self, ns: &Namespace, offset: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        let entries = self.entries();
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let keys = entries.keys().filter(|(n, _)| n == ns).map(|(_, key)| key.clone());
        Ok(keys.skip(offset).take(limit).collect())
    }
}
