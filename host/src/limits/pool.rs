//! How big the pooling allocator is: a slot for every instance that may be alive at once.

use super::Limits;

/// The most component instances the pool holds unless the operator says otherwise: plenty for
/// two cores, and each slot only reserves address space until it is used.
const MAX_POOLED_INSTANCES: u64 = 1000;

/// Bytes at the start of a slot's linear memory that stay resident between requests, reset by
/// copying the initial image back instead of being returned to the kernel and faulted in again.
/// Covers the stack, data and first heap pages of a component built with the SDK's small stack
/// (BENCHMARKS.md §2 measures the choice).
pub const KEEP_RESIDENT: u64 = 1 << 20;

/// A slot for every instance that may be alive at once, each big enough for the largest memory
/// any component may grow to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSize {
    /// Component instances alive at once; one more answers 503.
    pub instances: u32,
    /// Bytes of linear memory a slot holds.
    pub memory: u64,
    /// Bytes of a slot's memory kept resident and reset by copy when an instance ends.
    pub keep_resident: u64,
}

impl PoolSize {
    /// Sized for components with these `limits`: as many instances as they may run at once (at
    /// most [`MAX_POOLED_INSTANCES`]), slots as large as the largest memory, and never smaller
    /// than `defaults`' memory (a component swapped in later gets the default).
    pub fn fitting(defaults: &Limits, limits: &[Limits]) -> Self {
        let concurrency: u64 = limits.iter().map(|l| u64::from(l.max_concurrency)).sum();
        Self {
            instances: u32::try_from(concurrency.clamp(1, MAX_POOLED_INSTANCES)).unwrap_or(u32::MAX),
            memory: limits.iter().map(|l| l.memory).fold(defaults.memory, u64::max),
            keep_resident: KEEP_RESIDENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_every_components_concurrency_and_its_largest_memory() {
        let defaults = Limits::default();
        let small = Limits { max_concurrency: 3, memory: 1 << 20, ..defaults };
        let big = Limits { max_concurrency: 5, memory: 1 << 30, ..defaults };
        assert_eq!(
            PoolSize::fitting(&defaults, &[small, big]),
            PoolSize { instances: 8, memory: 1 << 30, keep_resident: KEEP_RESIDENT }
        );
        assert_eq!(PoolSize::fitting(&defaults, &[]).instances, 1);
        let many = Limits { max_concurrency: 600, ..defaults };
        assert_eq!(PoolSize::fitting(&defaults, &[many, many]).instances, 1000);
    }
}
