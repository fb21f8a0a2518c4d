//! Sandbox budgets: how much memory, wall-clock time, concurrency and request body each component
//! gets. A manifest sets them per component (`limits = { memory = "64MiB", timeout = "5s" }`);
//! what it leaves out comes from the host's defaults (`civic run --memory … --timeout …`).
//!
//! Where each is enforced: `memory` by the store's limiter (growth fails inside the guest),
//! `timeout` by the epoch deadline and by a timer around the whole request (so host calls that
//! block are cut off too), `max_body` when a request arrives, `max_concurrency` when its
//! instance starts: a request that finds every place taken (or the pool full) waits in its
//! component's FIFO queue, for at most `queue` and behind at most `queue_length` others, then
//! gets 503 with `Retry-After`; a linked call never waits. The CPU is shared by [`CpuShare`];
//! the pooling allocator is sized by [`PoolSize`].

mod cpu;
mod pool;

pub(crate) use cpu::{CpuShare, CpuTurns};
pub use pool::{MEMORY_GUARD, MEMORY_RESERVATION, PoolSize, Shape};

use bytesize::ByteSize;
use serde::Deserialize;
use std::str::FromStr;
use std::time::Duration;

/// A component's budgets, all resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory the component's store may hold, in bytes.
    pub memory: u64,
    /// Wall-clock deadline for one request.
    pub timeout: Duration,
    /// Requests running at once in the component; beyond it, they queue.
    pub max_concurrency: u32,
    /// Largest request body, in bytes; beyond it, 413.
    pub max_body: u64,
    /// Longest a request waits for a place before it gets 503; zero: it does not wait.
    pub queue: Duration,
    /// Most requests waiting at once; one more gets 503 at once.
    pub queue_length: u32,
}

/// How many requests may wait per place, unless the manifest says otherwise.
const QUEUE_PER_PLACE: u32 = 8;

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 128 << 20,
            timeout: Duration::from_secs(30),
            max_concurrency: 100,
            max_body: 10 << 20,
            queue: Duration::from_millis(100),
            queue_length: 100 * QUEUE_PER_PLACE,
        }
    }
}

/// The budgets a manifest sets for one component; unset ones fall back to the host's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LimitOverrides {
    pub memory: Option<Size>,
    pub timeout: Option<Timeout>,
    pub max_concurrency: Option<u32>,
    pub max_body: Option<Size>,
    pub queue: Option<Wait>,
    pub queue_length: Option<u32>,
}

impl LimitOverrides {
    /// These overrides applied to `defaults`; the queue's length follows the concurrency
    /// ([`QUEUE_PER_PLACE`] per place) unless it is set.
    pub fn over(&self, defaults: &Limits) -> Limits {
        let max_concurrency = self.max_concurrency.unwrap_or(defaults.max_concurrency);
        Limits {
            memory: self.memory.map_or(defaults.memory, |s| s.0),
            timeout: self.timeout.map_or(defaults.timeout, |t| t.0),
            max_concurrency,
            max_body: self.max_body.map_or(defaults.max_body, |s| s.0),
            queue: self.queue.map_or(defaults.queue, |w| w.0),
            queue_length: self.queue_length.unwrap_or(max_concurrency.saturating_mul(QUEUE_PER_PLACE)),
        }
    }
}

/// The longest a request waits, written as `"100ms"` or `"1s"`; `"0s"` is no wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Wait(pub Duration);

/// The longest wait a queue may have: a request waiting longer is better told to come back.
const MAX_WAIT: Duration = Duration::from_secs(60);

impl FromStr for Wait {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match humantime::parse_duration(text) {
            Ok(duration) if duration <= MAX_WAIT => Ok(Self(duration)),
            Ok(_) => Err(format!(
                "invalid queue wait `{text}`: a request waits at most {}",
                humantime::format_duration(MAX_WAIT)
            )),
            Err(_) => {
                Err(format!("invalid wait `{text}`: expected a duration such as `100ms` or `1s`, or `0s` for none"))
            }
        }
    }
}

impl TryFrom<String> for Wait {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
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
        assert_eq!("0s".parse::<Wait>().unwrap(), Wait(Duration::ZERO));
        assert_eq!("250ms".parse::<Wait>().unwrap(), Wait(Duration::from_millis(250)));
        assert!("2h".parse::<Wait>().unwrap_err().contains("at most 1m"));
        assert!("later".parse::<Wait>().is_err());
    }

    #[test]
    fn overrides_replace_only_what_they_set() {
        let defaults = Limits::default();
        let overrides = LimitOverrides { timeout: Some(Timeout(Duration::from_secs(5))), ..Default::default() };
        let limits = overrides.over(&defaults);
        assert_eq!(limits.timeout, Duration::from_secs(5));
        assert_eq!(limits.memory, defaults.memory);
        let fewer = LimitOverrides { max_concurrency: Some(8), ..Default::default() }.over(&defaults);
        assert_eq!((fewer.queue, fewer.queue_length), (defaults.queue, 64));
        let set = LimitOverrides { max_concurrency: Some(8), queue_length: Some(3), ..Default::default() };
        assert_eq!(set.over(&defaults).queue_length, 3);
    }
}
