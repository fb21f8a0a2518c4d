//! Options that several commands share: the host's defaults and limits (`run`, `up`), the
//! experimental parts of wasmtime it opts into (`run`, `up`, `check`), and how registries are
//! reached.

use crate::limits::{LimitOverrides, Limits, PoolSize, Shape, Size, Timeout, Wait};
use crate::registry::{self, Credentials, Registry};
use crate::state::KvLimits;
use anyhow::bail;

/// The parts of wasmtime that its authors call experimental, each opted into by name.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct ExperimentalArgs {
    /// Also serve components of WASI 0.3 (exporting `wasi:http/handler@0.3.0`, built on the
    /// component model's async features) beside those of 0.2. Rests on wasmtime's experimental
    /// and incomplete implementation of that release.
    #[arg(long = "experimental-wasip3", env = "CIVIC_EXPERIMENTAL_WASIP3")]
    pub wasip3: bool,
}

/// The host-wide defaults for what manifests leave out, and the size of the instance pool.
#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// Memory a component may grow to, unless its manifest entry says otherwise.
    #[arg(long = "memory", env = "CIVIC_MEMORY", default_value = "128MiB", value_name = "SIZE")]
    memory: Size,

    /// Wall-clock deadline of a request, unless the manifest says otherwise.
    #[arg(long = "timeout", env = "CIVIC_TIMEOUT", default_value = "30s", value_name = "DURATION")]
    timeout: Timeout,

    /// Requests running at once per component, unless the manifest says otherwise.
    #[arg(long = "max-concurrency", env = "CIVIC_MAX_CONCURRENCY", default_value_t = 100, value_name = "N")]
    max_concurrency: u32,

    /// Longest a request waits for a place in its component (or in the pool) before it gets 503,
    /// unless the manifest says otherwise; `0s` answers 503 at once.
    #[arg(long = "queue", env = "CIVIC_QUEUE", default_value = "100ms", value_name = "DURATION")]
    queue: Wait,

    /// Largest request body, unless the manifest says otherwise.
    #[arg(long = "max-body", env = "CIVIC_MAX_BODY", default_value = "10MiB", value_name = "SIZE")]
    max_body: Size,

    /// Component instances alive at once in the whole host; one more answers 503.
    /// [default: the sum of every component's max-concurrency, at most 1000]
    #[arg(long = "max-instances", env = "CIVIC_MAX_INSTANCES", value_name = "N")]
    max_instances: Option<u32>,

    /// Memory of each instance slot kept resident between requests and reset by copy, rather
    /// than handed back to the kernel and faulted in again; costs up to SIZE of RAM per slot
    /// used. [default: 1MiB]
    #[arg(long = "keep-resident", env = "CIVIC_KEEP_RESIDENT", value_name = "SIZE")]
    keep_resident: Option<Size>,
}

impl LimitArgs {
    /// The defaults these options set, once they are known to serve something.
    pub fn limits(&self) -> anyhow::Result<Limits> {
        at_least_one("--max-concurrency", u64::from(self.max_concurrency))?;
        at_least_one("--memory", self.memory.0)?;
        if let Some(instances) = self.max_instances {
            at_least_one("--max-instances", u64::from(instances))?;
        }
        let overrides = LimitOverrides {
            memory: Some(self.memory),
            timeout: Some(self.timeout),
            max_concurrency: Some(self.max_concurrency),
            max_body: Some(self.max_body),
            queue: Some(self.queue),
            queue_length: None,
        };
        Ok(overrides.over(&Limits::default()))
    }

    /// The pool for `components` (their limits and shapes), unless `--max-instances` says otherwise.
    pub fn pool_size(&self, defaults: &Limits, components: impl IntoIterator<Item = (Limits, Shape)>) -> PoolSize {
        let fitting = PoolSize::fitting(defaults, components);
        PoolSize {
            instances: self.max_instances.unwrap_or(fitting.instances),
            keep_resident: self.keep_resident.map_or(fitting.keep_resident, |size| size.0),
            ..fitting
        }
    }
}

/// Limits on what components store in their key-value buckets.
#[derive(clap::Args, Clone, Debug)]
pub struct KvArgs {
    /// Longest key a component may use.
    #[arg(long, env = "CIVIC_KV_MAX_KEY", default_value = "1KiB", value_name = "SIZE")]
    kv_max_key: Size,

    /// Largest value a component may store.
    #[arg(long, env = "CIVIC_KV_MAX_VALUE", default_value = "1MiB", value_name = "SIZE")]
    kv_max_value: Size,

    /// Most keys in one `list-keys` page or one batch call.
    #[arg(long, env = "CIVIC_KV_MAX_KEYS", default_value_t = 1000, value_name = "N")]
    kv_max_keys: usize,
}

impl KvArgs {
    pub fn limits(&self) -> anyhow::Result<KvLimits> {
        at_least_one("--kv-max-key", self.kv_max_key.0)?;
        at_least_one("--kv-max-keys", self.kv_max_keys as u64)?;
        let bytes = |size: Size| usize::try_from(size.0).unwrap_or(usize::MAX);
        Ok(KvLimits {
            max_key_bytes: bytes(self.kv_max_key),
            max_value_bytes: bytes(self.kv_max_value),
            max_keys_per_call: self.kv_max_keys,
        })
    }
}

/// Refuses a limit of zero, with which the host could serve nothing.
fn at_least_one(option: &str, value: u64) -> anyhow::Result<()> {
    if value == 0 {
        bail!("`{option}` must be at least 1: with 0 the host could serve nothing");
    }
    Ok(())
}

/// How registries are reached.
#[derive(clap::Args, Clone, Debug)]
pub struct RegistryArgs {
    /// A registry (`HOST[:PORT]`) to reach over plain HTTP although it is not on this machine
    /// (registries on this machine always may be); repeat for several.
    #[arg(long = "insecure-registry", env = "CIVIC_INSECURE_REGISTRIES", value_delimiter = ',', value_name = "HOST")]
    insecure: Vec<String>,

    /// The largest component pulled from a registry, as its manifest declares it and as it is
    /// sent.
    #[arg(
        long = "max-component-size",
        env = "CIVIC_MAX_COMPONENT_SIZE",
        default_value = "256MiB",
        value_name = "SIZE"
    )]
    max_component: Size,

    /// How long one pull from a registry may take, from its first request to its last byte.
    #[arg(long = "registry-timeout", env = "CIVIC_REGISTRY_TIMEOUT", default_value = "60s", value_name = "DURATION")]
    registry_timeout: Timeout,
}

impl RegistryArgs {
    /// The registries, with credentials for `command_registry` from the environment, keeping
    /// what is pulled under `cache_dir` when there is one.
    pub fn registry(&self, command_registry: Option<&str>, cache_dir: Option<&std::path::Path>) -> Registry {
        let insecure = self.insecure.iter().map(|host| host.to_ascii_lowercase()).collect();
        let limits = registry::Limits { max_component: self.max_component.0, timeout: self.registry_timeout.0 };
        Registry::new(Credentials::load(command_registry), insecure, cache_dir, limits)
    }
}
