//! The host side of `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`): a guest opens only
//! the buckets its manifest entry lists, every key and value is checked against the limits, and
//! every failure reaches the guest as an error value, never as a trap.

use super::{Namespace, State, StoreError, Write};
use crate::manifest::{BucketName, CityId, ComponentName};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: { "wasi:keyvalue/store.bucket": super::Bucket },
        trappable_error_type: { "wasi:keyvalue/store.error" => super::KvError },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// What a guest may store, whatever its buckets.
#[derive(Clone, Debug)]
pub struct KvLimits {
    /// The longest key, in bytes.
    pub max_key_bytes: usize,
    /// The largest value, in bytes.
    pub max_value_bytes: usize,
    /// The most keys in one `list-keys` page or one batch call.
    pub max_keys_per_call: usize,
}

impl Default for KvLimits {
    fn default() -> Self {
        Self { max_key_bytes: 1024, max_value_bytes: 1024 * 1024, max_keys_per_call: 1000 }
    }
}

/// The buckets a component of a city may open, and the store they live in.
#[derive(Clone)]
pub struct Grant {
    city: CityId,
    component: ComponentName,
    buckets: Vec<BucketName>,
    state: State,
}

impl Grant {
    pub fn new(city: &CityId, component: &ComponentName, buckets: &[BucketName], state: &State) -> Self {
        Self { city: city.clone(), component: component.clone(), buckets: buckets.to_vec(), state: state.clone() }
    }
}

/// Grants compare by what they allow: every grant of a host shares its one store.
impl PartialEq for Grant {
    fn eq(&self, other: &Self) -> bool {
        (&self.city, &self.component, &self.buckets) == (&other.city, &other.component, &other.buckets)
    }
}

/// An open bucket: a guest resource naming its namespace.
pub struct Bucket {
    ns: Namespace,
}

/// Why a key-value call failed; each becomes the WIT `error` the guest sees.
pub enum KvError {
    /// The bucket is not in the component's `keyvalue` list.
    AccessDenied,
    /// Anything else, with a message for the guest.
    Other(String),
}

impl From<ResourceTableError> for KvError {
    fn from(e: ResourceTableError) -> Self {
        Self::Other(e.to_string())
    }
}

/// How an error value begins when the store cannot be reached now; the SDK answers it with 503
/// and `Retry-After` (wasi:keyvalue has no error case of its own for it).
pub const UNAVAILABLE: &str = "unavailable: ";

/// A store that does not answer may not take a request's whole deadline: the guest still needs
/// the time to answer that it cannot.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Waits for `call` until shortly before `deadline`, the request's.
async fn within<T>(deadline: Instant, call: impl Future<Output = Result<T, StoreError>>) -> Result<T, KvError> {
    let by = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline);
    match tokio::time::timeout_at(by.into(), call).await {
        Ok(outcome) => Ok(outcome?),
        Err(_) => Err(StoreError::Unavailable("it did not answer before the request's deadline".into()).into()),
    }
}

impl From<StoreError> for KvError {
    fn from(e: StoreError) -> Self {
        match e {
            // The store logs once that it cannot be reached, not once per call.
            StoreError::Unavailable(message) => Self::Other(format!("{UNAVAILABLE}{message}")),
            StoreError::Failed(message) => {
                tracing::error!("{message}");
                Self::Other(message)
            }
        }
    }
}

/// What the key-value interfaces work on: an instance's grant, its resource table, and the
/// deadline of the request it serves.
pub struct KeyValueCtx<'a> {
    pub grant: &'a Grant,
    pub table: &'a mut ResourceTable,
    pub deadline: Instant,
}

/// How the store's data reaches its key-value context.
pub trait KeyValueView {
    fn keyvalue(&mut self) -> KeyValueCtx<'_>;
}

impl<'a> KeyValueCtx<'a> {
    fn namespace(&self, bucket: &Resource<Bucket>) -> Result<Namespace, KvError> {
        Ok(self.table.get(bucket)?.ns.clone())
    }

