//! Sandbox budgets: how much memory, wall-clock time, concurrency and request body each component
//! gets. A manifest sets them per component (`limits = { memory = "64MiB", timeout = "5s" }`);
//! what it leaves out comes from the host's defaults (`civic run --memory … --timeout …`).
//!
//! Where each is enforced: `memory` by the store's limiter (growth fails inside the guest),
//! `timeout` by the epoch deadline and by a timer around the whole request (so host calls that
//! block are cut off too), `max_concurrency` and `max_body` when a request arrives. The CPU is
//! shared by [`CpuShare`]: every guest yields at each epoch tick, and requests that run long
//! take turns, so they cannot starve short ones.

use bytesize::ByteSize;
use serde::Deserialize;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Trap, UpdateDeadline};

/// A component's budgets, all resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory the component's store may hold, in bytes.
    pub memory: u64,
    /// Wall-clock deadline for one request.
    pub timeout: Duration,
    /// Requests running at once in the component; beyond it, 503.
    pub max_concurrency: u32,
    /// Largest request body, in bytes; beyond it, 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory: 128 << 20, timeout: Duration::from_secs(30), max_concurrency: 100, max_body: 10 << 20 }
    }
}

/// The budgets a manifest sets for one component; unset ones fall back to the host's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// `memory = "64MiB"`.
    pub memory: Option<Size>,
    /// `timeout = "5s"`.
    pub timeout: Option<Timeout>,
    /// `max_concurrency = 100`.
    pub max_concurrency: Option<u32>,
    /// `max_body = "1MiB"`.
    pub max_body: Option<Size>,
}

impl LimitOverrides {
    /// These overrides applied to `defaults`.
    pub fn over(&self, defaults: &Limits) -> Limits {
        Limits {
            memory: self.memory.map_or(defaults.memory, |s| s.0),
            timeout: self.timeout.map_or(defaults.timeout, |t| t.0),
            max_concurrency: self.max_concurrency.unwrap_or(defaults.max_concurrency),
            max_body: self.max_body.map_or(defaults.max_body, |s| s.0),
        }
    }
}

/// How long a request may run before it counts as a long runner and must take turns.
const SHORT_RUN: Duration = Duration::from_millis(10);

/// Long runners take turns for the CPU: only this many run a slice at once, so requests that
/// finish quickly are never queued behind a crowd of slow or looping ones.
static LONG_RUNNER_TURNS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Arc::new(Semaphore::new((cores / 2).max(1)))
});

/// What a guest does at an epoch tick: stop past its deadline; otherwise yield, and once it has
/// run longer than a short request does, give back its turn and wait for the next one.
///
/// A linked call runs under its caller's share (see [`CpuShare::for_callee`]): the caller waits
/// while its callee runs, so the two are one request, holding one turn.
#[derive(Clone)]
pub struct CpuShare {
    started: Instant,
    deadline: Instant,
    turn: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl CpuShare {
    /// The share of a request that started now and is due by `deadline`.
    pub fn new(deadline: Instant) -> Self {
        Self { started: Instant::now(), deadline, turn: Arc::default() }
    }

    /// The share of a callee of this request, due by its own `deadline`. It holds the caller's
    /// turn: with a turn of its own to wait for, a callee could wait forever on its caller.
    pub fn for_callee(&self, deadline: Instant) -> Self {
        Self { deadline, ..self.clone() }
    }

    /// The epoch callback's answer.
    pub fn at_tick(&self) -> wasmtime::Result<UpdateDeadline> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Trap::Interrupt.into());
        }
        // `yield_now` goes to the back of the run queue; a plain self-wake would run again first.
        if now - self.started < SHORT_RUN {
            return Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())));
        }
        // The semaphore is fair: giving the turn back lets every waiting long runner go first.
        drop(self.turn.lock().map(|mut held| held.take()));
        let turn = self.turn.clone();
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                let permit = LONG_RUNNER_TURNS.clone().acquire_owned().await.ok();
                if let Ok(mut held) = turn.lock() {
                    *held = permit;
                }
                tokio::task::yield_now().await;
            }),
        ))
    }
}

/// The most component instances the pool holds unless `--max-instances` says otherwise: plenty
/// for two cores, and each slot only reserves address space until it is used.
const MAX_POOLED_INSTANCES: u64 = 1000;

/// How big the pooling allocator is: a slot for every instance that may be alive at once, each
/// big enough for the largest memory any component may grow to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSize {
    /// Component instances alive at once; one more answers 503.
    pub instances: u32,
    /// Bytes of linear memory a slot holds.
    pub memory: u64,
}