    fn backend(&self) -> &'a dyn super::Backend {
        &*self.grant.state.backend
    }

    fn limits(&self) -> &KvLimits {
        &self.grant.state.limits
    }

    fn check_key(&self, key: &str) -> Result<(), KvError> {
        let limit = self.limits().max_key_bytes;
        if key.len() > limit {
            return Err(KvError::Other(format!("the key is {} bytes; the limit is {limit}", key.len())));
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        let limit = self.limits().max_value_bytes;
        if value.len() > limit {
            return Err(KvError::Other(format!("the value is {} bytes; the limit is {limit}", value.len())));
        }
        Ok(())
    }

    fn check_count(&self, count: usize) -> Result<(), KvError> {
        let limit = self.limits().max_keys_per_call;
        if count > limit {
            return Err(KvError::Other(format!("the call names {count} keys; the limit is {limit}")));
        }
        Ok(())
    }

    async fn write(&mut self, bucket: &Resource<Bucket>, writes: Vec<Write>) -> Result<(), KvError> {
        let ns = self.namespace(bucket)?;
        within(self.deadline, self.backend().write(&ns, writes)).await
    }
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueCtx<'a>;
}

/// Adds `wasi:keyvalue/{store, atomics, batch}` to the linker.
pub fn add_to_linker<T: KeyValueView + Send + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasKeyValue>(linker, T::keyvalue)?;
    atomics::add_to_linker::<_, HasKeyValue>(linker, T::keyvalue)?;
    batch::add_to_linker::<_, HasKeyValue>(linker, T::keyvalue)
}

impl store::Host for KeyValueCtx<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        if !self.grant.buckets.iter().any(|bucket| bucket.as_str() == identifier) {
            tracing::warn!(bucket = %identifier, "bucket access denied: not in the component's `keyvalue` list");
            return Err(KvError::AccessDenied);
        }
        let grant = self.grant;
        let ns = Namespace { city: grant.city.clone(), component: grant.component.clone(), bucket: identifier };
        Ok(self.table.push(Bucket { ns })?)
    }

    fn convert_error(&mut self, error: KvError) -> wasmtime::Result<store::Error> {
        Ok(match error {
            KvError::AccessDenied => store::Error::AccessDenied,
            KvError::Other(message) => store::Error::Other(message),
        })
    }
}

impl store::HostBucket for KeyValueCtx<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(&key)?;
        let ns = self.namespace(&bucket)?;
        let mut values = within(self.deadline, self.backend().get_many(&ns, std::slice::from_ref(&key))).await?;
        Ok(values.pop().flatten())
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.check_key(&key)?;
        self.check_value(&value)?;
        self.write(&bucket, vec![Write::Set(key, value)]).await
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KvError> {
        self.check_key(&key)?;
        self.write(&bucket, vec![Write::Delete(key)]).await
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        Ok(self.get(bucket, key).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        let ns = self.namespace(&bucket)?;
        let page = self.limits().max_keys_per_call;
        let offset = cursor.unwrap_or(0);
        // One key more than a page tells whether another page follows.
        let mut keys = within(self.deadline, self.backend().list_keys(&ns, offset, page + 1)).await?;
        let cursor = (keys.len() > page).then(|| offset + page as u64);
        keys.truncate(page);
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueCtx<'_> {
    async fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: u64) -> Result<u64, KvError> {
        self.check_key(&key)?;
        let ns = self.namespace(&bucket)?;
        within(self.deadline, self.backend().increment(&ns, &key, delta)).await
    }
}

impl batch::Host for KeyValueCtx<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        self.check_count(keys.len())?;
        keys.iter().try_for_each(|key| self.check_key(key))?;
        let ns = self.namespace(&bucket)?;
        let values = within(self.deadline, self.backend().get_many(&ns, &keys)).await?;
        Ok(keys.into_iter().zip(values).map(|(key, value)| value.map(|value| (key, value))).collect())
    }

    async fn set_many(&mut self, bucket: Resource<Bucket>, entries: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        self.check_count(entries.len())?;
        for (key, value) in &entries {
            self.check_key(key)?;
            self.check_value(value)?;
        }
        self.write(&bucket, entries.into_iter().map(|(key, value)| Write::Set(key, value)).collect()).await
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        self.check_count(keys.len())?;
        keys.iter().try_for_each(|key| self.check_key(key))?;
        self.write(&bucket, keys.into_iter().map(Write::Delete).collect()).await
    }
}