impl PoolSize {
    /// Sized for `cities`: as many instances as all their components may run at once (at most
    /// [`MAX_POOLED_INSTANCES`]), slots as large as the largest memory limit.
    pub fn for_cities(defaults: &Limits, cities: &[crate::manifest::CitySpec]) -> Self {
        let components = || cities.iter().flat_map(|city| &city.components).map(|c| c.limits.over(defaults));
        let concurrency: u64 = components().map(|limits| u64::from(limits.max_concurrency)).sum();
        Self {
            instances: u32::try_from(concurrency.clamp(1, MAX_POOLED_INSTANCES)).unwrap_or(u32::MAX),
            memory: components().map(|limits| limits.memory).fold(defaults.memory, u64::max),
        }
    }
}

/// The host-wide defaults, as `civic run` options.
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

    /// Largest request body, unless the manifest says otherwise.
    #[arg(long = "max-body", env = "CIVIC_MAX_BODY", default_value = "10MiB", value_name = "SIZE")]
    max_body: Size,

    /// Component instances alive at once in the whole host; one more answers 503.
    /// [default: the sum of every component's max-concurrency, at most 1000]
    #[arg(long = "max-instances", env = "CIVIC_MAX_INSTANCES", value_name = "N")]
    max_instances: Option<u32>,
}

impl LimitArgs {
    /// The defaults these options set.
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory.0,
            timeout: self.timeout.0,
            max_concurrency: self.max_concurrency.max(1),
            max_body: self.max_body.0,
        }
    }

    /// The pool for `cities`, as these options size it.
    pub fn pool_size(&self, cities: &[crate::manifest::CitySpec]) -> PoolSize {
        let derived = PoolSize::for_cities(&self.limits(), cities);
        PoolSize { instances: self.max_instances.map_or(derived.instances, |n| n.max(1)), ..derived }
    }
}

/// A byte size written as `"64MiB"`, `"1 MB"` or `"4096"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        ByteSize::from_str(text).map(|size| Self(size.as_u64())).map_err(|_| {
            format!("invalid size `{text}`: expected a number of bytes such as `64MiB`, `512KiB` or `1GB`")
        })
    }
}

impl TryFrom<String> for Size {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// A positive duration written as `"5s"`, `"500ms"` or `"2m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Timeout(pub Duration);

impl FromStr for Timeout {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match humantime::parse_duration(text) {
            Ok(duration) if !duration.is_zero() => Ok(Self(duration)),
            _ => Err(format!("invalid timeout `{text}`: expected a positive duration such as `5s`, `500ms` or `2m`")),
        }
    }
}

impl TryFrom<String> for Timeout {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_timeouts_parse_as_written_in_manifests() {
        assert_eq!("64MiB".parse::<Size>().unwrap(), Size(64 << 20));
        assert_eq!("1 MB".parse::<Size>().unwrap(), Size(1_000_000));
        assert_eq!("4096".parse::<Size>().unwrap(), Size(4096));
        assert!("lots".parse::<Size>().unwrap_err().contains("`lots`"));
        assert_eq!("500ms".parse::<Timeout>().unwrap(), Timeout(Duration::from_millis(500)));
        assert_eq!("2m".parse::<Timeout>().unwrap(), Timeout(Duration::from_secs(120)));
        assert!("0s".parse::<Timeout>().is_err());
        assert!("soon".parse::<Timeout>().is_err());
    }

    /// Runs the future an epoch tick of `share` waits on, as wasmtime would.
    async fn tick(share: &CpuShare) {
        match share.at_tick().unwrap() {
            UpdateDeadline::YieldCustom(_, wait) => wait.await,
            _ => panic!("a tick before the deadline yields"),
        }
    }

    #[tokio::test]
    async fn a_callee_runs_on_its_callers_turn() {
        let far = Instant::now() + Duration::from_secs(60);
        // A request that has run long enough to take turns, and holds one.
        let caller = CpuShare { started: Instant::now() - 2 * SHORT_RUN, deadline: far, turn: Arc::default() };
        tick(&caller).await;
        let others = LONG_RUNNER_TURNS.available_permits() as u32;
        let _all_taken = LONG_RUNNER_TURNS.clone().acquire_many_owned(others).await.unwrap();
        // Its callee is part of the same request: the same start, the same turn.
        let callee = caller.for_callee(far);
        assert!(Arc::ptr_eq(&caller.turn, &callee.turn) && callee.started == caller.started);
        let turned = tokio::time::timeout(Duration::from_secs(2), tick(&callee)).await;
        assert!(turned.is_ok(), "the callee waited for a turn its own caller holds");
    }

    #[test]
    fn overrides_replace_only_what_they_set() {
        let defaults = Limits::default();
        let overrides = LimitOverrides { timeout: Some(Timeout(Duration::from_secs(5))), ..Default::default() };
        let limits = overrides.over(&defaults);
        assert_eq!(limits.timeout, Duration::from_secs(5));
        assert_eq!(limits.memory, defaults.memory);
    }
}
